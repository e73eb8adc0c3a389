package csvfile

import (
	"errors"
	"fmt"
)

// The errors of a RecordError besides csv.ErrBareQuote and csv.ErrQuote.
var (
	ErrTooLong  = errors.New("record too long")
	ErrUnclosed = errors.New("quoted field never closed")
)

// FileError is a problem that makes the rest of the file unreadable: not
// text, not UTF-8, a header that cannot be split unambiguously. Line is 0 when it is about the file as a whole.
type FileError struct {
	Line  int
	Msg   string
	Empty bool // the file holds no text at all
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return e.Msg
}

// RecordError is one malformed record; the Reader goes on with the line
// after EndLine.
type RecordError struct {
	Line      int   // where the record starts
	FieldLine int   // where the malformed quoted field starts (0: not a quoted field)
	ErrLine   int   // the line of the problem
	Column    int   // its 1-based byte column on ErrLine (0 for ErrTooLong)
	EndLine   int   // the last line read for the record; reading resumes after it
	Size      int   // the record's length in bytes, for ErrTooLong
	Max       int   // the limit, for ErrTooLong
	Err       error // csv.ErrBareQuote, csv.ErrQuote or ErrTooLong
}

func (e *RecordError) Error() string {
	switch {
	case errors.Is(e.Err, ErrUnclosed):
		return fmt.Sprintf("a quoted field that starts on line %d is never closed: it runs to the end of the file (line %d); add the missing '\"'", e.FieldLine, e.EndLine)
	case errors.Is(e.Err, ErrTooLong):
		return fmt.Sprintf("the record is %d bytes long%s, over the limit of %d bytes: the file may not be what you meant to give", e.Size, e.lines(), e.Max)
	case e.EndLine > e.Line:
		return fmt.Sprintf("malformed CSV: the quoted field that starts on line %d is broken on line %d at column %d (%v), so lines %d to %d were read as one row; reading resumed on line %d: check the quotes on line %d",
			e.FieldLine, e.ErrLine, e.Column, e.Err, e.Line, e.EndLine, e.EndLine+1, e.FieldLine)
	}
	return fmt.Sprintf("malformed CSV at column %d: %v", e.Column, e.Err)
}

func (e *RecordError) lines() string {
	if e.EndLine > e.Line {
		return fmt.Sprintf(" (lines %d to %d)", e.Line, e.EndLine)
	}
	return ""
}

// Unwrap returns Err.
func (e *RecordError) Unwrap() error { return e.Err }
