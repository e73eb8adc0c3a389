package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Reveal returns s with every character that cannot be seen written as its
// escape (\u200b, \u00a0, \u0009, \U000e0041), so that a cell that shows
// an operator's input is exactly what the operator sees: a zero-width
// space or a bidirectional override copied into a result cell would make
// the cell look like a valid value, or reorder what is around it. It
// escapes what tokenreg refuses in an input value: control characters (TAB
// and line ends too), format characters (Unicode category Cf), and every
// space and separator but the plain space (Zs, Zl, Zp: a no-break space
// is invisible next to a space). Invalid UTF-8 is left as it is: the
// caller replaces it (the row's message names it).
//
// Reveal(s) returns s itself when there is nothing to reveal; Unreveal
// undoes it.
func Reveal(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	done := 0 // s[:done] is in b, once something was escaped
	for j := i; j < len(s); {
		r, n := utf8.DecodeRuneInString(s[j:])
		if (r != utf8.RuneError || n > 1) && unseen(r) {
			if done == 0 {
				b.Grow(len(s) + 16)
			}
			b.WriteString(s[done:j])
			writeEscape(&b, r)
			done = j + n
		}
		j += n
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}

// unseen reports whether Reveal escapes r.
func unseen(r rune) bool {
	return r != ' ' && (unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp))
}

// Unreveal is Reveal undone: each \uXXXX or \UXXXXXXXX escape (either case
// of hex digits) of a character Reveal escapes becomes that character;
// every other text, an escape of a visible character included, is kept.
// It reads back a cell Reveal wrote (a result file read as the input of a
// retry), so that the value is checked again as it was, invisible
// characters and all, rather than sent with a backslash in it.
func Unreveal(s string) string {
	if !strings.Contains(s, `\u`) && !strings.Contains(s, `\U`) {
		return s
	}
	var b strings.Builder
	done := 0 // s[:done] is in b, once something was undone
	for j := 0; j+6 <= len(s); {
		k := strings.IndexByte(s[j:], '\\')
		if k < 0 {
			break
		}
		j += k
		width := 0
		switch {
		case j+6 <= len(s) && s[j+1] == 'u':
			width = 4
		case j+10 <= len(s) && s[j+1] == 'U':
			width = 8
		}
		if width > 0 {
			if v, err := strconv.ParseUint(s[j+2:j+2+width], 16, 32); err == nil && v <= unicode.MaxRune && utf8.ValidRune(rune(v)) && unseen(rune(v)) {
				b.WriteString(s[done:j])
				b.WriteRune(rune(v))
				j += 2 + width
				done = j
				continue
			}
		}
		j++
	}
	if done == 0 {
		return s
	}
	b.WriteString(s[done:])
	return b.String()
}
