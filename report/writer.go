package report

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// unsentHeadroom is the room a row must find in the buffer to be buffered:
// a row shorter than this never straddles two Write calls.
const unsentHeadroom = 8 << 10

// writeBufferSize bounds the row that reaches the file in one Write call.
// Rows are a few hundred bytes; a server message would have to be absurdly
// long to split a row into two writes (which Recover handles anyway).
const writeBufferSize = 64 << 10

// Writer writes the result CSV (SPEC §5): a header, then one row per Result,
// each flushed to the underlying io.Writer as soon as it is written, so that
// a crash loses at most the rows in flight.
//
// It uses encoding/csv directly rather than gocsv: the columns are fixed and
// owned by this package, the numeric and time columns need their own format,
// and every text cell must go through Escape first, so reflection would buy
// nothing and cost per row.
//
// A Writer is not safe for concurrent use: exactly one goroutine (the run's
// writer) owns it. It does not close or sync the underlying io.Writer.
type Writer struct {
	csv *csv.Writer
	bw  *bufio.Writer // csv's buffer
	rec [10]string    // reused for every row
	buf []byte        // numeric and time cells of the current row
	// stamp is finished_at up to its seconds for the UTC second stampSec:
	// rows finish many to a second, and formatting a time whole costs more
	// than the rest of the row.
	stamp    []byte
	stampSec int64

	bufferUnsent bool
}

// NewWriter returns a Writer that writes to w. Each call to WriteHeader or
// Write ends in a single Write call on w for rows up to 64 KiB.
func NewWriter(w io.Writer) *Writer {
	// csv.NewWriter keeps a *bufio.Writer that is large enough as it is, so
	// there is exactly one buffer between the rows and w.
	bw := bufio.NewWriterSize(w, writeBufferSize)
	return &Writer{csv: csv.NewWriter(bw), bw: bw}
}

// BufferUnsent makes Write keep the rows of rows never sent (Attempts 0:
// skipped, invalid, valid) in its 64 KiB buffer instead of flushing each:
// nothing is in flight for them and --resume decides them again, so a
// crash may lose them, while one write(2) per row is most of the cost of a
// nightly run or a validate of a million rows. A sent row is still flushed
// at once, with the rows buffered before it, and a buffered row reaches the
// file whole (in one Write call) unless it is over 8 KiB. The caller must
// call Flush at the end.
func (w *Writer) BufferUnsent() { w.bufferUnsent = true }

// Flush writes the buffered rows.
func (w *Writer) Flush() error {
	w.csv.Flush()
	return w.csv.Error()
}

// WriteHeader writes header and flushes it. Call it once, before the first
// row, on a new file; a resumed file already has its header.
func (w *Writer) WriteHeader() error {
	if err := w.csv.Write(header); err != nil {
		return err
	}
	w.csv.Flush()
	return w.csv.Error()
}

// Write writes r as one row in the order of header and flushes it (but see
// BufferUnsent). Text cells
// go through Escape; duration_ms is whole milliseconds; finished_at is RFC
// 3339 UTC with milliseconds, empty if r.FinishedAt is zero. An error means
// the row may not have reached the underlying writer; the Writer is then
// unusable (the error is sticky).
func (w *Writer) Write(r Result) error {
	// Format the four numeric cells into one reused buffer and convert it
	// to a string once: one allocation per row instead of four.
	b := strconv.AppendInt(w.buf[:0], int64(r.Line), 10)
	i1 := len(b)
	b = strconv.AppendInt(b, int64(r.Attempts), 10)
	i2 := len(b)
	b = strconv.AppendInt(b, r.Duration.Milliseconds(), 10)
	i3 := len(b)
	if !r.FinishedAt.IsZero() {
		b = w.appendTime(b, r.FinishedAt)
	}
	w.buf = b
	nums := string(b)

	rec := &w.rec
	rec[0] = nums[:i1]
	rec[1] = Escape(r.Username)
	rec[2] = Escape(r.TokenSn)
	rec[3] = Escape(r.TokenType)
	rec[4] = Escape(string(r.Status))
	rec[5] = Escape(r.Code)
	rec[6] = Escape(r.Message)
	rec[7] = nums[i1:i2]
	rec[8] = nums[i2:i3]
	rec[9] = nums[i3:]
	buffer := w.bufferUnsent && r.Attempts == 0
	if buffer && w.bw.Available() < unsentHeadroom {
		w.csv.Flush() // the row starts a new buffer, and so a new Write
	}
	if err := w.csv.Write(rec[:]); err != nil {
		return err
	}
	if buffer {
		return nil
	}
	w.csv.Flush()
	return w.csv.Error()
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
