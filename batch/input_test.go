package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"testing/iotest"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/tokenreg/tokenreg/client"
)

// readAll reads every row of a CSV text; fatal is the *InputError, if any.
func readAll(t *testing.T, text string) (rows []Row, fatal *InputError) {
	t.Helper()
	rd, err := NewReader("in.csv", strings.NewReader(text), ReaderOptions{})
	if err != nil {
		if !errors.As(err, &fatal) {
			t.Fatalf("NewReader error %v is not an *InputError", err)
		}
		return nil, fatal
	}
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			if !errors.As(err, &fatal) {
				t.Fatalf("Read error %v is not an *InputError", err)
			}
			return rows, fatal
		}
		rows = append(rows, r)
	}
}

func TestReaderAcceptsTolerableShapes(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		lines []int
	}{
		{"plain", "username,tokenSn,tokenType\nalice,+60123456789,1\nbob,OTP1,2\n", []int{2, 3}},
		{"bom and crlf", "\ufeffusername,tokenSn,tokenType\r\nalice,+60123456789,SMS\r\nbob,OTP1,OTP\r\n", []int{2, 3}},
		{"mixed line ends", "username,tokenSn,tokenType\r\nalice,+60123456789,sms\nbob,OTP1,otp\r\n", []int{2, 3}},
		{"blank lines", "username,tokenSn,tokenType\n\nalice,+60123456789,1\n\n\n   \n,,\nbob,OTP1,2\n", []int{3, 8}},
		{"aliases and extra columns", "Dept,User_ID,Serial,Type,Note\nit,alice,OTP1,2,x\n", []int{2}},
		{"alias spellings", "USER ID,Token-SN,TOKEN TYPE\nalice,OTP1,2\n", []int{2}},
		{"phone alias", "user,mobile,type\nalice,60123456789,1\n", []int{2}},
		{"surrounding spaces", "username , tokenSn , tokenType\n  alice  ,  OTP1  ,  OTP  \n", []int{2}},
		{"no final newline", "username,tokenSn,tokenType\nalice,OTP1,2", []int{2}},
		{"quoted newline moves the line", "username,tokenSn,tokenType,note\nalice,OTP1,2,\"two\nlines\"\nbob,OTP2,2,x\n", []int{2, 4}},
		{"header only", "username,tokenSn,tokenType\n", nil},
		{"classic mac line ends", "username,tokenSn,tokenType\ralice,+60123456789,1\rbob,OTP1,2\r", []int{2, 3}},
		{"lone CR in an LF file", "username,tokenSn,tokenType\nalice,+60123456789,1\rbob,OTP1,2\n", []int{2, 3}},
		{"semicolons", "username;tokenSn;tokenType\nalice;+60123456789;1\nbob;OTP1;2\n", []int{2, 3}},
		{"tabs", "username\ttokenSn\ttokenType\nalice\t+60123456789\t1\n", []int{2}},
		{"powershell type line", "#TYPE System.Management.Automation.PSCustomObject\r\n\"username\",\"tokenSn\",\"tokenType\"\r\n\"alice\",\"OTP1\",\"2\"\r\n", []int{3}},
		{"excel sep line", "sep=;\r\nusername;tokenSn;tokenType\r\nalice;+60123456789;1\r\n", []int{3}},
		{"sep line names a comma", "sep=,\nusername,tokenSn,tokenType\nalice,\"a;b\",2\n", []int{3}},
		{"header with alt+enter", "\"User\nName\",\"Token\r\nSN\",Type\nalice,OTP1,2\n", []int{4}},
		{"ctrl-z at the end", "username,tokenSn,tokenType\r\nalice,OTP1,2\r\n\x1a", []int{2}},
		{"ctrl-z glued to the last row", "username,tokenSn,tokenType\nalice,OTP1,2\x1a\x1a", []int{2}},
		{"utf-16le with bom", utf16LE("\ufeffusername\ttokenSn\ttokenType\r\nJosé\tOTP1\t2\r\n\U0001F600x\tOTP2\t2\r\n"), []int{2, 3}},
		{"utf-16be with bom", utf16BE("\ufeffusername,tokenSn,tokenType\nalice,OTP1,2\n"), []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, fatal := readAll(t, tt.text)
			if fatal != nil {
				t.Fatalf("fatal error %v", fatal)
			}
			var lines []int
			for _, r := range rows {
				if r.Problem != "" {
					t.Errorf("line %d: unexpected problem %q", r.Line, r.Problem)
				}
				lines = append(lines, r.Line)
			}
			if !equalInts(lines, tt.lines) {
				t.Errorf("lines = %v, want %v", lines, tt.lines)
			}
		})
	}
}

