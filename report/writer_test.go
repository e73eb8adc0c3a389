package report

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/internal/csvfile"
)

var finished = time.Date(2026, 11, 28, 13, 14, 15, 123456789, time.UTC)

func TestWriter(t *testing.T) {
	kl := time.FixedZone("MYT", 8*3600)
	tests := []struct {
		name string
		in   Result
		want string
	}{
		{
			name: "ok",
			in: Result{Line: 2, Username: "alice", TokenSn: "+60123456789", TokenType: "SMS", Status: StatusOK,
				Code: "0", Message: "Success", Attempts: 1, Duration: 1234567 * time.Microsecond, FinishedAt: finished},
			want: "2,alice,+60123456789,SMS,ok,0,Success,1,1234,2026-11-28T13:14:15.123Z\n",
		},
		{
			name: "not sent, zero time",
			in:   Result{Line: 1000000, Username: "bob", TokenSn: "", TokenType: "XYZ", Status: StatusInvalid, Message: "unknown token type \"XYZ\""},
			want: `1000000,bob,,XYZ,invalid,,"unknown token type ""XYZ""",0,0,` + "\n",
		},
		{
			name: "formula cells guarded",
			in: Result{Line: 3, Username: "=cmd|'/c calc'!A1", TokenSn: "@x", TokenType: "-", Status: StatusFailed,
				Code: "+x", Message: "\tmsg", Attempts: 2, Duration: 5 * time.Millisecond, FinishedAt: finished.In(kl)},
			want: "3,'=cmd|'/c calc'!A1,'@x,'-,failed,'+x,'\tmsg,2,5,2026-11-28T13:14:15.123Z\n",
		},
		{
			name: "quoting",
			in: Result{Line: 4, Username: "a,b", TokenSn: " lead", TokenType: "OTP", Status: StatusError,
				Message: "say \"hi\"\nbye", Attempts: 5, Duration: 15 * time.Second, FinishedAt: finished},
			want: "4,\"a,b\",\" lead\",OTP,error,,\"say \"\"hi\"\"\nbye\",5,15000,2026-11-28T13:14:15.123Z\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			if err := w.Write(tt.in); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("Write(%+v) wrote\n%q, want\n%q", tt.in, got, tt.want)
			}
		})
	}
}

func TestWriterHeader(t *testing.T) {
	var buf bytes.Buffer
	if err := NewWriter(&buf).WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n"; got != want {
		t.Errorf("WriteHeader wrote %q, want %q", got, want)
	}
}

// countingWriter records each Write call.
type countingWriter struct {
	writes []string
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func TestWriterOneWritePerRow(t *testing.T) {
	var cw countingWriter
	w := NewWriter(&cw)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 10000) // longer than bufio's default 4 KiB
	for i, msg := range []string{"Success", long, "User not found"} {
		if err := w.Write(Result{Line: i + 2, Username: "u", Status: StatusFailed, Message: msg}); err != nil {
			t.Fatal(err)
		}
		if got, want := len(cw.writes), i+2; got != want {
			t.Fatalf("after row %d: %d Write calls, want %d", i+1, got, want)
		}
		if last := cw.writes[len(cw.writes)-1]; !strings.HasSuffix(last, "\n") || strings.Count(last, "\n") != 1 {
			t.Errorf("row %d reached the writer as %.40q…, want one whole line", i+1, last)
		}
	}
}

func TestWriterError(t *testing.T) {
	boom := errors.New("disk full")
	w := NewWriter(&countingWriter{err: boom})
	if err := w.Write(Result{Line: 2, Status: StatusOK}); !errors.Is(err, boom) {
		t.Errorf("Write to a failing writer = %v, want %v", err, boom)
	}
	if err := w.Write(Result{Line: 3, Status: StatusOK}); err == nil {
		t.Errorf("second Write after a failure = nil, want the sticky error")
	}
}

func TestWriterAllocs(t *testing.T) {
	w := NewWriter(io.Discard)
	r := benchResult()
	got := testing.AllocsPerRun(1000, func() {
		r.Line++
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	})
	if got > 1 {
		t.Errorf("Write allocates %v times a row, want at most 1", got)
	}
}

func benchResult() Result {
	return Result{Line: 123456, Username: "someone@example.com", TokenSn: "+60123456789", TokenType: "SMS",
		Status: StatusFailed, Code: "29004", Message: "Phone number had been used", Attempts: 1,
		Duration: 87 * time.Millisecond, FinishedAt: finished}
}

