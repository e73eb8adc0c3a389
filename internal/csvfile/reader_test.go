package csvfile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf16"
)

// dump reads every record as "LINE-ENDLINE [fields]" or "LINE err: …".
func dump(t *testing.T, r io.Reader, opt Options) []string {
	t.Helper()
	rd, err := NewReader(r, opt)
	if err != nil {
		return []string{"open: " + err.Error()}
	}
	var out []string
	for {
		f, err := rd.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%d err: %v", rd.Line(), err))
			if _, fatal := err.(*FileError); fatal {
				return out
			}
			continue
		}
		out = append(out, fmt.Sprintf("%d-%d %q", rd.Line(), rd.EndLine(), f))
	}
}

func TestReaderRecords(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"lf", "a,b\n1,2\n", []string{`1-1 ["a" "b"]`, `2-2 ["1" "2"]`}},
		{"crlf and blank lines", "a,b\r\n\r\n\r\n1,2\r\n", []string{`1-1 ["a" "b"]`, `4-4 ["1" "2"]`}},
		{"lone cr", "a,b\r1,2\r3,4", []string{`1-1 ["a" "b"]`, `2-2 ["1" "2"]`, `3-3 ["3" "4"]`}},
		{"lone cr in an lf file", "a,b\n1,2\r3,4\n", []string{`1-1 ["a" "b"]`, `2-2 ["1" "2"]`, `3-3 ["3" "4"]`}},
		// A lone CR is a line, inside quotes too (where it stays in the value).
		{"quoted line breaks", "a,b\n\"x\r\ny\",\"p\rq\"\n5,6\n", []string{`1-1 ["a" "b"]`, `2-4 ["x\ny" "p\rq"]`, `5-5 ["5" "6"]`}},
		{"doubled quotes", "a\n\"say \"\"hi\"\"\"\n", []string{`1-1 ["a"]`, `2-2 ["say \"hi\""]`}},
		{"bare quote", "a,b\nx\"y,2\n3,4\n", []string{`1-1 ["a" "b"]`, `2 err: malformed CSV at column 2: bare " in non-quoted-field`, `3-3 ["3" "4"]`}},
		{"extraneous quote", "a,b\n\"x\"y,2\n3,4\n", []string{`1-1 ["a" "b"]`, `2 err: malformed CSV at column 3: extraneous or missing " in quoted-field`, `3-3 ["3" "4"]`}},
		{"malformed over lines", "a,b\n1,\"x\n2,y\n3,\"z\"w\n4,5\n", []string{`1-1 ["a" "b"]`,
			`2 err: malformed CSV: the quoted field that starts on line 2 is broken on line 4 at column 3 (extraneous or missing " in quoted-field), so lines 2 to 4 were read as one row; reading resumed on line 5: check the quotes on line 2`,
			`5-5 ["4" "5"]`}},
		{"unclosed", "a,b\n1,\"x\n2,3\n", []string{`1-1 ["a" "b"]`, `2 err: a quoted field that starts on line 2 is never closed: it runs to the end of the file (line 3); add the missing '"'`}},
		{"formula text", "a,b\n1,=\"007\"\n", []string{`1-1 ["a" "b"]`, `2-2 ["1" "=\"007\""]`}},
		{"ctrl-z at the end", "a,b\r\n1,2\r\n\x1a\x1a", []string{`1-1 ["a" "b"]`, `2-2 ["1" "2"]`}},
		{"ctrl-z inside", "a,b\r\n\x1a1,2\r\n", []string{`1-1 ["a" "b"]`, "2-2 [\"\\x1a1\" \"2\"]"}},
		{"not utf-8", "a,b\n1,caf\xe9\n", []string{`1-1 ["a" "b"]`, `2 err: line 2: the file is not UTF-8 text: field 2 has the byte 0xE9 ('é' in Windows-1252); it was probably saved as Windows-1252, Latin-1 or Mac Roman. Save it as UTF-8 (in Excel: Save As, "CSV UTF-8 (Comma delimited)") and run again`}},
		{"sep line", "sep=;\na;b\n1;2,3\n", []string{`2-2 ["a" "b"]`, `3-3 ["1" "2,3"]`}},
		{"sep line with trailing separators", "SEP=|||\r\na|b\r\n", []string{`2-2 ["a" "b"]`}},
		{"too long", "a\n" + strings.Repeat("x", 40) + "\nb\n", []string{`1-1 ["a"]`, `2 err: the record is 41 bytes long, over the limit of 32 bytes: the file may not be what you meant to give`, `3-3 ["b"]`}},
		{"too long over lines", "a\n\"" + strings.Repeat("x\n", 30) + "\"\nb\n", []string{`1-1 ["a"]`, `2 err: the record is 63 bytes long (lines 2 to 32), over the limit of 32 bytes: the file may not be what you meant to give`, `33-33 ["b"]`}},
		{"empty", "", []string{"open: the file is empty"}},
		{"bom only", "\ufeff", []string{"open: the file is empty (nothing but a UTF-8 byte order mark)"}},
		{"utf-16le", utf16Bytes("\ufeffa,b\r\n\U0001F600,é\r\n", false), []string{`1-1 ["a" "b"]`, `2-2 ["😀" "é"]`}},
		{"utf-16be", utf16Bytes("\ufeffa\n1\n", true), []string{`1-1 ["a"]`, `2-2 ["1"]`}},
		{"utf-16 unpaired surrogate and odd byte", "\xff\xfea\x00\n\x00\x00\xd8x\x00\n\x00z", []string{`1-1 ["a"]`, "2-2 [\"\ufffdx\"]", "3-3 [\"\ufffd\"]"}},
		{"xlsx", "PK\x03\x04rest", []string{"open: this is an Excel workbook (.xlsx) or another zip archive, not CSV text: open it in Excel and save it as CSV UTF-8 (Save As, \"CSV UTF-8 (Comma delimited)\")"}},
		{"html", "<HTML><body>", []string{"open: this is an HTML page (perhaps a workbook saved as a web page), not CSV text: open it in Excel and save it as CSV UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := Options{MaxRecord: 32, UTF16: true}
			got := dump(t, strings.NewReader(tt.in), opt)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			// A byte at a time: a CR at the end of every buffer.
			one := dump(t, iotest.OneByteReader(strings.NewReader(tt.in)), opt)
			if strings.Join(one, "\n") != strings.Join(got, "\n") {
				t.Errorf("read a byte at a time:\n%s\nwant:\n%s", strings.Join(one, "\n"), strings.Join(got, "\n"))
			}
		})
	}
}

