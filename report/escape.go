package report

import "strings"

// Escape guards a cell against formula injection (SPEC §5): a cell that a
// spreadsheet would run as a formula, one starting with '=', '+', '-', '@',
// a tab or a carriage return, is returned with a leading "'". A '+' or '-'
// followed only by digits (a phone number such as +60123456789, a signed
// number) is left as it is: no spreadsheet runs it and operators must be able
// to read it.
//
// So that Unescape(Escape(s)) == s for every s, a cell that starts with a
// quote is guarded too when what follows its leading quotes would need a
// guard:
//
//	Escape("=1") == "'=1"
//	Escape("'=1") == "''=1"
//	Escape("'abc") == "'abc"
//	Escape("+60123456789") == "+60123456789"
func Escape(s string) string {
	if needsGuard(s) {
		return "'" + s
	}
	return s
}

// Unescape undoes Escape: it strips one leading "'" when the rest of s needs
// a guard, and returns s unchanged otherwise. A cell that Escape did not
// change (which includes hand-typed cells such as "'abc") is never altered.
func Unescape(s string) string {
	if len(s) > 0 && s[0] == '\'' && needsGuard(s[1:]) {
		return s[1:]
	}
	return s
}

// needsGuard is the recursive rule "formula(s) or (s starts with ' and
// needsGuard(s[1:]))", unrolled: formula never holds for a string that starts
// with a quote, so only what follows the leading quotes matters.
func needsGuard(s string) bool {
	return isFormula(strings.TrimLeft(s, "'"))
}

// isFormula reports whether a spreadsheet would evaluate s.
func isFormula(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return true
	case '+', '-':
		return !allDigits(s[1:])
	}
	return false
}

// allDigits reports whether s is one or more ASCII digits.
func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