func BenchmarkWriter(b *testing.B) {
	w := NewWriter(io.Discard)
	r := benchResult()
	b.ReportAllocs()
	for b.Loop() {
		r.Line++
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriterFile measures a row's real cost: one write syscall to a file.
func BenchmarkWriterFile(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "result.csv"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	w := NewWriter(f)
	r := benchResult()
	b.ReportAllocs()
	for b.Loop() {
		r.Line++
		if err := w.Write(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func TestWriterBufferUnsent(t *testing.T) {
	var cw countingWriter
	w := NewWriter(&cw)
	w.BufferUnsent()
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	skipped := Result{Username: "u", Status: StatusSkipped, Message: "duplicate of line 2"}
	line := 2
	write := func(r Result) {
		t.Helper()
		r.Line = line
		line++
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	// Unsent rows stay in the buffer: no Write call.
	for range 3 {
		write(skipped)
	}
	if len(cw.writes) != 1 {
		t.Fatalf("after 3 unsent rows: %d Write calls, want 1 (the header)", len(cw.writes))
	}
	// A sent row goes out at once, with the rows before it.
	write(Result{Username: "u", Status: StatusOK, Code: "0", Attempts: 1})
	if len(cw.writes) != 2 || strings.Count(cw.writes[1], "\n") != 4 {
		t.Fatalf("after a sent row: writes %q, want a second one of 4 rows", cw.writes)
	}
	// Many unsent rows: each Write call holds whole rows only.
	for range 5000 {
		write(skipped)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for i, s := range cw.writes[2:] {
		if !strings.HasSuffix(s, "\n") {
			t.Fatalf("Write call %d ends mid-row: …%q", i+2, s[max(0, len(s)-40):])
		}
		rows += strings.Count(s, "\n")
	}
	if rows != 5000 {
		t.Errorf("%d rows reached the writer after Flush, want 5000", rows)
	}
	if n := len(cw.writes) - 2; n < 2 || n > 20 {
		t.Errorf("5000 unsent rows took %d Write calls, want a few (64 KiB each)", n)
	}
}

// TestWriterTimes checks finished_at, which the Writer formats a second at
// a time, against csvfile.TimeLayout for times in and across seconds, in
// other zones, before 1970 and past 9999.
func TestWriterTimes(t *testing.T) {
	kl := time.FixedZone("MYT", 8*3600)
	var times []time.Time
	for _, base := range []time.Time{
		finished, finished.In(kl), time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 0), time.Unix(0, 1), time.Date(12345, 1, 2, 3, 4, 5, 6e6, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 5e5, time.UTC),
	} {
		for _, d := range []time.Duration{0, time.Millisecond, 999 * time.Microsecond, 877 * time.Millisecond, time.Second, -time.Millisecond, time.Hour + 1} {
			times = append(times, base.Add(d))
		}
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for i, ft := range times {
		buf.Reset()
		if err := w.Write(Result{Line: i + 2, Status: StatusValid, FinishedAt: ft}); err != nil {
			t.Fatal(err)
		}
		want := ft.UTC().Format(csvfile.TimeLayout)
		if got := strings.TrimSuffix(buf.String()[strings.LastIndexByte(buf.String(), ',')+1:], "\n"); got != want {
			t.Errorf("finished_at of %v = %q, want %q", ft, got, want)
		}
	}
}

// TestWriterMatchesEncodingCSV holds the Writer's own encoding to what
// encoding/csv writes for the same escaped cells, byte for byte: quotes,
// separators, line ends, leading spaces (Unicode ones too), `\.`, formula
// guards, invalid UTF-8.
func TestWriterMatchesEncodingCSV(t *testing.T) {
	cells := []string{"", "plain", "a,b", `say "hi"`, "\"", "line\nbreak", "cr\rhere", "crlf\r\n", " lead", "\tlead", "\u00a0nbsp", "\u3000wide",
		`\.`, `'\.`, "=1+2", "=\"x\"", "'=1", "+60123456789", "-12", "+x", "@SUM(A1)", "\t=1", "\r=1", "''=1", "'abc", "bad\xffutf8", "\xff", "trail ", "ü,ß", `""`, "=a,\"b\"\n"}
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", ",", "\"", "\n", "\r", " ", "\t", "=", "+", "-", "@", "'", "1", "\\", ".", "\u00a0", "\xff", "é"}
	for range 2000 {
		var sb strings.Builder
		for range rnd.IntN(6) {
			sb.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		cells = append(cells, sb.String())
	}
	for i, c := range cells {
		r := Result{Line: i + 2, Username: c, TokenSn: cells[(i+1)%len(cells)], TokenType: cells[(i+2)%len(cells)], Status: StatusFailed,
			Code: cells[(i+3)%len(cells)], Message: cells[(i+4)%len(cells)], Attempts: i % 3, Duration: time.Duration(i) * time.Millisecond, FinishedAt: finished}
		var got bytes.Buffer
		if err := NewWriter(&got).Write(r); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		cw := csv.NewWriter(&want)
		cw.Write([]string{strconv.Itoa(r.Line), Escape(r.Username), Escape(r.TokenSn), Escape(r.TokenType), Escape(string(r.Status)), Escape(r.Code), Escape(r.Message),
			strconv.Itoa(r.Attempts), strconv.FormatInt(r.Duration.Milliseconds(), 10), finished.Format(csvfile.TimeLayout)})
		cw.Flush()
		if got.String() != want.String() {
			t.Fatalf("cell %q: Writer wrote\n%q, encoding/csv\n%q", c, got.String(), want.String())
		}
	}
	var got, want bytes.Buffer
	if err := NewWriter(&got).WriteHeader(); err != nil {
		t.Fatal(err)
	}
	cw := csv.NewWriter(&want)
	cw.Write(header)
	cw.Flush()
	if got.String() != want.String() {
		t.Errorf("header %q, encoding/csv %q", got.String(), want.String())
	}
}
