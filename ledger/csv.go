package ledger

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gocarina/gocsv"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/internal/csvfile"
	"github.com/tokenreg/tokenreg/report"
)

// exportRow is one row of Export's CSV: gocsv writes the header from its
// tags, which are the export's column names in the export's order. Every
// field is the cell's text: Export formats the values and guards the cells
// itself.
type exportRow struct {
	Username     string `csv:"username"`
	TokenSn      string `csv:"tokenSn"`
	TokenType    string `csv:"tokenType"`
	RegisteredAt string `csv:"registered_at"`
	RunID        string `csv:"run_id"`
	Lost         string `csv:"lost"`
}

// handRow is a row of an export or of a hand-made result file (columns
// username, tokenSn, tokenType and status; finished_at if present): gocsv
// maps a record to it by the header. Every field is the cell's text, which
// Import parses itself, so that an error names the line and the value.
type handRow struct {
	Username     string `csv:"username"`
	TokenSn      string `csv:"tokenSn"`
	TokenType    string `csv:"tokenType"`
	RegisteredAt string `csv:"registered_at"`
	RunID        string `csv:"run_id"`
	Lost         string `csv:"lost"`
	Status       string `csv:"status"`
	FinishedAt   string `csv:"finished_at"`
}

// exportBatch is how many rows Export hands gocsv at a time: enough that
// the per-call work does not count, few enough that memory does not grow.
const exportBatch = 256

