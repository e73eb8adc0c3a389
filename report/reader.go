package report

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tokenreg/tokenreg/internal/csvfile"
)

// requiredColumns are the columns a result file must have to be read back.
// attempts, duration_ms and finished_at are optional: a hand-made file of
// rows to retry need not carry them.
var requiredColumns = []string{"line", "username", "tokenSn", "tokenType", "status", "code", "message"}

// RowError is a malformed row of a result file: a CSV syntax error, a wrong
// number of fields, or a cell that does not parse (line, status, attempts,
// duration_ms, finished_at). The Reader that returned it can go on reading.
type RowError struct {
	// Line is the line of the result file where the row starts (the
	// header is line 1).
	Line int
	Err  error
}

// Error reports the line and what is wrong with the row.
func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns Err.
func (e *RowError) Unwrap() error { return e.Err }

// Reader reads a result CSV back (for --resume, `tokenreg report` and
// `ledger import`). It reads through internal/csvfile, the layer every
// tokenreg CSV reader shares: a UTF-8 BOM, CRLF line ends and blank lines
// are tolerated, a file that is not text is refused by name, and a record
// is never longer than 64 KiB. Column names match as csvfile.FoldName folds
// them (case, '_', '-' and spaces do not count), unknown columns are
// ignored, and Escape is undone on every cell. Cells come back exactly as
// written except that a "\r\n" inside one comes back as "\n"; finished_at
// and duration_ms keep the Writer's millisecond precision.
//
// Like the Writer it does not use gocsv: the mapping is fixed and
// hand-written, so a bad cell is reported with its exact line and the
// reader simply goes on with the next row.
//
// A Reader is not safe for concurrent use. It reads from its io.Reader
// ahead of the rows it returned; it does not close it.
type Reader struct {
	csv *csvfile.Reader

	nfields int
	col     columns

	offset int64 // end of the last row returned without error
	line   int   // line where that row starts
}

// columns holds the index of each known column in a row, -1 if absent.
type columns struct {
	line, username, tokenSn, tokenType, status, code, message int
	attempts, duration, finishedAt                            int
}

// NewReader reads and checks the header of a result file. The header must
// have at least the columns line, username, tokenSn, tokenType, status, code
// and message; the error names those missing.
func NewReader(r io.Reader) (*Reader, error) {
	rd, err := newReader(r)
	if err != nil {
		if fe, ok := errors.AsType[*csvfile.FileError](err); ok && fe.Empty {
			return nil, errors.New("result file is empty: no header")
		}
		return nil, fmt.Errorf("result file: %w", err)
	}
	hdr, err := rd.csv.Read()
	switch {
	case err == io.EOF:
		return nil, errors.New("result file is empty: no header")
	case err != nil:
		return nil, fmt.Errorf("result file header: %w", err)
	}
	if err := rd.setColumns(hdr); err != nil {
		return nil, err
	}
	rd.offset = rd.csv.Offset()
	return rd, nil
}

// readOptions read a result file: commas, and cells as the Writer wrote
// them, whatever bytes they hold.
func readOptions() csvfile.Options { return csvfile.Options{AnyBytes: true} }

// newReader sets up the CSV reader.
func newReader(r io.Reader) (*Reader, error) {
	c, err := csvfile.NewReader(r, readOptions())
	if err != nil {
		return nil, err
	}
	return &Reader{csv: c}, nil
}

// setColumns maps the header's names to column indexes.
func (r *Reader) setColumns(hdr []string) error {
	idx := make(map[string]int, len(hdr))
	for i, name := range hdr {
		name = csvfile.FoldName(name)
		if _, dup := idx[name]; dup && name != "" {
			return fmt.Errorf("result file header: column %q appears twice", hdr[i])
		}
		idx[name] = i
	}
	find := func(name string) int {
		if i, ok := idx[csvfile.FoldName(name)]; ok {
			return i
		}
		return -1
	}
	var missing []string
	for _, name := range requiredColumns {
		if find(name) < 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not a result file: header lacks column(s) %s", strings.Join(missing, ", "))
	}
	r.nfields = len(hdr)
	r.col = columns{
		line: find("line"), username: find("username"), tokenSn: find("tokenSn"),
		tokenType: find("tokenType"), status: find("status"), code: find("code"),
		message: find("message"), attempts: find("attempts"),
		duration: find("duration_ms"), finishedAt: find("finished_at"),
	}
	return nil
}

// Read returns the next row. It returns io.EOF at the end of the file, a
// *RowError for a malformed row (after which Read may be called again), and
// any other error when the underlying reader fails.
func (r *Reader) Read() (Result, error) {
	res, end, err := r.next()
	if err != nil {
		return Result{}, err
	}
	r.offset, r.line = end, r.csv.Line()
	return res, nil
}

// Line is the line of the result file (the header is line 1) where the row
// that Read returned last starts, for the errors of a caller that checks
// the row further (`ledger import`).
func (r *Reader) Line() int { return r.line }

// Offset is the byte offset in the file (counting any BOM) just after the
// last row that Read returned without error, or after the header if there
// was none: the length of the prefix that a resumed run keeps.
func (r *Reader) Offset() int64 { return r.offset }

// next reads and parses one record; end is the file offset just after it.
func (r *Reader) next() (res Result, end int64, err error) {
	rec, err := r.csv.Read()
	if err != nil {
		if re, ok := errors.AsType[*csvfile.RecordError](err); ok {
			return Result{}, 0, &RowError{Line: re.Line, Err: re}
		}
		return Result{}, 0, err // io.EOF, a read error, or not text
	}
	end = r.csv.Offset()
	line := r.csv.Line()
	res, err = r.parse(rec)
	if err != nil {
		return Result{}, end, &RowError{Line: line, Err: err}
	}
	return res, end, nil
}

