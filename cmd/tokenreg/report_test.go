package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// canaryInput has 12 rows for 12 users: 10 SMS numbers that succeed, one
// invalid row (line 4) and one phone number in use (line 9, 29004).
func canaryInput() (string, clienttest.State) {
	var b strings.Builder
	st := clienttest.State{PhonesInUse: []string{"+60100000099"}}
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range 12 {
		user := fmt.Sprintf("user%02d", i)
		st.Users = append(st.Users, user)
		switch i {
		case 2:
			fmt.Fprintf(&b, "%s,12,SMS\n", user)
		case 7:
			fmt.Fprintf(&b, "%s,+60100000099,SMS\n", user)
		default:
			fmt.Fprintf(&b, "%s,+601000001%02d,SMS\n", user, i)
		}
	}
	return b.String(), st
}

// A canary: --limit 5 sends 5 rows and exits 4 with the rows left in the
// summary; --resume sends the rest; every line ends with one row and no
// registration is sent twice.
func TestCanaryLimitThenResume(t *testing.T) {
	text, st := canaryInput()
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", text)
	out := filepath.Join(dir, "in.result.csv")
	sumFile := filepath.Join(dir, "canary.json")
	c := cli{env: demoEnv(s.URL)}

	code, _, stderr := c.run(t, context.Background(), "", "run", in, "--rate", "0", "--limit", "5", "--summary", sumFile)
	if code != exitLimit {
		t.Fatalf("canary exit = %d, want %d; stderr:\n%s", code, exitLimit, stderr)
	}
	if n := s.Stats().Requests; n != 5 {
		t.Errorf("canary sent %d requests, want 5", n)
	}
	got := readResults(t, out)
	// Lines 2..7: five rows sent and the invalid line 4 met on the way.
	if len(got) != 6 {
		t.Errorf("canary result has %d rows, want 6 (5 sent + 1 invalid)", len(got))
	}
	var sum report.SummaryJSON
	if data, err := os.ReadFile(sumFile); err != nil || json.Unmarshal(data, &sum) != nil {
		t.Fatalf("summary: %v", err)
	}
	if !sum.Limited || sum.Remaining != 6 || sum.ExitCode != exitLimit || sum.Parameters["limit"] != "5" {
		t.Errorf("summary: limited %v, remaining %d, exit %d, limit %q; want true, 6, %d, 5", sum.Limited, sum.Remaining, sum.ExitCode, sum.Parameters["limit"], exitLimit)
	}
	// The pre-pass read the whole file: the canary's summary names the
	// input it was run on, though the run stopped early.
	if want := fmt.Sprintf("%x", sha256.Sum256([]byte(text))); sum.InputSHA256 != want {
		t.Errorf("canary summary input_sha256 = %q, want %q", sum.InputSHA256, want)
	}
	if !regexp.MustCompile(`remaining +6 rows not sent yet`).MatchString(stderr) || !strings.Contains(stderr, "--resume") {
		t.Errorf("stderr does not say 6 rows remain and how to go on:\n%s", stderr)
	}

	// A second step of the canary: 3 more rows; the summary counts the
	// rows the first step decided too.
	code, _, stderr = c.run(t, context.Background(), "", "run", in, "--rate", "0", "--resume", "--limit", "3", "--summary", sumFile)
	if code != exitLimit {
		t.Fatalf("second canary exit = %d, want %d; stderr:\n%s", code, exitLimit, stderr)
	}
	if data, err := os.ReadFile(sumFile); err != nil || json.Unmarshal(data, &sum) != nil || sum.Remaining != 3 {
		t.Errorf("second canary: remaining %d, want 3 (12 lines - 6 - 3)", sum.Remaining)
	}
	if n := s.Stats().Requests; n != 8 {
		t.Errorf("after the second canary: %d requests, want 8", n)
	}

	code, _, stderr = c.run(t, context.Background(), "", "run", in, "--rate", "0", "--resume")
	if code != exitNotAllOK { // line 9 meets 29004
		t.Fatalf("resume exit = %d, want %d; stderr:\n%s", code, exitNotAllOK, stderr)
	}
	got = readResults(t, out)
	if len(got) != 12 {
		t.Errorf("after resume: %d result rows, want 12 (one per line)", len(got))
	}
	for line := 2; line <= 13; line++ {
		r, ok := got[line]
		want := report.StatusOK
		switch line {
		case 4:
			want = report.StatusInvalid
		case 9:
			want = report.StatusFailed
		}
		if !ok || r.Status != want {
			t.Errorf("line %d: %+v, want status %s", line, r, want)
		}
	}
	stats := s.Stats()
	if stats.Requests != 11 || len(stats.DoubleRegistrations()) != 0 {
		t.Errorf("%d requests over both runs, double registrations %v; want 11 and none", stats.Requests, stats.DoubleRegistrations())
	}
}