func utf16LE(s string) string {
	var b strings.Builder
	for _, c := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(c))
		b.WriteByte(byte(c >> 8))
	}
	return b.String()
}

func utf16BE(s string) string {
	var b strings.Builder
	for _, c := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(c >> 8))
		b.WriteByte(byte(c))
	}
	return b.String()
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReaderFieldValues(t *testing.T) {
	rows, fatal := readAll(t, "\ufeffUser, Mobile ,TYPE\r\n  alice , +60123456789 , sms \r\n")
	if fatal != nil || len(rows) != 1 {
		t.Fatalf("rows=%v fatal=%v", rows, fatal)
	}
	r := rows[0]
	if r.Username != "alice" || r.TokenSn != "+60123456789" || r.TokenType != client.SMS || r.Line != 2 {
		t.Errorf("row = %+v, want alice/+60123456789/SMS line 2", r)
	}
}

func TestReaderRowProblems(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name, row, want string
	}{
		{"empty username", ",OTP1,2", "username is empty"},
		{"empty serial", "alice,,2", "tokenSn is empty"},
		{"unknown type", "alice,OTP1,3", "tokenType \"3\" is unknown"},
		{"empty type", "alice,OTP1,", "tokenType is empty"},
		{"short phone", "alice,1234567,1", "8 to 15 digits"},
		{"long phone", "alice,1234567890123456,1", "8 to 15 digits"},
		{"phone with letters", "alice,+6012345678a,SMS", "8 to 15 digits"},
		{"phone with spaces", "alice,\"+60 123 456 789\",SMS", "8 to 15 digits"},
		{"otp with space", "alice,\"OTP 1\",2", "OTP serial \"OTP 1\" contains a space"},
		{"otp with control", "alice,OTP\x011,2", "control character U+0001 at position 4"},
		{"otp with NUL", "alice,OTP\x001,2", "control character U+0000 (NUL) at position 4"},
		{"zero width space in username", "ali\u200bce,OTP1,2", `username "ali\u200bce" contains the invisible character U+200B (zero width space) at position 4`},
		{"nbsp around username", "\u00a0alice,OTP1,2", "U+00A0 (no-break space) at position 1"},
		{"soft hyphen in serial", "alice,OTP\u00ad1,2", "U+00AD (soft hyphen) at position 4"},
		{"word joiner", "alice\u2060,OTP1,2", "U+2060 (word joiner) at position 6"},
		{"bom inside", "\ufeffalice,OTP1,2", "U+FEFF (byte order mark) at position 1"},
		{"rtl mark in phone", "alice,\u200f+60123456789,1", "U+200F (right-to-left mark)"},
		{"only invisible username", "\u200b\u200b,OTP1,2", "U+200B"},
		{"replacement character", "al\ufffdce,OTP1,2", "U+FFFD"},
		{"scientific phone", "alice,6.01234E+10,1", "scientific notation"},
		{"scientific serial", "alice,1.23457E+11,2", "Excel rewrote in scientific notation"},
		{"scientific with a decimal comma", "alice,\"6,01234E+10\",1", "scientific notation"},
		{"formula text serial", "alice,=\"OTP-0001\",2", "spreadsheet formula, not a value: write the value itself (OTP-0001)"},
		{"quoted formula text", "alice,\"=\"\"OTP-0001\"\"\",2", "format the column as Text"},
		{"formula text username", "\"=\"\"007\"\"\",OTP1,2", "username \"=\\\"007\\\"\" is a spreadsheet formula"},
		{"ctrl-z inside", "alice,OTP1\x1a,2", "U+001A (Ctrl-Z, a DOS end-of-file mark)"},
		{"field too long", "alice," + long + ",2", "over the limit of 256"},
		{"too few fields", "alice,OTP1", "has 2 fields but the header has 3"},
		{"too many fields", "alice,OTP1,2,extra", "has 4 fields but the header has 3"},
		{"bare quote", "ali\"ce,OTP1,2", "malformed CSV"},
		{"username control", "ali\tce,OTP1,2", "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, fatal := readAll(t, "username,tokenSn,tokenType\n"+tt.row+"\nbob,OTP9,2\n")
			if fatal != nil {
				t.Fatalf("fatal error %v", fatal)
			}
			if len(rows) != 2 {
				t.Fatalf("got %d rows, want 2 (the bad one and the next)", len(rows))
			}
			if !strings.Contains(rows[0].Problem, tt.want) {
				t.Errorf("problem = %q, want it to contain %q", rows[0].Problem, tt.want)
			}
			if rows[0].Line != 2 || rows[1].Line != 3 || rows[1].Problem != "" {
				t.Errorf("rows = %+v, want the bad row at line 2 and a good row at line 3", rows)
			}
		})
	}
}