func utf16Bytes(s string, be bool) string {
	var b strings.Builder
	for _, c := range utf16.Encode([]rune(s)) {
		if be {
			b.WriteByte(byte(c >> 8))
			b.WriteByte(byte(c))
		} else {
			b.WriteByte(byte(c))
			b.WriteByte(byte(c >> 8))
		}
	}
	return b.String()
}

func TestReaderAnyBytes(t *testing.T) {
	got := dump(t, strings.NewReader("a,b\n1,caf\xe9\n"), Options{AnyBytes: true})
	if want := []string{`1-1 ["a" "b"]`, `2-2 ["1" "caf\xe9"]`}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("records %q, want %q", got, want)
	}
}

func TestReaderUTF16Refused(t *testing.T) {
	_, err := NewReader(strings.NewReader(utf16Bytes("\ufeffa\n", false)), Options{})
	if err == nil || !strings.Contains(err.Error(), "this is UTF-16 text (UTF-16LE") {
		t.Errorf("error = %v, want UTF-16 named", err)
	}
}

func TestReaderSeparator(t *testing.T) {
	score := func(h []string) int {
		n := 0
		for _, c := range h {
			if c == "user" || c == "sn" || c == "type" {
				n++
			}
		}
		return n
	}
	opt := Options{Separators: []byte{',', ';', '\t'}, Score: score}
	tests := []struct{ in, want string }{
		{"user,sn,type\n", ","},
		{"user;sn;type\n", ";"},
		{"user\tsn\ttype\n", "\t"},
		{"user;sn;type,notes\n", ";"},
		{"nothing\n", ","},
		{"user;x,sn\n", "error"},
		{"sep=;\nuser,sn,type\n", ";"},
	}
	for _, tt := range tests {
		rd, err := NewReader(strings.NewReader(tt.in), opt)
		got := "error"
		if err == nil {
			got = string(rd.Separator())
		} else if !strings.Contains(err.Error(), "can be split by") {
			t.Errorf("NewReader(%q) error %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("NewReader(%q) separator %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReaderOffsets(t *testing.T) {
	in := "\ufeffa,b\r\n1,2\n3,4"
	rd, err := NewReader(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		off  int64
		term bool
	}{{8, true}, {12, true}, {15, false}}
	for i, w := range want {
		if _, err := rd.Read(); err != nil {
			t.Fatal(err)
		}
		if rd.Offset() != w.off || rd.Terminated() != w.term {
			t.Errorf("record %d: offset %d terminated %v, want %d %v", i, rd.Offset(), rd.Terminated(), w.off, w.term)
		}
	}
	// A CR at the end: maybe a CRLF cut short.
	rd, _ = NewReader(strings.NewReader("a\r"), Options{})
	rd.Read()
	if rd.Terminated() {
		t.Error("a lone CR at the end counts as a line end")
	}
}

func TestRecordErrorUnwrap(t *testing.T) {
	rd, _ := NewReader(strings.NewReader("a\nx\"y\n"), Options{})
	rd.Read()
	_, err := rd.Read()
	if !errors.Is(err, csv.ErrBareQuote) {
		t.Errorf("error %v is not csv.ErrBareQuote", err)
	}
}

func TestFoldName(t *testing.T) {
	for _, in := range []string{"tokenSn", "Token_SN", "token-sn", " Token SN ", "Token\nSN", "\ufefftoken\u200bsn", "TOKEN.SN", "token\u00a0sn"} {
		if got := FoldName(in); got != "tokensn" {
			t.Errorf("FoldName(%q) = %q, want tokensn", in, got)
		}
	}
}

// FuzzReaderFastPath checks that the fast path for lines without quotes
// reads exactly what the general parser reads: the same fields, lines,
// offsets and errors, whatever the bytes.
func FuzzReaderFastPath(f *testing.F) {
	for _, seed := range []string{
		"a,b\n1,2\n", "a;b\r\n\"x\";y\n", "a,b\n1,caf\xe9\n", "a,b\n\xc3,\xa9\n", "sep=|\na|b\n1|2\r3|4", "a\tb\n\n\n1\t\"2\n3\"\n",
		"a,b\n1,2\r\n\x1a", "a,b\nx\"y,2\n", "a,b\n" + strings.Repeat("x", 80) + "\n1,2\n", "\xef\xbb\xbfa,b\n1,2",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, in string, anyBytes bool) {
		opt := Options{Separators: []byte(",;\t|"), AnyBytes: anyBytes, MaxRecord: 64, Score: func(h []string) int {
			n := 0
			for _, c := range h {
				if c == "a" || c == "b" {
					n++
				}
			}
			return n
		}}
		fast, slow := dumpOffsets(t, in, opt, false), dumpOffsets(t, in, opt, true)
		if fmt.Sprint(fast) != fmt.Sprint(slow) {
			t.Errorf("%q:\nfast path %q\ngeneral   %q", in, fast, slow)
		}
	})
}

// dumpOffsets is dump with each record's offset, and with or without the
// fast path.
func dumpOffsets(t *testing.T, in string, opt Options, slow bool) []string {
	t.Helper()
	rd, err := NewReader(strings.NewReader(in), opt)
	if err != nil {
		return []string{"open: " + err.Error()}
	}
	rd.slow = slow
	var out []string
	for {
		f, err := rd.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			out = append(out, fmt.Sprintf("%d@%d err: %v", rd.Line(), rd.Offset(), err))
			if _, fatal := err.(*FileError); fatal {
				return out
			}
			continue
		}
		out = append(out, fmt.Sprintf("%d-%d@%d %v %q", rd.Line(), rd.EndLine(), rd.Offset(), rd.Terminated(), f))
	}
}
