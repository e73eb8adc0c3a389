package ledger

import (
	"strings"
	"testing"
)

// The cases are report's (report/escape_test.go): ledger duplicates
// report.Escape's rule because it may not import report, and a ledger export
// must guard cells exactly as a result file does.
func TestEscape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "alice", "alice"},
		{"equals", "=1+2", "'=1+2"},
		{"at", "@SUM(A1)", "'@SUM(A1)"},
		{"tab", "\tx", "'\tx"},
		{"carriage return", "\rx", "'\rx"},
		{"phone", "+60123456789", "+60123456789"},
		{"negative number", "-42", "-42"},
		{"plus alone", "+", "'+"},
		{"minus alone", "-", "'-"},
		{"plus formula", "+1+2", "'+1+2"},
		{"minus formula", "-A1", "'-A1"},
		{"plus with space", "+60 123", "'+60 123"},
		{"decimal", "-1.5", "'-1.5"},
		{"non-ASCII digit", "+٣", "'+٣"},
		{"quote then text", "'abc", "'abc"},
		{"quote alone", "'", "'"},
		{"quote then formula", "'=1", "''=1"},
		{"quotes then formula", "'''@x", "''''@x"},
		{"quote then phone", "'+601", "'+601"},
		{"equals inside", "a=b", "a=b"},
		{"newline first", "\nx", "\nx"},
		{"space first", " =1", " =1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := escape(tt.in); got != tt.want {
				t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got := unescape(tt.want); got != tt.in {
				t.Errorf("unescape(%q) = %q, want %q", tt.want, got, tt.in)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	// unescape strips a quote only where escape would have added one.
	tests := []struct{ in, want string }{
		{"'abc", "'abc"},
		{"'", "'"},
		{"''", "''"},
		{"'+601", "'+601"},
		{"'=1", "=1"},
		{"''=1", "'=1"},
		{"'-", "-"},
		{"x'=1", "x'=1"},
		{"+601", "+601"},
	}
	for _, tt := range tests {
		if got := unescape(tt.in); got != tt.want {
			t.Errorf("unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzEscapeRoundTrip(f *testing.F) {
	for _, s := range []string{"", "=", "+", "-", "@", "\t", "\r", "+601", "-1", "'", "''=", "'+1", "'-a", "a", "=HYPERLINK(\"x\")"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := escape(s)
		if got := unescape(e); got != s {
			t.Fatalf("unescape(escape(%q)) = %q (escape gave %q)", s, got, e)
		}
		if strings.TrimLeft(e, "'") == e && needsGuard(e) {
			t.Fatalf("escape(%q) = %q, which a spreadsheet would run", s, e)
		}
	})
}