func TestReaderFatal(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		want       string
	}{
		{"empty file", "", 0, "empty"},
		{"only a bom", "\ufeff", 0, "empty"},
		{"no header", "alice,OTP1,2\n", 1, "no header row"},
		{"missing column", "username,tokenSn\nalice,OTP1\n", 1, "lacks the column(s) tokenType"},
		{"duplicated column", "username,user,tokenSn,tokenType\na,b,OTP1,2\n", 1, "both give the username"},
		{"unterminated quote", "username,tokenSn,tokenType\nalice,OTP1,2\nbob,\"OTP2,2\ncarol,OTP3,2\n", 3, "never closed"},
		{"unterminated quote in header", "username,\"tokenSn,tokenType\n", 1, "never closed"},
		{"invalid utf8", "username,tokenSn,tokenType\nalice,OTP1,2\nJos\xe9,OTP2,2\n", 3, "not UTF-8 text: field 1 has the byte 0xE9 ('é' in Windows-1252)"},
		{"utf16 bom only", "\xff\xfe", 0, "empty (nothing but a UTF-16LE byte order mark)"},
		{"utf16 without bom", "u\x00s\x00e\x00r\x00,\x00", 0, "UTF-16 text without a byte order mark"},
		{"utf32", "\xff\xfe\x00\x00u\x00\x00\x00", 0, "UTF-32"},
		{"xlsx", "PK\x03\x04\x14\x00\x06\x00", 0, "this is an Excel workbook (.xlsx)"},
		{"xls", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", 0, "Excel 97-2003 workbook (.xls)"},
		{"pdf", "%PDF-1.7\n%\xe2\xe3\n", 0, "PDF document"},
		{"binary", "ab\x00cd,ef\n", 0, "binary file"},
		{"second header", "username,tokenSn,tokenType\nalice,OTP1,2\nusername,tokenType,tokenSn\nbob,2,OTP2\n", 3, "a second header row; the first is line 1"},
		{"second header behind a bom", "username,tokenSn,tokenType\nalice,OTP1,2\n\ufeffusername,tokenSn,tokenType\n", 3, "behind a byte order mark (U+FEFF)"},
		{"second header after sep line", "sep=;\nuser;serial;type\nalice;OTP1;2\nuser;serial;type\n", 4, "the first is line 2"},
		{"ambiguous separator", "user;a,type\n", 1, "can be split by"},
		{"header too long", strings.Repeat("x,", MaxRecordBytes) + "\n", 1, "over the limit of 65536 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fatal := readAll(t, tt.text)
			if fatal == nil {
				t.Fatalf("no fatal error, want one containing %q", tt.want)
			}
			if fatal.Line != tt.line || !strings.Contains(fatal.Error(), tt.want) {
				t.Errorf("error = %v (line %d), want line %d containing %q", fatal, fatal.Line, tt.line, tt.want)
			}
		})
	}
}

