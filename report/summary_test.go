package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var start = time.Date(2026, 11, 28, 2, 0, 0, 0, time.UTC)

// summaryResults is a small run: 10 s, 6 rows of which 4 were sent.
func summaryResults() []Result {
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	return []Result{
		{Line: 2, Status: StatusOK, Code: "0", Message: "Success", Attempts: 1, FinishedAt: at(1)},
		{Line: 3, Status: StatusFailed, Code: "29008", Message: "An OTP token already registered to this user", Attempts: 1, FinishedAt: at(2)},
		{Line: 4, Status: StatusOK, Code: "0", Message: "Success!", Attempts: 2, FinishedAt: at(7)},
		{Line: 5, Status: StatusFailed, Code: "29008", Message: "something else", Attempts: 1, FinishedAt: at(3)},
		{Line: 6, Status: StatusInvalid, Message: "empty username"},
		{Line: 7, Status: StatusSkipped, Message: "duplicate of line 2"},
		{Line: 8, Status: StatusError, Message: "connection refused", Attempts: 0},
	}
}

func newTestSummary() *Summary {
	s := NewSummary(start)
	for _, r := range summaryResults() {
		s.Add(r)
	}
	s.Input = "tokens.csv"
	s.InputSHA256 = "abc123"
	s.ResultPath = "tokens.result.csv"
	s.ExitCode = 1
	s.Finish(start.Add(10 * time.Second))
	return s
}

func TestSummaryCounts(t *testing.T) {
	s := newTestSummary()
	if got, want := s.Rows(), 7; got != want {
		t.Errorf("Rows() = %d, want %d", got, want)
	}
	if got, want := s.Sent(), 4; got != want {
		t.Errorf("Sent() = %d, want %d", got, want)
	}
	for st, want := range map[Status]int{StatusOK: 2, StatusFailed: 2, StatusInvalid: 1, StatusSkipped: 1, StatusError: 1, StatusValid: 0} {
		if got := s.Count(st); got != want {
			t.Errorf("Count(%s) = %d, want %d", st, got, want)
		}
	}
	wantCodes := []CodeCount{
		{Code: "0", Count: 2, Message: "Success"},
		{Code: "29008", Count: 2, Message: "An OTP token already registered to this user"},
	}
	if got := s.Codes(); !reflect.DeepEqual(got, wantCodes) {
		t.Errorf("Codes() = %+v, want %+v", got, wantCodes)
	}
	if got, want := s.Elapsed(), 10*time.Second; got != want {
		t.Errorf("Elapsed() = %v, want %v", got, want)
	}
	if got, want := s.Rate(), 0.4; got != want {
		t.Errorf("Rate() = %v, want %v", got, want)
	}
	if got, want := s.LastOK(), start.Add(7*time.Second); !got.Equal(want) {
		t.Errorf("LastOK() = %v, want %v", got, want)
	}
}

func TestSummaryUnfinished(t *testing.T) {
	s := NewSummary(start)
	s.Add(Result{Status: StatusOK, Attempts: 1})
	if s.Elapsed() != 0 || s.Rate() != 0 || !s.LastOK().IsZero() {
		t.Errorf("before Finish: Elapsed %v, Rate %v, LastOK %v; want zeros", s.Elapsed(), s.Rate(), s.LastOK())
	}
	end := start.Add(time.Second)
	s.Finish(end)
	if got := s.LastOK(); !got.Equal(end) {
		t.Errorf("LastOK() of an ok row without FinishedAt = %v, want the end %v", got, end)
	}
}

func TestSummaryJSON(t *testing.T) {
	s := newTestSummary()
	s.Aborted = "the first 20 answered rows all failed with code 10002"
	b, err := s.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("JSON() is not JSON: %v\n%s", err, b)
	}
	want := map[string]any{
		"input":           "tokens.csv",
		"input_sha256":    "abc123",
		"result":          "tokens.result.csv",
		"started_at":      "2026-11-28T02:00:00.000Z",
		"finished_at":     "2026-11-28T02:00:10.000Z",
		"elapsed_seconds": 10.0,
		"rows":            7.0,
		"sent":            4.0,
		"by_status":       map[string]any{"ok": 2.0, "failed": 2.0, "error": 1.0, "invalid": 1.0, "skipped": 1.0},
		"by_code": []any{
			map[string]any{"code": "0", "count": 2.0, "message": "Success"},
			map[string]any{"code": "29008", "count": 2.0, "message": "An OTP token already registered to this user"},
		},
		"rate_per_second": 0.4,
		"exit_code":       1.0,
		"interrupted":     false,
		"aborted":         "the first 20 answered rows all failed with code 10002",
		"limited":         false,
		"remaining":       0.0,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON() =\n%s\nwant\n%v", b, want)
	}
	if !bytes.HasSuffix(b, []byte("}\n")) {
		t.Errorf("JSON() does not end with a newline")
	}
}

