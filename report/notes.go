package report

import "strings"

// The notes a run appends to a row's message (SPEC §5). Each says one fact
// about the row; the wording may change, as long as ParseNotes reads back
// every wording a released tokenreg wrote. They are part of the result
// file's format, so they live here, with its Writer and Reader: batch writes
// them (WithNotes), and batch (--resume, retry) and the ledger's import read
// them back (ParseNotes). Nothing else looks at a message's text.
const (
	// LostNote: a needs-action code (29004, 29008, 29017) after an
	// attempt whose outcome is unknown: the row most likely met its own
	// earlier, unanswered success.
	LostNote = " (an earlier attempt's answer was lost; the token is probably registered to this user)"
	// MaybeNote: a transient code every time, after an attempt whose
	// outcome is unknown.
	MaybeNote = " (an earlier attempt's answer was lost; the token may already be registered to this user)"
	// UnknownNote: an error row whose request may have reached the server.
	UnknownNote = " (outcome unknown: the request may have reached the server)"
)

// WithNotes appends to msg the note for the facts of a row with status st:
// unknown, a request for it may have been applied without an answer; lost,
// it most likely met its own lost success (only for a failed row, and
// implies unknown). It is the only place the notes are written.
func WithNotes(st Status, msg string, unknown, lost bool) string {
	switch {
	case st == StatusFailed && lost:
		return msg + LostNote
	case st == StatusFailed && unknown:
		return msg + MaybeNote
	case st == StatusError && unknown:
		return msg + UnknownNote
	}
	return msg
}

// ParseNotes is WithNotes read back, for a row of an earlier result file:
// the message without its note, and the facts the note stated. It is the
// only place the notes are read.
func ParseNotes(st Status, msg string) (base string, unknown, lost bool) {
	switch st {
	case StatusFailed:
		if b, ok := strings.CutSuffix(msg, LostNote); ok {
			return b, true, true
		}
		if b, ok := strings.CutSuffix(msg, MaybeNote); ok {
			return b, true, false
		}
	case StatusError:
		if b, ok := strings.CutSuffix(msg, UnknownNote); ok {
			return b, true, false
		}
	}
	return msg, false, false
}
