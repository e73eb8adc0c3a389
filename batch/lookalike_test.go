package batch

import (
	"strings"
	"testing"
)

// TestLookalikesRefused pins that a value which reads as one thing and is
// another is never sent, and that the message names the character by its
// code point and its likely source; and that values wholly in another
// script, or with an apostrophe inside, still go out.
func TestLookalikesRefused(t *testing.T) {
	tests := []struct {
		name, row, want string // want "" = the row is valid
	}{
		{"fullwidth serial", "alice,ＡＢＣ１２３,OTP", "U+FF21 (fullwidth 'A', typed with an East Asian input method) at position 1"},
		{"curly-quoted serial", "alice,“ABC123”,OTP", "U+201C (left double quotation mark"},
		{"en dash in serial", "alice,ABC–123,OTP", "U+2013 (en dash"},
		{"cyrillic letter in serial", "alice,АBC123,OTP", "U+0410 (a Cyrillic letter) at position 1"},
		{"other non-ASCII in serial", "alice,ABC€123,OTP", "non-ASCII character U+20AC at position 4"},
		{"ascii serial", "alice,ABC-123,OTP", ""},
		{"fullwidth phone", "alice,６０１２３４５６７８９,SMS", "U+FF16 (fullwidth '6'"},
		{"arabic-indic digits in phone", "alice,+60١٢23456789,SMS", "U+0661 (the digit 1 of another script) at position 4"},
		{"phone read as a decimal", "alice,60123456789.0,SMS", `ends in ".0": a spreadsheet or a script read the column as a decimal number`},
		{"short phone with .0 keeps the rule", "alice,123.0,SMS", "no spaces or dashes"},
		{"username in curly quotes", "“alice”,ABC123,OTP", "starts or ends with U+201C"},
		{"apostrophe inside a username", "O’Brien,ABC123,OTP", ""},
		{"cyrillic e in a latin username", "alicе,ABC123,OTP", "mixes Latin letters with U+0435 (a Cyrillic letter) at position 5"},
		{"greek omicron in a latin username", "bοb,ABC123,OTP", "U+03BF (a Greek letter) at position 2"},
		{"fullwidth username", "ａlice,ABC123,OTP", "U+FF41 (fullwidth 'a'"},
		{"arabic digit after ascii", "user٣,ABC123,OTP", "U+0663 (the digit 3 of another script) at position 5"},
		{"cyrillic username", "Кирилл,ABC123,OTP", ""},
		{"greek username", "Ελένη,ABC123,OTP", ""},
		{"chinese username", "王伟,ABC123,OTP", ""},
		{"arabic username with its digit", "محمد٣,ABC123,OTP", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, fatal := readAll(t, "username,tokenSn,tokenType\n"+tt.row+"\n")
			if fatal != nil {
				t.Fatalf("fatal error %v", fatal)
			}
			if len(rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(rows))
			}
			got := rows[0].Problem
			switch {
			case tt.want == "" && got != "":
				t.Errorf("problem = %q, want the row valid", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("problem = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestDigitValue(t *testing.T) {
	for r, want := range map[rune]int{'٣': 3, '०': 0, '९': 9, '𝟗': 9, '𝟘': 0, '𝟬': 0, '𝟭': 1, '５': 5} {
		if got := digitValue(r); got != want {
			t.Errorf("digitValue(%U) = %d, want %d", r, got, want)
		}
	}
}

// TestTypographicNamed: every typographic look-alike has its name in the
// one table of character names, which its message quotes.
func TestTypographicNamed(t *testing.T) {
	for r := range typographic {
		if charNames[r] == "" {
			t.Errorf("%U is typographic but has no name in charNames", r)
		}
	}
}
