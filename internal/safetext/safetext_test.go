package safetext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain ASCII", "Phone number had been used", "Phone number had been used"},
		{"empty", "", ""},
		{"accents and CJK kept", "Utilisateur introuvable: ádmín 用户", "Utilisateur introuvable: ádmín 用户"},
		{"emoji kept", "ok \U0001F600", "ok \U0001F600"},
		{"ESC sequence (retitle, clear)", "\x1b]0;pwned\x07\x1b[2J\x1b[H", `\u001b]0;pwned\u0007\u001b[2J\u001b[H`},
		{"8-bit CSI", "a\u009b2Jb", `a\u009b2Jb`},
		{"DEL", "a\x7fb", `a\u007fb`},
		{"NUL", "a\x00b", `a\u0000b`},
		{"line breaks become spaces", "line1\nline2\r\nend\t.", "line1 line2  end ."},
		{"NEL and separators", "a\u0085b\u2028c\u2029d", "a b c d"},
		{"right-to-left override", "user \u202egnp.exe", `user \u202egnp.exe`},
		{"every bidi embedding and override", "\u202a\u202b\u202c\u202d\u202e", `\u202a\u202b\u202c\u202d\u202e`},
		{"bidi isolates", "\u2066\u2067\u2068\u2069", `\u2066\u2067\u2068\u2069`},
		{"marks and zero-width", "\u200e\u200f\u200b\u2060\ufeff", `\u200e\u200f\u200b\u2060\ufeff`},
		{"tag characters (hidden ASCII)", "ok\U000E0041\U000E0042", `ok\U000e0041\U000e0042`},
		{"soft hyphen", "pass\u00adword", `pass\u00adword`},
		{"invalid UTF-8", "n\xe3o \xff", "n\uFFFDo \uFFFD"},
		{"escape text itself kept", `literal \u001b`, `literal \u001b`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Sanitize(tt.in)
			if got != tt.want {
				t.Errorf("Sanitize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if IsClean(tt.in) != (got == tt.in) {
				t.Errorf("IsClean(%q) = %t, want %t", tt.in, IsClean(tt.in), got == tt.in)
			}
			if again := Sanitize(got); again != got {
				t.Errorf("Sanitize(Sanitize(%q)) = %q, want %q (idempotent)", tt.in, again, got)
			}
		})
	}
}

// TestSanitizeEveryRune checks the guarantee on every code point of the
// planes that hold control or format characters (0, 1, 2 and 14; the test
// checks that no other plane has one): the output is valid UTF-8 with no
// control, format or separator character in it.
func TestSanitizeEveryRune(t *testing.T) {
	for _, table := range []*unicode.RangeTable{unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp} {
		for _, r32 := range table.R32 {
			if p := r32.Lo >> 16; p != 1 && p != 2 && p != 14 {
				t.Fatalf("U+%04X is in plane %d: extend the loop below", r32.Lo, p)
			}
		}
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xd800 && r <= 0xdfff {
			continue // not encodable in UTF-8
		}
		if r == 0x30000 {
			r = 0xe0000 // planes 3 to 13 hold no control or format character
		}
		if r == 0xf0000 {
			break // private use
		}
		s := "x" + string(r) + "y"
		got := Sanitize(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Sanitize(%q) = %q, not valid UTF-8", s, got)
		}
		for _, c := range got {
			if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == '\u2028' || c == '\u2029' {
				t.Fatalf("Sanitize(%q) = %q, still holds U+%04X", s, got, c)
			}
		}
		if !strings.HasPrefix(got, "x") || !strings.HasSuffix(got, "y") {
			t.Fatalf("Sanitize(%q) = %q, lost the text around the character", s, got)
		}
	}
}

func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"", "ok", "\x1b[31mred", "\u202e", "\xff", "\U000E0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if !utf8.ValidString(got) || !IsClean(got) || Sanitize(got) != got {
			t.Errorf("Sanitize(%q) = %q: not clean or not idempotent", s, got)
		}
		if IsClean(s) && got != s {
			t.Errorf("Sanitize(%q) = %q, want a clean string unchanged", s, got)
		}
	})
}

func BenchmarkSanitizeASCII(b *testing.B) {
	s := "Phone number had been used"
	for b.Loop() {
		_ = Sanitize(s)
	}
}