var figureAttr = regexp.MustCompile(`data-figure="([^"]+)" data-value="([^"]*)"`)

// `run --html` and `tokenreg report` draw the run's page; its figures are
// the summary's, the summary beside the result is found, and the page is
// as private as the result.
func TestReportCommand(t *testing.T) {
	text, st := canaryInput()
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", text)
	out := filepath.Join(dir, "in.result.csv")
	sumFile := filepath.Join(dir, "in.result.summary.json")
	runPage := filepath.Join(dir, "run.html")
	c := cli{env: demoEnv(s.URL)}
	if code, _, stderr := c.run(t, context.Background(), "", "run", in, "--rate", "0", "--summary", sumFile, "--html", runPage); code != exitNotAllOK {
		t.Fatalf("run exit = %d; stderr:\n%s", code, stderr)
	}
	code, _, stderr := c.run(t, context.Background(), "", "report", out)
	if code != exitOK {
		t.Fatalf("report exit = %d; stderr:\n%s", code, stderr)
	}
	var sum report.SummaryJSON
	data, _ := os.ReadFile(sumFile)
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	for _, page := range []string{runPage, filepath.Join(dir, "in.result.html")} {
		fi, err := os.Stat(page)
		if err != nil {
			t.Fatalf("page: %v", err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 { // Windows: an ACL, tested in report
			t.Errorf("%s has mode %v, want 0600", page, fi.Mode().Perm())
		}
		html, _ := os.ReadFile(page)
		fig := map[string]string{}
		for _, m := range figureAttr.FindAllStringSubmatch(string(html), -1) {
			fig[m[1]] = m[2]
		}
		want := map[string]string{
			"rows": strconv.Itoa(sum.Rows), "ok": strconv.Itoa(sum.ByStatus[report.StatusOK]),
			"failed": strconv.Itoa(sum.ByStatus[report.StatusFailed]), "invalid": strconv.Itoa(sum.ByStatus[report.StatusInvalid]),
			"sent": strconv.Itoa(sum.Sent), "input_sha256": sum.InputSHA256,
			"elapsed_seconds": strconv.FormatFloat(sum.ElapsedSeconds, 'f', -1, 64),
		}
		for k, v := range want {
			if fig[k] != v {
				t.Errorf("%s: figure %s = %q, want the summary's %q", filepath.Base(page), k, fig[k], v)
			}
		}
		if !strings.Contains(string(html), `data-group="29004" data-count="1"`) {
			t.Errorf("%s lacks the 29004 group", filepath.Base(page))
		}
	}

	// Usage errors.
	for _, args := range [][]string{
		{"report"},
		{"report", filepath.Join(dir, "nope.csv")},
		{"report", in}, // an input, not a result
		{"report", out, "--summary", in},
		{"report", out, "--rows-per-code", "0"},
		{"report", out, "--html", out}, // would replace the result
	} {
		if code, _, stderr := c.run(t, context.Background(), "", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr:\n%s", args, code, exitUsage, stderr)
		}
	}
}

// The shards of one input, reported together, count each line once: the
// placeholder rows batch writes for another shard's lines are recognised
// by report (their message is formatted in batch, read in report).
func TestReportMergesShards(t *testing.T) {
	text, st := canaryInput()
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", text)
	c := cli{env: demoEnv(s.URL)}
	var shards []string
	for k := range 2 {
		out := filepath.Join(dir, fmt.Sprintf("shard%d.result.csv", k))
		if code, _, stderr := c.run(t, context.Background(), "", "run", in, "--rate", "0", "--shard", fmt.Sprintf("%d/2", k), "--out", out); code > exitNotAllOK {
			t.Fatalf("shard %d exit %d:\n%s", k, code, stderr)
		}
		shards = append(shards, out)
	}
	page := filepath.Join(dir, "all.html")
	if code, _, stderr := c.run(t, context.Background(), "", append([]string{"report", "--html", page}, shards...)...); code != exitOK {
		t.Fatalf("report exit %d:\n%s", code, stderr)
	}
	html, _ := os.ReadFile(page)
	fig := map[string]string{}
	for _, m := range figureAttr.FindAllStringSubmatch(string(html), -1) {
		fig[m[1]] = m[2]
	}
	want := map[string]string{"rows": "12", "ok": "10", "failed": "1", "invalid": "1", "skipped": "0", "sent": "11"}
	for k, v := range want {
		if fig[k] != v {
			t.Errorf("merged shards: figure %s = %q, want %q", k, fig[k], v)
		}
	}
}
