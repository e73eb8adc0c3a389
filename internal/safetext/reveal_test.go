package safetext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestReveal(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain ASCII", "alice", "alice"},
		{"empty", "", ""},
		{"accents kept", "ádmín 用户", "ádmín 用户"},
		{"plain space kept", "a b", "a b"},
		{"zero width space", "ali\u200bce", `ali\u200bce`},
		{"right-to-left override", "user\u202egnp.exe", `user\u202egnp.exe`},
		{"bidi isolate", "\u2067abc\u2069", `\u2067abc\u2069`},
		{"no-break space around a value", "\u00a0alice\u00a0", `\u00a0alice\u00a0`},
		{"ideographic space", "a\u3000b", `a\u3000b`},
		{"tab and line ends named, not turned into spaces", "a\tb\r\nc", `a\u0009b\u000d\u000ac`},
		{"NUL and ESC", "a\x00\x1b[2J", `a\u0000\u001b[2J`},
		{"C1 control", "a\u0085b", `a\u0085b`},
		{"separators", "a\u2028b\u2029", `a\u2028b\u2029`},
		{"byte order mark", "\ufeffalice", `\ufeffalice`},
		{"tag characters", "ok\U000E0041", `ok\U000e0041`},
		{"invalid UTF-8 left to the caller", "a\xffb", "a\xffb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Reveal(tt.in)
			if got != tt.want {
				t.Errorf("Reveal(%q) = %q, want %q", tt.in, got, tt.want)
			}
			for _, r := range got {
				if r != ' ' && (unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp)) {
					t.Errorf("Reveal(%q) = %q still holds U+%04X", tt.in, got, r)
				}
			}
			if utf8.ValidString(tt.in) {
				if back := Unreveal(got); back != tt.in {
					t.Errorf("Unreveal(Reveal(%q)) = %q", tt.in, back)
				}
			}
		})
	}
}

func TestUnreveal(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"nothing to undo", "alice", "alice"},
		{"zero width space", `ali\u200bce`, "ali\u200bce"},
		{"upper-case hex", `ali\u200Bce`, "ali\u200bce"},
		{"long escape", `ok\U000e0041`, "ok\U000E0041"},
		{"escape of a visible character kept", `caf\u00e9`, `caf\u00e9`},
		{"not hex kept", `a\u20zz`, `a\u20zz`},
		{"too short kept", `a\u20`, `a\u20`},
		{"a lone backslash kept", `domain\user`, `domain\user`},
		{"escape at the very start", `\u00a0a`, "\u00a0a"},
		{"escape at the very end", `a\u00a0`, "a\u00a0"},
		{"two in a row", `\u202e\u202c`, "\u202e\u202c"},
		{"out of range kept", `\U00110000`, `\U00110000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Unreveal(tt.in); got != tt.want {
				t.Errorf("Unreveal(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzReveal(f *testing.F) {
	for _, s := range []string{"alice", "ali\u200bce", "\u00a0x", "a\tb", `\u200b`, "ok\U000E0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.Contains(s, `\u`) || strings.Contains(s, `\U`) {
			return // Unreveal reads what Reveal wrote; literal escapes are ambiguous
		}
		got := Reveal(s)
		if back := Unreveal(got); back != s {
			t.Errorf("Unreveal(Reveal(%q)) = %q", s, back)
		}
		if Reveal(got) != got {
			t.Errorf("Reveal(%q) is not stable: %q", got, Reveal(got))
		}
	})
}
