package batch

import (
	"strings"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// outcome is what the reader and the workers hand to the writer for one
// row: its result row, and the facts about it that the writer, the ledger,
// the breaker and a later --resume act on. The facts travel as fields; the
// notes that tell the operator about them are appended to the message in one
// place (result) and read back in one place (parseNotes), when an earlier
// result file is read.
type outcome struct {
	report.Result // Message without the notes below
	// tokenType is the row's token type; valid when the row was sent.
	tokenType client.TokenType
	// unknown: a request for this row (in this run, or an earlier one that
	// crashed or gave up) may have been applied without an answer.
	unknown bool
	// lost: a needs-action code (29004, 29008, 29017) that most likely met
	// this row's own earlier, unanswered success. Implies unknown.
	lost bool
}

// The notes appended to a row's message (SPEC §5). Each says one fact; the
// wording may change, as long as parseNotes reads back every wording a
// released tokenreg wrote.
const (
	// lostNote: a needs-action code after an attempt with unknown outcome.
	lostNote = report.LostSuccessNote
	// maybeNote: a transient code every time, after an attempt with
	// unknown outcome.
	maybeNote = " (an earlier attempt's answer was lost; the token may already be registered to this user)"
	// unknownNote: an error row whose request may have reached the server.
	unknownNote = " (outcome unknown: the request may have reached the server)"
)

// result is the row as written: the message carries the notes that say
// what o's flags say.
func (o *outcome) result() report.Result {
	r := o.Result
	r.Message = withNotes(r.Status, r.Message, o.unknown, o.lost)
	return r
}

// withNotes appends to msg the note for the facts of a row with status st.
// It is the only place the notes are written.
func withNotes(st report.Status, msg string, unknown, lost bool) string {
	switch {
	case st == report.StatusFailed && lost:
		return msg + lostNote
	case st == report.StatusFailed && unknown:
		return msg + maybeNote
	case st == report.StatusError && unknown:
		return msg + unknownNote
	}
	return msg
}

// parseNotes is withNotes read back, for a row of an earlier result file
// (--resume, and retry's input): the message without its note, and the
// facts the note stated. It is the only place the notes are read.
func parseNotes(st report.Status, msg string) (base string, unknown, lost bool) {
	switch st {
	case report.StatusFailed:
		if b, ok := strings.CutSuffix(msg, lostNote); ok {
			return b, true, true
		}
		if b, ok := strings.CutSuffix(msg, maybeNote); ok {
			return b, true, false
		}
	case report.StatusError:
		if b, ok := strings.CutSuffix(msg, unknownNote); ok {
			return b, true, false
		}
	}
	return msg, false, false
}

// sent reports whether a request went out for the row.
func (o *outcome) sent() bool { return o.Attempts > 0 }