func TestReaderSHA256(t *testing.T) {
	rd, err := NewReader("in.csv", strings.NewReader("username,tokenSn,tokenType\n"), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rd.SHA256(); got != "" {
		t.Errorf("SHA256 before EOF = %q, want empty", got)
	}
	if _, err := rd.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("Read = %v, want EOF", err)
	}
	sum := sha256.Sum256([]byte("username,tokenSn,tokenType\n"))
	if got, want := rd.SHA256(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("SHA256 = %q, want %q", got, want)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("username,tokenSn,tokenType\nalice,+60123456789,1\n")
	f.Add("\ufeffuser,serial,type\r\nbob,OTP1,OTP\r\n\r\n")
	f.Add("username,tokenSn,tokenType\n\"a\nb\",x,2\n")
	f.Add("username,tokenSn,tokenType\nal\"ice,OTP1,2\n")
	f.Add("username,tokenSn,tokenType\nalice,\"OTP1,2\n")
	f.Add("username,tokenSn\n")
	f.Add("a,b,c,d\n1,2,3\n")
	// The operator-file classes of issue 10 (see testdata/inputs).
	f.Add("tokenType,username,tokenSn\r2,alice,OTP1\r1,bob,+60120000050\r")                          // classic Mac
	f.Add("username,tokenSn,tokenType\nbob,\"OTP2,2\ncarol,OTP3,2\ndave,\"OTP4\"x,2\nerin,OTP5,2\n") // malformed multi-line quote
	f.Add("username,tokenSn,tokenType,notes\nalice,\"OTP1,2,\nbob,OTP2\",2,\ndave,OTP4,2,\"see\nerin,OTP5,2,x\"\n")
	f.Add("username,tokenSn,tokenType\r\nalice,OTP1,2\r\ntokenSn,username,tokenType\r\nOTP3,carol,2\r\n") // glued, reordered
	f.Add("\ufeffusername,tokenSn,tokenType\r\nalice,OTP1,2\r\n\ufeffusername,tokenSn,tokenType\r\nbob,OTP2,2\r\n")
	f.Add(utf16LE("\ufeffusername\ttokenSn\ttokenType\r\nJosé\tOTP1\t2\r\n"))
	f.Add(utf16BE("\ufeffusername,tokenSn,tokenType\nbob,OTP1,2\n"))
	f.Add("\xff\xfe")
	f.Add(utf16LE("username,tokenSn,tokenType\r\nalice,OTP1,2\r\n"))
	f.Add("username\ttokenSn\ttokenType\nalice\tOTP1\t2\n")
	f.Add("username;tokenSn;tokenType\nalice;OTP1;2\n")
	f.Add("sep=;\r\nusername;tokenSn;tokenType;notes\r\nalice;OTP1;2;a, b\r\n")
	f.Add("user;a,type\n")
	f.Add("\"User\nName\",\"Token\nSN\",Type\r\nalice,OTP1,2\r\n")
	f.Add("PK\x03\x04\x14\x00\x06\x00\x08\x00")
	f.Add("\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00")
	f.Add("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	f.Add("username,tokenSn,tokenType\nbo\u200bb,OTP1,2\n\u00a0carol,+60120000052,1\ndave,OTP\u00adX,2\nerin\u2060,OTP2,2\n\u200e\u200e,OTP3,2\nivy,OTP4\u202f,2\n")
	f.Add("username,tokenSn,tokenType\r\nalice,OTP1,2\r\n\ufeffbob,OTP2,2\r\n")
	f.Add("username,tokenSn,tokenType\nalice,6.01234E+10,1\nbob,1.23457E+11,2\ncarol,=\"OTP-0001\",2\ndave,\"=\"\"OTP-0002\"\"\",2\n")
	f.Add("username,tokenSn,tokenType\r\nalice,OTP1,2\r\n\x1a")
	f.Add("username,tokenSn,tokenType\r\nalice,OTP1,2\x1a")
	f.Add("username,tokenSn,tokenType\r\n\x1abob,OTP1,2\r\n")
	f.Add("username,tokenSn,tokenType,name\r\nbob,OTP1,2,Andr\xe9\r\n")
	f.Add("username,tokenSn,tokenType\nalice,+60120000060,1\nbob,60120000060,1\ncarol,0060120000060,1\n")
	f.Add("username,tokenSn,tokenType\n" + strings.Repeat("x", MaxRecordBytes+10) + "\nbob,OTP1,2\n")
	f.Fuzz(func(t *testing.T, text string) {
		rows, fatal := fuzzRead(t, strings.NewReader(text))
		for i, r := range rows {
			if i > 0 && r.Line <= rows[i-1].Line {
				t.Fatalf("line %d after line %d: lines must increase", r.Line, rows[i-1].Line)
			}
			if r.Line < 2 {
				t.Fatalf("row at line %d: the header is line 1 or later", r.Line)
			}
			if r.Problem != "" {
				continue
			}
			if !r.TokenType.Valid() || r.Username == "" || r.TokenSn == "" || len(r.TokenSn) > MaxFieldBytes || len(r.Username) > MaxFieldBytes {
				t.Fatalf("row %+v accepted but not sendable", r)
			}
			for _, v := range []string{r.Username, r.TokenSn} {
				if !utf8.ValidString(v) || strings.ContainsFunc(v, func(c rune) bool {
					return c != ' ' && (unicode.IsControl(c) || unicode.In(c, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp) || c == utf8.RuneError)
				}) {
					t.Fatalf("row %+v accepted with an invisible, control or replaced character", r)
				}
				if scientific(v) || strings.HasPrefix(v, `="`) && strings.HasSuffix(v, `"`) && len(v) >= 3 {
					t.Fatalf("row %+v accepted with a value Excel changed", r)
				}
			}
		}
		// The pre-pass counts what Read returns, and refuses what it refuses.
		if rd, err := NewReader("fuzz.csv", strings.NewReader(text), ReaderOptions{}); err == nil {
			n, err := rd.Count()
			if (err != nil) != (fatal != nil) || fatal == nil && n != len(rows) {
				t.Fatalf("Count = %d, %v; Read gave %d rows, fatal %v", n, err, len(rows), fatal)
			}
		}
		// Read a byte at a time (a CR at the end of every buffer): the same.
		if len(text) < 4096 {
			rows1, fatal1 := fuzzRead(t, iotest.OneByteReader(strings.NewReader(text)))
			if fmt.Sprint(rows1, fatal1) != fmt.Sprint(rows, fatal) {
				t.Fatalf("read a byte at a time:\n%v %v\nwant\n%v %v", rows1, fatal1, rows, fatal)
			}
		}
	})
}

// fuzzRead reads every row; fatal is the *InputError that stopped it.
func fuzzRead(t *testing.T, in io.Reader) (rows []Row, fatal error) {
	rd, err := NewReader("fuzz.csv", in, ReaderOptions{})
	if err != nil {
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Fatalf("NewReader error %T %v is not an *InputError", err, err)
		}
		return nil, err
	}
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Read error %T %v is not an *InputError", err, err)
			}
			return rows, err
		}
		rows = append(rows, r)
	}
}

