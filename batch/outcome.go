package batch

import (
	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// outcome is what the reader and the workers hand to the writer for one
// row: its result row, and the facts about it that the writer, the ledger,
// the breaker and a later --resume act on. The facts travel as fields; the
// notes that tell the operator about them are appended to the message in one
// place (result, through report.WithNotes) and read back in one place
// (report.ParseNotes), when an earlier result file is read.
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

// The notes appended to a row's message (SPEC §5) are part of the result
// file's format: report writes (WithNotes) and reads them back (ParseNotes),
// for batch and for the ledger's import alike.
const (
	lostNote    = report.LostNote    // a needs-action code after an attempt with unknown outcome
	maybeNote   = report.MaybeNote   // a transient code every time, after one
	unknownNote = report.UnknownNote // an error row whose request may have reached the server
)

// result is the row as written: the message carries the notes that say
// what o's flags say.
func (o *outcome) result() report.Result {
	r := o.Result
	r.Message = withNotes(r.Status, r.Message, o.unknown, o.lost)
	return r
}

// withNotes appends to msg the note for the facts of a row with status st
// (report.WithNotes, the only place the notes are written).
func withNotes(st report.Status, msg string, unknown, lost bool) string {
	return report.WithNotes(st, msg, unknown, lost)
}

// parseNotes is withNotes read back, for a row of an earlier result file
// (--resume, and retry's input): report.ParseNotes, the only place the
// notes are read.
func parseNotes(st report.Status, msg string) (base string, unknown, lost bool) {
	return report.ParseNotes(st, msg)
}

// sent reports whether a request went out for the row.
func (o *outcome) sent() bool { return o.Attempts > 0 }
