package batch

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Look-alike characters: values that read as one thing and are another.
// A server compares usernames and serials byte for byte, so a value a
// person reads as "ABC123" but that holds a fullwidth Ａ, a Cyrillic А or a
// word processor's curly quote would be sent as a different value: bound to
// nobody, or refused with a puzzling "user not found". These are never
// sent; the message names the character by its code point and says what
// probably put it there.

// typographic is the punctuation that word processors and mail programs
// put in place of what was typed (charNames names each).
var typographic = map[rune]bool{
	0x2018: true, 0x2019: true, 0x201A: true, 0x201B: true, 0x201C: true, 0x201D: true, 0x201E: true, 0x201F: true,
	0x00AB: true, 0x00BB: true, 0x2039: true, 0x203A: true,
	0x2010: true, 0x2011: true, 0x2012: true, 0x2013: true, 0x2014: true, 0x2015: true, 0x2212: true, 0x2026: true,
}

// lookalikeName describes r when it is a look-alike of an ASCII character,
// with what probably put it there, or returns "".
func lookalikeName(r rune) string {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return fmt.Sprintf("U+%04X (fullwidth %q, typed with an East Asian input method)", r, r-0xFEE0)
	case typographic[r]:
		return fmt.Sprintf("U+%04X (%s, which a word processor or mail program puts in place of what was typed)", r, charNames[r])
	case unicode.IsDigit(r) && r >= utf8.RuneSelf:
		return fmt.Sprintf("U+%04X (the digit %d of another script)", r, digitValue(r))
	case unicode.Is(unicode.Cyrillic, r) && unicode.IsLetter(r):
		return fmt.Sprintf("U+%04X (a Cyrillic letter)", r)
	case unicode.Is(unicode.Greek, r) && unicode.IsLetter(r):
		return fmt.Sprintf("U+%04X (a Greek letter)", r)
	}
	return ""
}

// digitValue is the value of a decimal digit of any script: digits come in
// runs of ten in Unicode, each starting at its zero (some runs follow each
// other: mathematical digits are five runs in a row).
func digitValue(r rune) int {
	start := r
	for start > 0 && unicode.IsDigit(start-1) && r-start < 100 {
		start--
	}
	return int(r-start) % 10
}

// serialProblem checks an OTP serial: serials are printed on the tokens in
// ASCII, so any other character is a look-alike that a program or an input
// method put there.
func serialProblem(v string) string {
	pos := 0
	for _, r := range v {
		pos++
		if r < utf8.RuneSelf {
			continue
		}
		what := lookalikeName(r)
		if what == "" {
			what = fmt.Sprintf("U+%04X", r)
		}
		return fmt.Sprintf("OTP serial %q contains the non-ASCII character %s at position %d: token serials are ASCII letters and digits; retype it as printed on the token", clip(v), what, pos)
	}
	return ""
}

// usernameProblem refuses a username that reads as something it is not:
// fullwidth forms of ASCII, typographic quotes around it, Latin letters
// mixed with Cyrillic or Greek ones that look like them, or ASCII mixed
// with digits of another script. A username wholly in another script
// (Кирилл, Ελένη, 王伟, محمد٣) is left alone, and so is an apostrophe inside
// one (O’Brien).
func usernameProblem(v string) string {
	if printableASCII(v) {
		return "" // the common case: nothing here can be a look-alike
	}
	pos, latin, ascii := 0, false, false
	var mixed, digit rune
	mixedPos, digitPos := 0, 0
	for _, r := range v {
		pos++
		switch {
		case r < utf8.RuneSelf:
			latin = latin || unicode.IsLetter(r)
			ascii = ascii || unicode.IsLetter(r) || unicode.IsDigit(r)
			continue
		case r >= 0xFF01 && r <= 0xFF5E:
			return fmt.Sprintf("username %q contains %s at position %d: retype it in plain ASCII", clip(v), lookalikeName(r), pos)
		case digit == 0 && unicode.IsDigit(r):
			digit, digitPos = r, pos
		case typographic[r] && (pos == 1 || pos == utf8.RuneCountInString(v)):
			return fmt.Sprintf("username %q starts or ends with %s at position %d: the value was quoted in a document, not in the CSV; delete the quotes", clip(v), lookalikeName(r), pos)
		case mixed == 0 && (unicode.Is(unicode.Cyrillic, r) || unicode.Is(unicode.Greek, r)) && unicode.IsLetter(r):
			mixed, mixedPos = r, pos
		}
	}
	if ascii && digit != 0 {
		return fmt.Sprintf("username %q mixes ASCII with %s at position %d: retype it in one script", clip(v), lookalikeName(digit), digitPos)
	}
	if latin && mixed != 0 {
		return fmt.Sprintf("username %q mixes Latin letters with %s at position %d, which looks like a Latin one: retype it in one script", clip(v), lookalikeName(mixed), mixedPos)
	}
	return ""
}

// smsHint says why a value that is not an SMS number probably is not, when
// a program changed it: a trailing ".0" (read as a decimal number), digits
// of another script or fullwidth, a typographic dash. "" when there is
// nothing more specific to say than the rule.
func smsHint(v string) string {
	if strings.HasSuffix(v, ".0") && smsNumber(strings.TrimSuffix(v, ".0")) {
		return "it ends in \".0\": a spreadsheet or a script read the column as a decimal number; format the column as Text and export again"
	}
	pos := 0
	for _, r := range v {
		pos++
		if r < utf8.RuneSelf {
			continue
		}
		if what := lookalikeName(r); what != "" {
			return fmt.Sprintf("it contains %s at position %d", what, pos)
		}
		return fmt.Sprintf("it contains the non-ASCII character U+%04X at position %d", r, pos)
	}
	return ""
}