func TestDedupGrowsAndFinds(t *testing.T) {
	d := newDedup(0)
	const n = 5000
	for i := range n {
		if first := d.check(client.OTP, fmt.Sprintf("SN%d", i), "u", i+2).first; first != 0 {
			t.Fatalf("SN%d first seen at %d, want new", i, first)
		}
	}
	for i := range n {
		s := d.check(client.OTP, fmt.Sprintf("SN%d", i), "v", n+i+2)
		if first, other := s.first, s.otherUser; first != i+2 || !other {
			t.Fatalf("SN%d = line %d other %v, want line %d other true", i, first, other, i+2)
		}
	}
	if first := d.check(client.SMS, "SN1", "u", 99999).first; first != 0 {
		t.Errorf("same serial as SMS = duplicate of %d, want new (the type is part of the key)", first)
	}
}

func TestCountMatchesRead(t *testing.T) {
	for _, text := range []string{
		"username,tokenSn,tokenType\nalice,OTP1,2\n\n  \nbob,12,1\nal\"ice,x,2\nextra,fields,2,3\n",
		"username,tokenSn,tokenType\n",
		"username,tokenSn,tokenType\nalice,\"OTP1,2\n",
	} {
		rows, fatal := readAll(t, text)
		rd, err := NewReader("in.csv", strings.NewReader(text), ReaderOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n, err := rd.Count()
		if (err != nil) != (fatal != nil) {
			t.Errorf("Count(%q) error = %v, Read's fatal = %v", text, err, fatal)
		}
		if fatal == nil && n != len(rows) {
			t.Errorf("Count(%q) = %d, Read gave %d rows", text, n, len(rows))
		}
	}
}

func TestPhoneVariant(t *testing.T) {
	rows := []struct {
		user, sn string
		want     string // a substring of the warning, "" for none
	}{
		{"alice", "+60120000001", ""},
		{"bob", "60120000001", "line 2 gives the same phone number, written with another prefix (+, 00 or 0), to another user"},
		{"carol", "0060120000001", "line 2 gives the same phone number"},
		{"dave", "060120000001", "line 2 gives the same phone number"},
		{"alice", "0060120000001", "line 2 gives this user the same phone number"},
		{"erin", "0120000002", ""},
		{"frank", "+120000002", "line 7 gives the same phone number"},
		{"gina", "+60120000003", ""},                                    // a different number
		{"hank", "60120000030", ""},                                     // not a prefix variant: a digit more at the end
		{"ivy", "+0060120000003", "line 9 gives the same phone number"}, // an unusual prefix
		{"gina", "0060120000003", "line 9 gives this user the same phone number"},
	}
	d := newDedup(0)
	for i, r := range rows {
		row := Row{Line: i + 2, Username: r.user, TokenSn: r.sn, TokenType: client.SMS}
		got := phoneVariant(d.check(row.TokenType, row.TokenSn, row.Username, row.Line))
		if r.want == "" && got != "" || !strings.Contains(got, r.want) {
			t.Errorf("line %d (%s, %s): warning %q, want %q", row.Line, r.user, r.sn, got, r.want)
		}
	}
	// The table grows past its first size: the writings of a number are
	// still found together.
	for i := range 5000 {
		d.check(client.SMS, fmt.Sprintf("+6013%08d", i), "u", 100+i)
	}
	for i := range 5000 {
		s := d.check(client.SMS, fmt.Sprintf("06013%08d", i), "v", 10000+i)
		if s.first != 0 || s.variant != 100+i || !s.variantOther {
			t.Fatalf("06013%08d after growth: %+v, want variant of line %d for another user", i, s, 100+i)
		}
	}
	otp := Row{Line: 99, Username: "zed", TokenSn: "60120000001", TokenType: client.OTP}
	if got := phoneVariant(d.check(otp.TokenType, otp.TokenSn, otp.Username, otp.Line)); got != "" {
		t.Errorf("an OTP serial got the phone warning %q", got)
	}
}

// repeatReader gives n bytes of pattern, repeated, without holding them.
type repeatReader struct {
	pattern string
	n       int
	chunk   string
	off     int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if r.chunk == "" {
		r.chunk = strings.Repeat(r.pattern, max(1, (64<<10)/len(r.pattern)))
	}
	k := copy(p[:min(len(p), r.n)], r.chunk[r.off:])
	r.off = (r.off + k) % len(r.chunk)
	r.n -= k
	return k, nil
}

// TestReaderBoundedMemory: a 100 MB field, a 100 MB quoted field of many
// lines and a header of a million columns are read without holding them
// (SPEC §7: 64 MB for a million rows, whatever the file holds). The rows
// around the long one keep their lines.
func TestReaderBoundedMemory(t *testing.T) {
	const size = 100 << 20
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(64 << 20))
	measure := func(t *testing.T, f func()) {
		t.Helper()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		// A record of 64 KiB holds at most 64K fields: a few MB of slices
		// at worst, whatever the file holds.
		if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
			t.Errorf("reading allocated %d MB, want under 16 MB", got>>20)
		}
	}
	t.Run("field", func(t *testing.T) {
		measure(t, func() {
			in := io.MultiReader(strings.NewReader("username,tokenSn,tokenType\nalice,"), &repeatReader{pattern: "A", n: size}, strings.NewReader(",2\nbob,OTP1,2\n"))
			rows := readReader(t, in)
			if len(rows) != 2 || rows[0].Line != 2 || !strings.Contains(rows[0].Problem, "over the limit of 65536 bytes") || rows[1].Line != 3 || rows[1].Problem != "" {
				t.Errorf("rows = %+v", rows)
			}
		})
	})
	t.Run("quoted field of many lines", func(t *testing.T) {
		measure(t, func() {
			in := io.MultiReader(strings.NewReader("username,tokenSn,tokenType\nalice,\""), &repeatReader{pattern: strings.Repeat("x", 1023) + "\n", n: size}, strings.NewReader("\",2\nbob,OTP1,2\n"))
			rows := readReader(t, in)
			if len(rows) != 2 || rows[0].Line != 2 || !strings.Contains(rows[0].Problem, "over the limit") || rows[1].Line != size/1024+3 {
				t.Errorf("rows = %+v", rows)
			}
		})
	})
	t.Run("header of a million columns", func(t *testing.T) {
		measure(t, func() {
			_, err := NewReader("in.csv", io.MultiReader(&repeatReader{pattern: ",", n: 1_000_000}, strings.NewReader("\nalice,OTP1,2\n")), ReaderOptions{})
			var ie *InputError
			if !errors.As(err, &ie) || ie.Line != 1 || !strings.Contains(err.Error(), "over the limit of 65536 bytes") {
				t.Errorf("error = %v, want line 1 over the limit", err)
			}
		})
	})
}

func readReader(t *testing.T, in io.Reader) []Row {
	t.Helper()
	rd, err := NewReader("in.csv", in, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for {
		r, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
}
