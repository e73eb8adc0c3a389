package csvfile

import (
	"strings"
	"unicode"
)

// BOM is the UTF-8 byte order mark that spreadsheet programs put in front of
// a CSV they save ("CSV UTF-8").
const BOM = "\uFEFF"

// TimeLayout is the timestamp format of every file tokenreg writes
// (finished_at, registered_at): RFC 3339 in UTC with milliseconds, e.g.
// 2026-11-28T13:14:15.123Z. Fixed width, so the text sorts in time order
// (the ledger stores registered_at so); time.RFC3339Nano parses it back.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// FoldName folds a column name for matching: case is ignored, and so are
// '_', '-', '.', spaces, line breaks (a header cell typed with Alt+Enter) and
// invisible characters (a BOM, a zero-width space), so that "Token_SN",
// "token-sn", "Token SN" and "Token\nSN" are all "tokensn".
func FoldName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '_' || r == '-' || r == '.':
			return -1
		case unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zs, r):
			return -1
		}
		return unicode.ToLower(r)
	}, name)
}
