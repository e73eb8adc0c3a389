package batch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// TestResumeVerifyNamesNoFlag: an earlier result that does not belong to
// the input is refused with ErrResumeMismatch and a message that says what
// differs, in batch's words: the command adds which flag starts over.
func TestResumeVerifyNamesNoFlag(t *testing.T) {
	const head = "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n"
	const input = "username,tokenSn,tokenType\nalice,OTP1,2\nbob,OTP2,2\n"
	tests := []struct {
		name, prev, want string
	}{
		{"another row", head + "2,carol,OTP1,OTP,ok,0,Success,1,3,2026-11-28T10:00:00.000Z\n", "line 2 names another username"},
		{"past the end", head + "9,alice,OTP1,OTP,ok,0,Success,1,3,2026-11-28T10:00:00.000Z\n", "input's last row is on line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, _, _, err := LoadResume("prev", strings.NewReader(tt.prev), nil)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := NewReader("in.csv", strings.NewReader(input), ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = rs.Verify(rd)
			if !errors.Is(err, ErrResumeMismatch) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want ErrResumeMismatch saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("Verify = %q names a command-line flag: the command adds that", err)
			}
		})
	}
}

// countingRegistrar answers every registration with success and counts them.
type countingRegistrar struct{ n atomic.Int64 }

func (c *countingRegistrar) Register(ctx context.Context, r client.Registration) (client.Response, error) {
	c.n.Add(1)
	return client.Response{Code: "0", Message: "Success"}, nil
}

// hiddenInput has invalid rows whose values hold characters that cannot
// be seen, each on its own line.
const hiddenInput = "username,tokenSn,tokenType\n" +
	"ali\u200bce,OTP1,2\n" + // line 2: zero width space in the username
	"bob,OTP\u202e2,2\n" + // line 3: right-to-left override in the serial
	"\u00a0carol,OTP3,2\n" + // line 4: no-break space before the username
	"dave,\"OTP\t4\",2\n" + // line 5: a TAB inside the serial
	"erin,OTP5,\u200f2\n" + // line 6: a right-to-left mark in the type
	"frank,OTP6,2\n" // line 7: valid

// TestInvalidRowCellsRevealHiddenCharacters: an invalid row's cells show
// its invisible characters as escapes (the code point its message names),
// never raw; and a resume of that result still keeps those final rows.
func TestInvalidRowCellsRevealHiddenCharacters(t *testing.T) {
	var buf bytes.Buffer
	reg := &countingRegistrar{}
	got, err := runCSV(t, context.Background(), hiddenInput, Config{Registrar: reg}, &buf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]struct{ username, tokenSn, tokenType, named string }{
		2: {`ali\u200bce`, "OTP1", "2", "U+200B"},
		3: {"bob", `OTP\u202e2`, "2", "U+202E"},
		4: {`\u00a0carol`, "OTP3", "2", "U+00A0"},
		5: {"dave", `OTP\u00094`, "2", "U+0009"},
		6: {"erin", "OTP5", `\u200f2`, "U+200F"},
	}
	for line, w := range want {
		r := got[line]
		if r.Status != report.StatusInvalid || r.Username != w.username || r.TokenSn != w.tokenSn || r.TokenType != w.tokenType || !strings.Contains(r.Message, w.named) {
			t.Errorf("line %d = %s (%q, %q, %q) %q; want invalid (%q, %q, %q), the message naming %s",
				line, r.Status, r.Username, r.TokenSn, r.TokenType, r.Message, w.username, w.tokenSn, w.tokenType, w.named)
		}
	}
	if got[7].Status != report.StatusOK || got[7].Username != "frank" {
		t.Errorf("line 7 = %+v, want ok", got[7])
	}
	for _, c := range []rune{'\u200b', '\u202e', '\u00a0', '\t', '\u200f'} {
		if bytes.ContainsRune(buf.Bytes(), c) {
			t.Errorf("the result holds U+%04X raw:\n%s", c, buf.String())
		}
	}

	// Resume: every line is decided; the invalid rows are final and match
	// the input, so nothing is sent and nothing is written.
	rs, _, _, err := LoadResume("prev", bytes.NewReader(buf.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader("in.csv", strings.NewReader(hiddenInput), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Verify(rd); err != nil {
		t.Fatalf("Verify = %v, want the result to match its input", err)
	}
	before := reg.n.Load()
	again, err := runCSV(t, context.Background(), hiddenInput, Config{Registrar: reg, Resume: rs}, nil)
	if err != nil || len(again) != 0 || reg.n.Load() != before {
		t.Errorf("resume = %v, %d new rows, %d requests; want nothing to do", err, len(again), reg.n.Load()-before)
	}
}

// TestResumeAcceptsRawHiddenCharacters: a result written before the cells
// showed invisible characters escaped holds them raw (and control
// characters as U+FFFD): a resume still keeps its invalid rows.
func TestResumeAcceptsRawHiddenCharacters(t *testing.T) {
	prev := "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n" +
		"2,ali\u200bce,OTP1,2,invalid,,zero width,0,0,2026-11-28T10:00:00.000Z\n" +
		"3,bob,OTP\u202e2,2,invalid,,override,0,0,2026-11-28T10:00:00.000Z\n" +
		"4,\u00a0carol,OTP3,2,invalid,,no-break,0,0,2026-11-28T10:00:00.000Z\n" +
		"5,dave,OTP\uFFFD4,2,invalid,,tab,0,0,2026-11-28T10:00:00.000Z\n" +
		"6,erin,OTP5,\u200f2,invalid,,mark,0,0,2026-11-28T10:00:00.000Z\n" +
		"7,frank,OTP6,OTP,ok,0,Success,1,3,2026-11-28T10:00:00.000Z\n"
	rs, _, _, err := LoadResume("prev", strings.NewReader(prev), nil)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader("in.csv", strings.NewReader(hiddenInput), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Verify(rd); err != nil {
		t.Fatalf("Verify = %v, want an older result with raw characters to match", err)
	}
}

// TestRetryReadsRevealedCellsBack: a result read as the input of a retry
// gives an invalid row its invisible characters back, so that the row is
// refused again for them, not sent with a backslash in its username.
func TestRetryReadsRevealedCellsBack(t *testing.T) {
	var buf bytes.Buffer
	if _, err := runCSV(t, context.Background(), hiddenInput, Config{Registrar: &countingRegistrar{}}, &buf); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader("prev.csv", bytes.NewReader(buf.Bytes()), ReaderOptions{Unescape: true})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for {
		row, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if row.Username == "frank" {
			// Input line 7, the valid row: rows are written as they
			// finish, so its line in this result file varies.
			continue
		}
		seen++
		if row.Problem == "" || !strings.Contains(row.Problem, "U+") {
			t.Errorf("line %d (%q, %q, %q) read back with problem %q, want it refused again, naming the character", row.Line, row.Username, row.TokenSn, row.TokenTypeText, row.Problem)
		}
	}
	if seen != 5 {
		t.Errorf("read %d invalid rows back, want 5", seen)
	}
}