// parse turns one record into a Result.
func (r *Reader) parse(rec []string) (Result, error) {
	if len(rec) != r.nfields {
		return Result{}, fmt.Errorf("%d fields, want %d", len(rec), r.nfields)
	}
	cell := func(i int) string {
		if i < 0 {
			return ""
		}
		return Unescape(rec[i])
	}
	var res Result
	var err error
	if res.Line, err = strconv.Atoi(cell(r.col.line)); err != nil || res.Line < 1 {
		return Result{}, fmt.Errorf("line %q is not a positive integer", rec[r.col.line])
	}
	res.Username = cell(r.col.username)
	res.TokenSn = cell(r.col.tokenSn)
	res.TokenType = cell(r.col.tokenType)
	res.Status = Status(strings.ToLower(cell(r.col.status)))
	if !res.Status.Known() {
		return Result{}, fmt.Errorf("unknown status %q", rec[r.col.status])
	}
	res.Code = cell(r.col.code)
	res.Message = cell(r.col.message)
	if s := cell(r.col.attempts); s != "" {
		if res.Attempts, err = strconv.Atoi(s); err != nil || res.Attempts < 0 {
			return Result{}, fmt.Errorf("attempts %q is not a count", s)
		}
	}
	if s := cell(r.col.duration); s != "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Result{}, fmt.Errorf("duration_ms %q is not an integer", s)
		}
		res.Duration = time.Duration(ms) * time.Millisecond
	}
	if s := cell(r.col.finishedAt); s != "" {
		if res.FinishedAt, err = time.Parse(time.RFC3339Nano, s); err != nil { // parses csvfile.TimeLayout
			return Result{}, fmt.Errorf("finished_at %q is not an RFC 3339 time", s)
		}
	}
	return res, nil
}

// terminated reports whether the record read last ended with a line end.
func (r *Reader) terminated() (bool, error) { return r.csv.Terminated(), nil }

// Recover streams every complete, well-formed row of an existing result file
// to fn, in file order, and returns good, the length in bytes of the prefix
// of the file that holds only the header and those rows. It is how --resume
// reads the result file it continues: the caller truncates the file to good
// and appends (writing the header first if good is 0).
//
// The last line of the file may be torn by a crash: no line end, an
// unterminated quote, too few fields, a cell that does not parse. Such a
// line is not passed to fn and torn is true; good excludes it. A header cut
// short (a prefix of header's line with no line end) gives good 0 and torn
// true. A malformed row that is not the last is an error (a *RowError with
// the line in the result file): the file is not a result file, or was
// edited. So is a header that is not header's columns in header's order
// (names match case-insensitively), since the caller appends the Writer's
// rows, and a file whose only line is not a result header.
//
// An empty file gives 0, false, nil. Blank lines after the last row are not
// counted in good and do not make the file torn. If fn returns an error,
// Recover stops and returns it, with good covering the rows before.
func Recover(f io.Reader, fn func(Result) error) (good int64, torn bool, err error) {
	t := &countReader{r: f}
	c, err := csvfile.NewReader(t, readOptions())
	if fe, ok := errors.AsType[*csvfile.FileError](err); ok && fe.Empty {
		// Nothing at all, or a BOM cut off from its header.
		return 0, t.n > 0, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("not a result file: %w", err)
	}
	r := &Reader{csv: c}
	hdr, err := r.csv.Read()
	if err == io.EOF {
		// Nothing but blank lines.
		return 0, false, nil
	}
	if err != nil {
		if re, ok := errors.AsType[*csvfile.RecordError](err); ok {
			// The Writer's header has no quotes: this is not a result file.
			return 0, false, fmt.Errorf("not a result file: header: %w", re)
		}
		return 0, false, err
	}
	term, err := r.terminated()
	if err != nil {
		return 0, false, err
	}
	if !term {
		// The header is the whole file and has no line end. A crash
		// while the Writer wrote it leaves a prefix of its header; anything
		// else may be someone's file, which Recover must not let the
		// caller truncate.
		if strings.HasPrefix(strings.ToLower(strings.Join(header, ",")), strings.ToLower(strings.Join(hdr, ","))) {
			return 0, true, nil
		}
		return 0, false, errors.New("not a result file: a single line that is not a result header")
	}
	if err := r.setColumns(hdr); err != nil {
		return 0, false, err
	}
	// The caller appends the Writer's rows: any other layout, even one
	// NewReader accepts, would end up with rows that do not fit the header.
	if !slices.EqualFunc(hdr, header, strings.EqualFold) {
		return 0, false, fmt.Errorf("cannot continue this result file: its header is not %s", strings.Join(header, ","))
	}
	good = r.csv.Offset()

	for {
		res, end, err := r.next()
		if err == io.EOF {
			return good, false, nil
		}
		if rowErr, ok := errors.AsType[*RowError](err); ok {
			// Torn if it is the last record, else the file is corrupt.
			if _, _, err := r.next(); err == io.EOF {
				return good, true, nil
			} else if _, ok := errors.AsType[*RowError](err); !ok && err != nil {
				return good, false, err
			}
			return good, false, rowErr
		}
		if err != nil {
			return good, false, err
		}
		term, err := r.terminated()
		if err != nil {
			return good, false, err
		}
		if !term {
			return good, true, nil // complete-looking, but the crash came before its '\n'
		}
		if err := fn(res); err != nil {
			return good, false, err
		}
		good = end
	}
}

// countReader counts the bytes it has read: Recover tells a file of nothing
// from a byte order mark cut off from its header.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