func TestSummaryJSONEmpty(t *testing.T) {
	b, err := NewSummary(start).JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"by_code": []`, `"finished_at": ""`, `"ok": 0`, `"aborted": ""`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("JSON() of an empty summary lacks %s:\n%s", want, b)
		}
	}
}

func TestSummaryWriteText(t *testing.T) {
	s := newTestSummary()
	s.Interrupted = true
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, want := range []string{
		"rows          7\n",
		"  ok          2\n",
		"  failed      2\n",
		"  code 29008  2      An OTP token already registered to this user\n",
		"elapsed       10s\n",
		"rate          0.4 rows/s (4 rows sent)\n",
		"input sha256  abc123\n",
		"interrupted   yes\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("WriteText wrote\n%s\nwant it to contain %q", got, want)
		}
	}
}

func TestSummaryWriteTextControlChars(t *testing.T) {
	s := NewSummary(start)
	s.Add(Result{Status: StatusFailed, Code: "1\t2", Message: "bad\x1b[2J\r\nserver", Attempts: 1})
	s.Finish(start.Add(time.Second))
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "  code 1 2  1      bad\\u001b[2J  server\n"; !strings.Contains(got, want) {
		t.Errorf("WriteText wrote\n%q\nwant it to contain %q", got, want)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	for _, data := range []string{"first\n", "second\n"} {
		if err := WriteFileAtomic(path, []byte(data), 0o640); err != nil {
			t.Fatalf("WriteFileAtomic: %v", err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != data {
			t.Errorf("file holds %q, %v; want %q", got, err, data)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// Windows has no mode bits (Go reports 0666); TestWriteFileAtomicPrivateOnWindows
	// checks the access-control list there.
	if got, want := fi.Mode().Perm(), os.FileMode(0o640); got != want && runtime.GOOS != "windows" {
		t.Errorf("mode = %v, want %v", got, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporary left)", len(entries))
	}
	if err := WriteFileAtomic(filepath.Join(dir, "missing", "x"), nil, 0o600); err == nil {
		t.Errorf("WriteFileAtomic into a missing directory = nil, want an error")
	}
}

// TestSummarySanitisesServerText: whatever server text reaches a Summary
// (a code read back from an old result file, the breaker's reason quoting a
// message) is printed without a raw control or bidirectional character, in
// the text for stderr and in the --summary JSON.
func TestSummarySanitisesServerText(t *testing.T) {
	const hostile = "\x1b]0;owned\x07\x1b[2J\u202eevil\u2066\u009b"
	s := NewSummary(start)
	s.Add(Result{Status: StatusFailed, Code: "1" + hostile, Message: "m" + hostile, Attempts: 1})
	s.Aborted = "the first 20 answered rows all failed with code 10002 (" + hostile + ")"
	s.Finish(start.Add(time.Second))
	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	data, err := s.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var back SummaryJSON
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for what, out := range map[string]string{
		"WriteText": text.String(), "JSON": string(data), "JSON aborted": back.Aborted,
		"JSON code": back.ByCode[0].Code, "JSON message": back.ByCode[0].Message,
	} {
		if strings.ContainsAny(out, "\x1b\x07\u202e\u2066\u009b") {
			t.Errorf("%s = %q, holds a raw control or bidirectional character", what, out)
		}
	}
	if !strings.Contains(text.String(), `all failed with code 10002 (\u001b]0;owned\u0007\u001b[2J\u202eevil`) {
		t.Errorf("WriteText wrote\n%s\nwant the aborted line with the sequence shown escaped", text.String())
	}
}

// TestSummaryCodesBounded: a server that answers a new code for every row
// cannot grow the summary with the input.
func TestSummaryCodesBounded(t *testing.T) {
	s := NewSummary(start)
	const extra = 50
	for i := range MaxCodes + extra {
		s.Add(Result{Status: StatusFailed, Code: fmt.Sprint(90000 + i), Message: strings.Repeat("x", 10000), Attempts: 1})
	}
	codes := s.Codes()
	if len(codes) != MaxCodes+1 {
		t.Fatalf("Codes() has %d entries, want %d (MaxCodes and %q)", len(codes), MaxCodes+1, OtherCode)
	}
	if codes[0].Code != OtherCode || codes[0].Count != extra {
		t.Errorf("Codes()[0] = %+v, want %q counting %d rows", codes[0], OtherCode, extra)
	}
	for _, c := range codes {
		if len(c.Message) > maxCodeMessage {
			t.Errorf("code %s keeps a message of %d bytes, want at most %d", c.Code, len(c.Message), maxCodeMessage)
		}
	}
}

// A canary's summary says it stopped at --limit and how many rows remain,
// in the JSON and on stderr, with the run's version and parameters.
func TestSummaryLimited(t *testing.T) {
	s := newTestSummary()
	s.Limited, s.Remaining = true, 42
	s.Version, s.Parameters = "v9", map[string]string{"limit": "20"}
	b, err := s.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got SummaryJSON
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Limited || got.Remaining != 42 || got.Version != "v9" || got.Parameters["limit"] != "20" {
		t.Errorf("JSON() = %s, want limited, remaining 42, version v9, parameters.limit 20", b)
	}
	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`remaining +42 rows not sent yet`).MatchString(text.String()) || !strings.Contains(text.String(), "stopped at --limit") {
		t.Errorf("WriteText() does not say the run stopped at --limit with 42 rows left:\n%s", text.String())
	}
}
