package report

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// writeBufferSize is the buffer of the rows that wait for one Write call
// (BufferUnsent). A row never straddles two Write calls: one that does not
// fit in what is left of the buffer starts a new one.
const writeBufferSize = 64 << 10

// Writer writes the result CSV (SPEC §5): a header, then one row per Result,
// each flushed to the underlying io.Writer as soon as it is written, so that
// a crash loses at most the rows in flight.
//
// It encodes the rows itself, byte for byte as encoding/csv does (a test
// holds it to that), rather than through gocsv or encoding/csv: the columns
// are fixed and owned by this package, the numeric and time columns need
// their own format, every text cell goes through Escape first, and a row
// built in one reused buffer costs no allocation and reaches the file in one
// Write call.
//
// A Writer is not safe for concurrent use: exactly one goroutine (the run's
// writer) owns it. It does not close or sync the underlying io.Writer.
type Writer struct {
	bw   *bufio.Writer
	line []byte // the row being written, reused
	// stamp is finished_at up to its seconds for the UTC second stampSec:
	// rows finish many to a second, and formatting a time whole costs more
	// than the rest of the row.
	stamp    []byte
	stampSec int64

	bufferUnsent bool
}

// NewWriter returns a Writer that writes to w. Each row (and the header)
// reaches w in a single Write call.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, writeBufferSize)}
}

// BufferUnsent makes Write keep the rows of rows never sent (Attempts 0:
// skipped, invalid, valid) in its 64 KiB buffer instead of flushing each:
// nothing is in flight for them and --resume decides them again, so a
// crash may lose them, while one write(2) per row is most of the cost of a
// nightly run or a validate of a million rows. A sent row is still flushed
// at once, with the rows buffered before it, and every row reaches the file
// whole (in one Write call). The caller must call Flush at the end.
func (w *Writer) BufferUnsent() { w.bufferUnsent = true }

// Flush writes the buffered rows.
func (w *Writer) Flush() error { return w.bw.Flush() }

// WriteHeader writes header and flushes it. Call it once, before the first
// row, on a new file; a resumed file already has its header.
func (w *Writer) WriteHeader() error {
	b := w.line[:0]
	for i, h := range header {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendField(b, "", h)
	}
	return w.put(append(b, '\n'), false)
}

// Write writes r as one row in the order of header and flushes it (but see
// BufferUnsent). Text cells go through Escape; duration_ms is whole
// milliseconds; finished_at is RFC 3339 UTC with milliseconds, empty if
// r.FinishedAt is zero. An error means the row may not have reached the
// underlying writer; the Writer is then unusable (the error is sticky).
func (w *Writer) Write(r Result) error {
	b := strconv.AppendInt(w.line[:0], int64(r.Line), 10)
	for _, cell := range [...]string{r.Username, r.TokenSn, r.TokenType, string(r.Status), r.Code, r.Message} {
		b = appendCell(append(b, ','), cell)
	}
	b = strconv.AppendInt(append(b, ','), int64(r.Attempts), 10)
	b = strconv.AppendInt(append(b, ','), r.Duration.Milliseconds(), 10)
	b = append(b, ',')
	if !r.FinishedAt.IsZero() {
		b = w.appendTime(b, r.FinishedAt)
	}
	return w.put(append(b, '\n'), w.bufferUnsent && r.Attempts == 0)
}

// put hands a whole row to the buffer, in one piece, and flushes it unless
// buffer.
func (w *Writer) put(row []byte, buffer bool) error {
	w.line = row[:0] // keep what append grew
	if len(row) > w.bw.Available() && w.bw.Buffered() > 0 {
		// The row starts a new buffer, and so a new Write (one longer
		// than the buffer goes out alone, unbuffered).
		if err := w.bw.Flush(); err != nil {
			return err
		}
	}
	if _, err := w.bw.Write(row); err != nil {
		return err
	}
	if cap(w.line) > writeBufferSize {
		w.line = nil // an outsize row: its buffer is not kept
	}
	if buffer {
		return nil
	}
	return w.bw.Flush()
}

// appendCell appends a text cell: Escape(s) as encoding/csv writes it.
func appendCell(b []byte, s string) []byte {
	if needsGuard(s) {
		return appendField(b, "'", s)
	}
	return appendField(b, "", s)
}

// appendField appends the field guard+s as encoding/csv's Writer writes a
// field (Comma ',', UseCRLF false): quoted if it holds a comma, a quote or
// a line end, starts with a space (unicode.IsSpace) or is `\.`, with its
// quotes doubled.
func appendField(b []byte, guard, s string) []byte {
	f := s
	if guard != "" {
		f = guard // guard+s starts with the guard, which is no space
	}
	quote := csvSpecial(s) || guard == "" && s == `\.`
	if !quote && f != "" {
		r, _ := utf8.DecodeRuneInString(f)
		quote = unicode.IsSpace(r)
	}
	if !quote {
		return append(append(b, guard...), s...)
	}
	b = append(append(b, '"'), guard...)
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(append(b, s[:i+1]...), '"')
		s = s[i+1:]
	}
	return append(append(b, s...), '"')
}

// appendTime appends t in csvfile.TimeLayout, in UTC.
func (w *Writer) appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	if sec := t.Unix(); sec != w.stampSec || w.stamp == nil {
		w.stamp = t.AppendFormat(w.stamp[:0], stampLayout)
		w.stampSec = sec
	}
	ms := t.Nanosecond() / 1e6
	return append(append(b, w.stamp...), '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z')
}

// stampLayout is csvfile.TimeLayout up to its seconds; appendTime adds the
// milliseconds and the zone of a UTC time, "Z".
const stampLayout = "2006-01-02T15:04:05"

// csvSpecial reports whether s holds a comma, a quote or a line end.
func csvSpecial(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	return false
}