// Export writes every registration as CSV to w, with the header
// username,tokenSn,tokenType,registered_at,run_id,lost, in order of
// registered_at (RFC 3339, UTC). tokenType is written as SMS or OTP. lost
// is true for a success inferred rather than answered (see Record), false
// otherwise. Cells are guarded against formula injection as the result
// CSV's are (SPEC §5). It reads one consistent snapshot, even while another
// run is recording, and returns the number of registrations written. The
// rows are written through gocsv, in batches, as they are read.
func (l *Ledger) Export(ctx context.Context, w io.Writer) (int, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT username, token_type, token_sn, registered_at, run_id, lost
		FROM registrations ORDER BY registered_at, username, token_type, token_sn`)
	if err != nil {
		return 0, fmt.Errorf("export ledger: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	batch := make([]exportRow, 0, exportBatch)
	// An empty slice writes the header alone, as an empty ledger needs.
	if err := gocsv.MarshalCSV(batch, cw); err != nil {
		return 0, fmt.Errorf("export ledger: %w", err)
	}
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := gocsv.MarshalCSVWithoutHeaders(batch, cw); err != nil {
			return fmt.Errorf("export ledger: %w", err)
		}
		n += len(batch)
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		var user, sn, at, run string
		var t, lost int
		if err := rows.Scan(&user, &t, &sn, &at, &run, &lost); err != nil {
			return n, fmt.Errorf("export ledger: %w", err)
		}
		if ts, err := parseStored(at); err == nil {
			at = formatTime(ts)
		}
		batch = append(batch, exportRow{
			Username: report.Escape(user), TokenSn: report.Escape(sn), TokenType: client.TokenType(t).String(),
			RegisteredAt: report.Escape(at), RunID: report.Escape(run), Lost: strconv.FormatBool(lost != 0),
		})
		if len(batch) == exportBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export ledger: %w", err)
	}
	if err := flush(); err != nil {
		return n, err
	}
	return n, nil
}

// importRow is what one data row of an imported file asks: a registration
// to record, or nothing (skip).
type importRow struct {
	skip     bool
	user, sn string
	t        client.TokenType
	at, run  string // at as stored (formatTime)
	lost     bool
}

// rowSource returns the next data row of an imported file and the line it
// starts on, or io.EOF at the end. An error already names its line.
type rowSource func() (row importRow, line int, err error)

// Import records the registrations in a CSV read from r, in one transaction:
// all of them or, on error, none.
//
// r is one of:
//
//   - a tokenreg result file: its header has every column of SPEC §5
//     (line, username, tokenSn, tokenType, status, code, message, attempts,
//     duration_ms, finished_at; in any order, names matched as below). It is
//     read by report.Reader, the one reader of result files, and as
//     strictly: a row it refuses (a CSV error, a wrong number of fields, a
//     status, line, attempts, duration_ms or finished_at that does not
//     parse) is the import's error, with its line. Its ok rows are
//     registrations made at finished_at; so are its failed rows whose
//     message carries the lost-success note (report.ParseNotes: a 29004,
//     29008 or 29017 after an attempt whose outcome was unknown), recorded
//     flagged lost, as the run itself records them in its ledger (SPEC §5a);
//     all of them with runID.
//   - a hand-made result file: columns username, tokenSn, tokenType and
//     status (finished_at and the others optional). Its rows with status ok
//     (any case, spaces around ignored) are registrations made at
//     finished_at, recorded with runID.
//   - a file in Export's format, every row of which is a registration,
//     recorded with its own run_id (runID if that is empty) and lost flag
//     (true or false; empty or absent means false).
//
// An empty runID means the Ledger's. Column names match case-insensitively,
// ignoring '_', '-' and spaces (csvfile.FoldName); other columns are
// ignored. Cells have the result file's formula guard removed
// (report.Unescape). An empty finished_at, and in the last two formats a
// registered_at or finished_at that is not RFC 3339, becomes the time of
// the import.
//
// imported counts the registrations added (or moved to a later time);
// skipped counts the other data rows: not a registration, or already
// recorded. A malformed file is an error naming its line.
func (l *Ledger) Import(ctx context.Context, r io.Reader, runID string) (imported, skipped int, err error) {
	if l.readOnly {
		return 0, 0, ErrReadOnly
	}
	if runID == "" {
		runID = l.runID
	}
	next, err := importSource(r, runID, formatTime(time.Now()))
	if err != nil {
		return 0, 0, fmt.Errorf("import: %w", err)
	}

	// The committer's group commits wait meanwhile; Lookups read the
	// ledger again afterwards.
	l.com.mu.Lock()
	defer l.com.mu.Unlock()
	defer l.keys.reset()
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("import: %w", err)
	}
	defer tx.Rollback()
	st, err := tx.PrepareContext(ctx, recordSQL)
	if err != nil {
		return 0, 0, fmt.Errorf("import: %w", err)
	}
	defer st.Close()

	for {
		row, line, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("import: %w", err)
		}
		if row.skip {
			skipped++
			continue
		}
		if err := checkKey(row.user, row.t, row.sn); err != nil {
			return 0, 0, fmt.Errorf("import: line %d: %w", line, err)
		}
		res, err := st.ExecContext(ctx, row.user, int(row.t), row.sn, row.at, row.run, boolInt(row.lost))
		if err != nil {
			return 0, 0, fmt.Errorf("import: line %d: %w", line, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			imported++
		} else {
			skipped++
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("import: %w", err)
	}
	return imported, skipped, nil
}

// importSource reads r's header and returns the reader of its rows: a
// result file's through report.Reader, any other through the lenient path.
// now is the time of the import, as stored.
func importSource(r io.Reader, runID, now string) (rowSource, error) {
	// The header is read through the CSV layer every reader shares (BOM,
	// not-text refusal, line ends, bounded records), and the bytes it took
	// are kept so that report.Reader can read the file from its start.
	head := &headTee{r: r}
	cr, err := csvfile.NewReader(head, csvfile.Options{})
	if fe, ok := errors.AsType[*csvfile.FileError](err); ok && fe.Empty {
		return nil, errors.New("the file is empty: no header")
	}
	if err != nil {
		return nil, csvError(err)
	}
	hdr, err := cr.Read()
	switch {
	case err == io.EOF:
		return nil, errors.New("the file is empty: no header")
	case err != nil:
		return nil, csvError(err)
	}
	idx, err := foldHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", cr.Line(), err)
	}
	head.stop()
	// A header with every column of a result file's (SPEC §5) is one.
	full := true
	for _, name := range report.Header() {
		if _, ok := idx[csvfile.FoldName(name)]; !ok {
			full = false
		}
	}
	if full {
		return resultSource(io.MultiReader(bytes.NewReader(head.buf.Bytes()), r), runID, now)
	}
	return handSource(cr, hdr, idx, runID, now)
}

// headTee keeps the bytes read through it until stop.
type headTee struct {
	r       io.Reader
	buf     bytes.Buffer
	stopped bool
}

func (h *headTee) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if !h.stopped {
		h.buf.Write(p[:n])
	}
	return n, err
}

func (h *headTee) stop() { h.stopped = true }

// foldHeader maps each column's folded name to its index; a name twice is
// an error.
func foldHeader(hdr []string) (map[string]int, error) {
	idx := make(map[string]int, len(hdr))
	for i, name := range hdr {
		key := csvfile.FoldName(report.Unescape(name))
		if _, dup := idx[key]; dup && key != "" {
			return nil, fmt.Errorf("column %q appears twice", name)
		}
		idx[key] = i
	}
	return idx, nil
}

// resultSource reads a tokenreg result file through report.Reader.
func resultSource(r io.Reader, runID, now string) (rowSource, error) {
	rd, err := report.NewReader(r)
	if err != nil {
		return nil, err
	}
	return func() (importRow, int, error) {
		res, err := rd.Read()
		if err != nil {
			return importRow{}, 0, err // a *report.RowError names its line
		}
		line := rd.Line()
		_, _, lost := report.ParseNotes(res.Status, res.Message)
		if res.Status != report.StatusOK && !lost {
			return importRow{skip: true}, line, nil
		}
		t, err := client.ParseTokenType(strings.TrimSpace(res.TokenType))
		if err != nil {
			return importRow{}, line, fmt.Errorf("line %d: %w", line, err)
		}
		at := now
		if !res.FinishedAt.IsZero() {
			at = formatTime(res.FinishedAt)
		}
		return importRow{user: res.Username, sn: res.TokenSn, t: t, at: at, run: runID, lost: lost}, line, nil
	}, nil
}

// handSource reads a hand-made result file or an export: gocsv maps each
// record to a handRow by the header, which hdrNames has put in the tags'
// spelling; cells are read leniently.
func handSource(cr *csvfile.Reader, hdr []string, idx map[string]int, runID, now string) (rowSource, error) {
	has := func(name string) bool { _, ok := idx[csvfile.FoldName(name)]; return ok }
	result := has("status")
	if !result && !has("registered_at") {
		return nil, fmt.Errorf("line %d: neither a tokenreg result file (no status column) nor a ledger export (no registered_at column)", cr.Line())
	}
	var missing []string
	for _, name := range []string{"username", "tokenSn", "tokenType"} {
		if !has(name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("line %d: the header lacks column(s) %s", cr.Line(), strings.Join(missing, ", "))
	}
	hb := &handBatch{cr: cr, nfields: len(hdr), rows: [][]string{hdrNames(hdr)}}
	return func() (importRow, int, error) {
		h, line, err := hb.next()
		if err != nil {
			return importRow{}, line, err
		}
		// username and tokenSn are keys, taken exactly (the run that wrote
		// the file trimmed them already); the other cells may have been
		// touched by hand.
		field := strings.TrimSpace
		at, run := field(h.RegisteredAt), field(h.RunID)
		if result {
			if !strings.EqualFold(field(h.Status), string(report.StatusOK)) {
				return importRow{skip: true}, line, nil
			}
			at = field(h.FinishedAt)
		}
		if run == "" {
			run = runID
		}
		if ts, err := parseTime(at); err == nil {
			at = formatTime(ts)
		} else {
			at = now
		}
		lost := false
		if v := field(h.Lost); v != "" {
			if lost, err = strconv.ParseBool(v); err != nil {
				return importRow{}, line, fmt.Errorf("line %d: lost is %q, want true or false", line, v)
			}
		}
		t, err := client.ParseTokenType(field(h.TokenType))
		if err != nil {
			return importRow{}, line, fmt.Errorf("line %d: %w", line, err)
		}
		return importRow{user: h.Username, sn: h.TokenSn, t: t, at: at, run: run, lost: lost}, line, nil
	}, nil
}

// handBatchSize is how many records handBatch hands gocsv at a time: gocsv
// maps the header once a call, so one call a record would cost more than
// the rest of the import; a batch keeps memory bounded all the same.
const handBatchSize = 256

// handBatch reads an export or a hand-made result file through csvfile and
// maps its records to handRows through gocsv, a batch at a time, giving
// them back one by one with their lines. gocsv reads through its Decoder
// interface (the records handBatch read), not a reader of its own, so the
// file is read by the one CSV layer (BOM, encodings, bounded records, line
// numbers) in the caller's goroutine.
type handBatch struct {
	cr      *csvfile.Reader
	nfields int
	rows    [][]string // the header as gocsv is to match it, then the batch's records
	lines   []int      // the line of each record in rows[1:]
	out     []handRow
	i       int   // next of out to return
	pending error // what stopped the batch: io.EOF or the error of the record after it
}

// GetCSVRows hands gocsv the header and the batch (gocsv.Decoder).
func (h *handBatch) GetCSVRows() ([][]string, error) { return h.rows, nil }

// next returns the next row and its line, or the error of the record that
// follows the last row (io.EOF at the end).
func (h *handBatch) next() (handRow, int, error) {
	if h.i == len(h.out) {
		if h.pending != nil {
			return handRow{}, 0, h.pending
		}
		if err := h.fill(); err != nil {
			return handRow{}, 0, err
		}
	}
	h.i++
	return h.out[h.i-1], h.lines[h.i-1], nil
}

// fill reads the next batch and maps it.
func (h *handBatch) fill() error {
	h.rows, h.lines = h.rows[:1], h.lines[:0]
	for len(h.lines) < handBatchSize {
		rec, err := h.cr.Read()
		if err != nil {
			h.pending = csvError(err) // io.EOF too
			break
		}
		line := h.cr.Line()
		if len(rec) != h.nfields {
			h.pending = fmt.Errorf("line %d: %d fields, but the header has %d", line, len(rec), h.nfields)
			break
		}
		cells := make([]string, len(rec)) // the reader reuses rec
		for i, c := range rec {
			cells[i] = report.Unescape(c)
		}
		h.rows = append(h.rows, cells)
		h.lines = append(h.lines, line)
	}
	h.out, h.i = h.out[:0], 0
	if len(h.lines) == 0 {
		return h.pending
	}
	if err := gocsv.UnmarshalDecoder(h, &h.out); err != nil || len(h.out) != len(h.lines) {
		return fmt.Errorf("lines %d to %d: %d rows mapped (%v)", h.lines[0], h.lines[len(h.lines)-1], len(h.out), err)
	}
	return nil
}

// hdrNames is the header as gocsv is to match it: a column whose folded
// name is one of handRow's is renamed to that tag's spelling (so that
// "Token_Sn" maps to tokenSn); any other is blanked, so that gocsv maps it
// to nothing.
func hdrNames(hdr []string) []string {
	tags := make(map[string]string)
	for _, name := range append(report.Header(), "registered_at", "run_id", "lost") {
		tags[csvfile.FoldName(name)] = name
	}
	out := make([]string, len(hdr))
	for i, name := range hdr {
		out[i] = tags[csvfile.FoldName(report.Unescape(name))]
	}
	return out
}

// parseTime parses a finished_at or registered_at cell: RFC 3339 with or
// without fractional seconds, or with a space for the T (as the ledger's
// skip message prints it).
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02 15:04:05Z07:00", s)
}

// csvError says where a CSV syntax error is, in the words of SPEC §4.
func csvError(err error) error {
	if re, ok := errors.AsType[*csvfile.RecordError](err); ok {
		if re.EndLine == re.Line && re.Column > 0 {
			return fmt.Errorf("line %d, column %d: %w", re.Line, re.Column, re.Err)
		}
		return fmt.Errorf("line %d: %w", re.Line, re)
	}
	return err
}
