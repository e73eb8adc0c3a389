// Package safetext makes text from an untrusted server safe to print: to a
// terminal, a log line, a CSV cell, a JSON document or a Prometheus label.
// It is the one sanitiser of tokenreg (issue 16): client applies it to every
// server text as it decodes an answer, and report applies it again, as a
// belt, to the server text it writes out.
//
// Reveal does the same for the operator's own input shown back in a
// result cell (an invalid row's username or serial), losslessly: Unreveal
// reads it back when a result file is the input of a retry.
//
// It changes only what cannot be seen or what would act on a terminal; it
// never shortens or rewrites visible text, and it does not scrub secrets
// (the client does that, since only it knows them).
package safetext

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sanitize returns s with every character that could paint a terminal,
// forge a line or hide text replaced by something visible:
//
//   - a tab, CR, LF, NEL (U+0085), line or paragraph separator (U+2028,
//     U+2029) becomes one space: the text stays one line, its words apart;
//   - every other control character (C0, DEL, C1, which includes ESC and the
//     8-bit CSI U+009B) and every invisible format character (Unicode
//     category Cf: the bidirectional embeddings, overrides and isolates
//     U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F, zero-width
//     characters, the byte order mark, the tag characters U+E0000–U+E007F)
//     becomes its escape in Go and JSON syntax, e.g. ESC becomes the six
//     characters \u001b and U+202E becomes \u202e, so the operator sees
//     that the server sent it;
//   - a byte that is not valid UTF-8 becomes U+FFFD.
//
// Sanitize(Sanitize(s)) == Sanitize(s), and Sanitize returns s itself (no
// copy) when s is printable ASCII, the common case.
func Sanitize(s string) string {
	i := 0
	for i < len(s) && s[i] >= 0x20 && s[i] < 0x7f {
		i++
	}
	if i == len(s) {
		return s
	}
	if IsClean(s[i:]) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for j := i; j < len(s); {
		r, n := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
			j++
			continue
		}
		j += n
		switch {
		case isBreak(r):
			b.WriteByte(' ')
		case hidden(r):
			writeEscape(&b, r)
		default:
			b.WriteString(s[j-n : j])
		}
	}
	return b.String()
}

// IsClean reports whether Sanitize(s) == s.
func IsClean(s string) bool {
	for j := 0; j < len(s); {
		c := s[j]
		if c >= 0x20 && c < 0x7f {
			j++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[j:])
		if r == utf8.RuneError && n == 1 || isBreak(r) || hidden(r) {
			return false
		}
		j += n
	}
	return true
}

// isBreak reports whether r separates words or lines: it becomes a space.
func isBreak(r rune) bool {
	switch r {
	case '\t', '\n', '\r', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// hidden reports whether r acts on a terminal or cannot be seen.
func hidden(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

func writeEscape(b *strings.Builder, r rune) {
	if r <= 0xffff {
		b.WriteString(`\u`)
		h := strconv.FormatInt(int64(r), 16)
		b.WriteString(strings.Repeat("0", 4-len(h)))
		b.WriteString(h)
		return
	}
	b.WriteString(`\U`)
	h := strconv.FormatInt(int64(r), 16)
	b.WriteString(strings.Repeat("0", 8-len(h)))
	b.WriteString(h)
}
