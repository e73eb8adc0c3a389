package ledger

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/internal/csvfile"
	"github.com/tokenreg/tokenreg/report"
)

// exportHeader is the header of Export's CSV, which Import reads back.
var exportHeader = []string{"username", "tokenSn", "tokenType", "registered_at", "run_id", "lost"}

// Export writes every registration as CSV to w, with the header
// username,tokenSn,tokenType,registered_at,run_id,lost, in order of
// registered_at (RFC 3339, UTC). tokenType is written as SMS or OTP. lost
// is true for a success inferred rather than answered (see Record), false
// otherwise. Cells
// are guarded against formula injection as the result CSV's are (SPEC §5).
// It reads one consistent snapshot, even while another run is recording,
// and returns the number of registrations written.
func (l *Ledger) Export(ctx context.Context, w io.Writer) (int, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT username, token_type, token_sn, registered_at, run_id, lost
		FROM registrations ORDER BY registered_at, username, token_type, token_sn`)
	if err != nil {
		return 0, fmt.Errorf("export ledger: %w", err)
	}
	defer rows.Close()
	cw := csv.NewWriter(w)
	if err := cw.Write(exportHeader); err != nil {
		return 0, fmt.Errorf("export ledger: %w", err)
	}
	n := 0
	for rows.Next() {
		var user, sn, at, run string
		var t, lost int
		if err := rows.Scan(&user, &t, &sn, &at, &run, &lost); err != nil {
			return n, fmt.Errorf("export ledger: %w", err)
		}
		if ts, err := parseStored(at); err == nil {
			at = formatTime(ts)
		}
		if err := cw.Write([]string{report.Escape(user), report.Escape(sn), client.TokenType(t).String(), report.Escape(at), report.Escape(run), strconv.FormatBool(lost != 0)}); err != nil {
			return n, fmt.Errorf("export ledger: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("export ledger: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("export ledger: %w", err)
	}
	return n, nil
}

// importColumns holds the index of each column Import reads, -1 if absent.
type importColumns struct {
	username, tokenSn, tokenType int
	status, finishedAt, message  int // a result file
	registeredAt, runID, lost    int // an export
}

// Import records the registrations in a CSV read from r, in one transaction:
// all of them or, on error, none.
//
// r is either a tokenreg result file (SPEC §5: columns username, tokenSn,
// tokenType and status; finished_at and message if present), of which the
// rows with status ok are registrations made at finished_at, recorded with
// runID, and so are the failed rows that met their own lost success
// (report.LostSuccessNote), flagged lost, as the run would have; or a
// file in Export's format, every row of which is a registration, recorded
// with its own run_id (runID if that is empty) and lost flag (true or
// false; empty or absent means false). An empty runID means the
// Ledger's. Column names match case-insensitively, ignoring '_', '-' and
// spaces; other columns are ignored. Cells have the result file's formula
// guard removed. A registered_at or finished_at that is empty or not RFC
// 3339 becomes the time of the import.
//
// imported counts the registrations added (or moved to a later time);
// skipped counts the other data rows: not ok, or already recorded. A
// malformed file is an error naming its line.
func (l *Ledger) Import(ctx context.Context, r io.Reader, runID string) (imported, skipped int, err error) {
	if l.readOnly {
		return 0, 0, ErrReadOnly
	}
	if runID == "" {
		runID = l.runID
	}
	now := formatTime(time.Now())

	// The layer every tokenreg CSV reader shares: BOM, not-text refusal,
	// line ends, bounded records, column names folded alike.
	cr, err := csvfile.NewReader(r, csvfile.Options{})
	if fe, ok := errors.AsType[*csvfile.FileError](err); ok && fe.Empty {
		return 0, 0, errors.New("import: the file is empty: no header")
	}
	if err != nil {
		return 0, 0, fmt.Errorf("import: %w", csvError(err))
	}
	hdr, err := cr.Read()
	switch {
	case err == io.EOF:
		return 0, 0, errors.New("import: the file is empty: no header")
	case err != nil:
		return 0, 0, fmt.Errorf("import: %w", csvError(err))
	}
	col, err := importHeader(hdr)
	if err != nil {
		return 0, 0, fmt.Errorf("import: line %d: %w", cr.Line(), err)
	}
	nfields := len(hdr)

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
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("import: %w", csvError(err))
		}
		line := cr.Line()
		if len(rec) != nfields {
			return 0, 0, fmt.Errorf("import: line %d: %d fields, but the header has %d", line, len(rec), nfields)
		}
		// username and tokenSn are keys, taken exactly (the run that
		// wrote the file trimmed them already); the other cells may
		// have been touched by hand.
		cell := func(i int) string {
			if i < 0 {
				return ""
			}
			return report.Unescape(rec[i])
		}
		field := func(i int) string { return strings.TrimSpace(cell(i)) }
		at, run := field(col.registeredAt), field(col.runID)
		lostSuccess := false // a result row that met its own lost success
		if col.status >= 0 {
			status := field(col.status)
			lostSuccess = strings.EqualFold(status, string(report.StatusFailed)) && strings.HasSuffix(cell(col.message), report.LostSuccessNote)
			if !strings.EqualFold(status, "ok") && !lostSuccess {
				skipped++
				continue
			}
			at = field(col.finishedAt)
		}
		if run == "" {
			run = runID
		}
		if ts, err := parseTime(at); err == nil {
			at = formatTime(ts)
		} else {
			at = now
		}
		lost := lostSuccess
		if v := field(col.lost); v != "" && col.status < 0 {
			if lost, err = strconv.ParseBool(v); err != nil {
				return 0, 0, fmt.Errorf("import: line %d: lost is %q, want true or false", line, v)
			}
		}
		user, sn := cell(col.username), cell(col.tokenSn)
		t, err := client.ParseTokenType(field(col.tokenType))
		if err != nil {
			return 0, 0, fmt.Errorf("import: line %d: %w", line, err)
		}
		if err := checkKey(user, t, sn); err != nil {
			return 0, 0, fmt.Errorf("import: line %d: %w", line, err)
		}
		res, err := st.ExecContext(ctx, user, int(t), sn, at, run, boolInt(lost))
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

// importHeader finds Import's columns and tells the two formats apart.
func importHeader(hdr []string) (importColumns, error) {
	idx := make(map[string]int, len(hdr))
	for i, name := range hdr {
		key := csvfile.FoldName(report.Unescape(name))
		if _, dup := idx[key]; dup && key != "" {
			return importColumns{}, fmt.Errorf("column %q appears twice", name)
		}
		idx[key] = i
	}
	find := func(name string) int {
		if i, ok := idx[csvfile.FoldName(name)]; ok {
			return i
		}
		return -1
	}
	col := importColumns{
		username: find("username"), tokenSn: find("tokenSn"), tokenType: find("tokenType"),
		status: find("status"), finishedAt: find("finished_at"), message: find("message"),
		registeredAt: find("registered_at"), runID: find("run_id"), lost: find("lost"),
	}
	need := []string{"username", "tokenSn", "tokenType"}
	switch {
	case col.status >= 0: // a result file
	case col.registeredAt >= 0: // an export
	default:
		return col, fmt.Errorf("neither a tokenreg result file (no status column) nor a ledger export (no registered_at column)")
	}
	var missing []string
	for _, name := range need {
		if find(name) < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return col, fmt.Errorf("the header lacks column(s) %s", strings.Join(missing, ", "))
	}
	return col, nil
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
