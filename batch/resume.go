package batch

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/tokenreg/tokenreg/report"
)

// Resume is what an earlier result file says about each input line, for a
// run that continues it (--resume). Build it with LoadResume.
type Resume struct {
	lines map[int]prior
	seed  maphash.Seed
	// Rows is the number of rows read from the earlier result.
	Rows int
	// Final is the number of those rows that will not be sent again (every
	// status but error): the resumed run keeps them as they are.
	Final int
	// NotOK is the number of final rows that failed or were invalid: they
	// keep the run's exit code at 1.
	NotOK int
	// MaxLine is the highest input line the earlier result has a row for.
	MaxLine int
	// Valid is the number of rows with status valid: written by a dry run
	// or validate, never sent.
	Valid int
	// Sent is the number of rows of requests that were sent (ok, failed,
	// error).
	Sent int
	// Shard is the --shard ("K/N") of the run that wrote the earlier
	// result, as its placeholders for other shards' lines say; "" if it
	// has none.
	Shard string
}

// CheckShard refuses to continue with shard s a result written with another
// --shard (or none): its placeholders are final rows, so the lines they hold
// for the other shards would never be sent, and the run would end "done".
func (r *Resume) CheckShard(s Shard) error {
	if r == nil || r.Shard == "" {
		return nil
	}
	if s.N > 1 && s.String() == r.Shard {
		return nil
	}
	given := "without --shard"
	if s.N > 1 {
		given = "with --shard " + s.String()
	}
	return fmt.Errorf("the result was written with --shard %s, and this run is %s: resume it with --shard %s (each shard's lines are sent by its own run; to send every line from one machine, start a new result with --force or another --out)",
		r.Shard, given, r.Shard)
}

type prior struct {
	ident uint64
	// bound is when the row's registration succeeded, in Unix seconds (a
	// row ok, or failed after meeting its own lost success); 0 if it did
	// not. A resumed run with a ledger records such a row if the ledger
	// lacks it (the earlier part ran without that ledger, or could not
	// write to it).
	bound   uint32
	final   bool
	unknown bool // a row whose request may have been applied unanswered
	lost    bool // bound, and the success was inferred, not answered
	seen    bool // the input has a row on this line
}

// boundAt is what prior.bound holds for a row that succeeded at t.
func boundAt(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 1), math.MaxUint32))
}

// ident hashes what a result row says about its input row: a resumed line
// must name the same username, tokenSn and tokenType.
func (r *Resume) ident(username, sn, typ string) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(username)
	h.WriteByte(0)
	h.WriteString(sn)
	h.WriteByte(0)
	h.WriteString(typ)
	return h.Sum64()
}

// ErrTwoRows is wrapped when a result file has more than one row for an
// input line (older versions of tokenreg wrote such files on --resume).
var ErrTwoRows = errors.New("two result rows for one line")

// LoadResume reads an earlier result file f (named name in errors) and
// returns:
//   - the index of its rows by input line (a *Resume);
//   - good, the byte length of the file's good prefix: a torn last line (a
//     crash mid-write) lies beyond it and must not be kept;
//   - torn, whether there was such a line.
//
// A file with two rows for one line is refused with an error wrapping
// ErrTwoRows; any other malformed row is an error too.
//
// keep, if not nil, is given each row that the resumed run keeps as it is
// (a final row), in file order, in the same pass: the caller writes them to
// the result's replacement.
func LoadResume(name string, f io.Reader, keep func(report.Result) error) (rs *Resume, good int64, torn bool, err error) {
	r := &Resume{lines: make(map[int]prior), seed: maphash.MakeSeed()}
	good, torn, err = report.Recover(f, func(res report.Result) error {
		if _, dup := r.lines[res.Line]; dup {
			return fmt.Errorf("%w: line %d has two rows", ErrTwoRows, res.Line)
		}
		if keep != nil && res.Status.Final() {
			if err := keep(res); err != nil {
				return err
			}
		}
		if r.Shard == "" && res.Status == report.StatusSkipped {
			r.Shard, _ = placeholderShard(res.Message)
		}
		_, unknown, lost := parseNotes(res.Status, res.Message)
		p := prior{ident: r.ident(res.Username, res.TokenSn, res.TokenType), final: res.Status.Final(), unknown: unknown, lost: lost}
		if res.Status == report.StatusOK || lost {
			p.bound = boundAt(res.FinishedAt)
		}
		r.lines[res.Line] = p
		r.Rows++
		r.MaxLine = max(r.MaxLine, res.Line)
		if p.final {
			r.Final++
		}
		if res.Status == report.StatusFailed || res.Status == report.StatusInvalid {
			r.NotOK++
		}
		switch res.Status {
		case report.StatusValid:
			r.Valid++
		case report.StatusOK, report.StatusFailed, report.StatusError:
			r.Sent++
		}
		return nil
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("read earlier result %s: %w", name, err)
	}
	return r, good, torn, nil
}

// ErrResumeMismatch is wrapped when the result being resumed was written for
// another input.
var ErrResumeMismatch = errors.New("the result file does not belong to this input")

// check looks the row's line up in the earlier result: the prior row, if
// any, after checking that it names the row's username, tokenSn and
// tokenType.
func (r *Resume) check(row *Row) (prior, bool, error) {
	if r == nil {
		return prior{}, false, nil
	}
	p, ok := r.lines[row.Line]
	if !ok {
		return prior{}, false, nil
	}
	res := row.Result("", "")
	if p.ident != r.ident(res.Username, res.TokenSn, res.TokenType) && !r.legacyMatch(p, row, res) {
		return prior{}, false, fmt.Errorf("%w: its row for line %d names another username, tokenSn or tokenType than the input's (%s, %s, %s)",
			ErrResumeMismatch, row.Line, res.Username, res.TokenSn, res.TokenType)
	}
	if !p.seen {
		p.seen = true
		r.lines[row.Line] = p
	}
	return p, true, nil
}

// legacyMatch reports whether an invalid row's line matches an earlier
// result written before its cells showed invisible characters escaped
// (displayField): such a file holds them raw, and control characters as
// U+FFFD. Invalid rows are final: the resume must keep them.
func (r *Resume) legacyMatch(p prior, row *Row, res report.Result) bool {
	if row.Problem == "" {
		return false
	}
	cell := func(s string) string {
		return strings.Map(func(c rune) rune {
			if unicode.IsControl(c) {
				return '\uFFFD'
			}
			return c
		}, clip(s))
	}
	typ := res.TokenType
	if !row.TokenType.Valid() {
		typ = cell(row.TokenTypeText)
	}
	return p.ident == r.ident(cell(row.Username), cell(row.TokenSn), typ)
}

// complete is called at the end of the input, whose last row is on line
// last, after matched rows were found in the earlier result: every row of
// the earlier result must belong to a row of the input.
func (r *Resume) complete(matched, last int) error {
	if r == nil || matched >= r.Rows {
		return nil
	}
	var stray []int
	for line, p := range r.lines {
		if !p.seen {
			stray = append(stray, line)
		}
	}
	slices.Sort(stray)
	if len(stray) == 0 {
		return nil
	}
	if stray[len(stray)-1] > last {
		return fmt.Errorf("%w: it has rows for lines up to %d, but the input's last row is on line %d (was the input cut short?)",
			ErrResumeMismatch, stray[len(stray)-1], last)
	}
	return fmt.Errorf("%w: it has a row for line %d, where the input has no row (was the input edited?)",
		ErrResumeMismatch, stray[0])
}

// Verify reads the whole input from rd and checks it against the earlier
// result, as the run will: every row the result has must name the same
// username, tokenSn and tokenType as the input's row on its line, and no
// row may lie past the input's end. Call it before the result is changed
// or anything is sent; rd is then used up.
func (r *Resume) Verify(rd *Reader) error {
	matched, last, err := r.walk(rd, nil)
	if err != nil {
		return err
	}
	if err := r.complete(matched, last); err != nil {
		return &InputError{Name: rd.name, Err: err}
	}
	// The run checks again as it reads (an input that is not a regular
	// file cannot be verified first).
	for line, p := range r.lines {
		p.seen = false
		r.lines[line] = p
	}
	return nil
}

// walk reads the rest of rd and checks each row against the earlier result
// (check). fn, if not nil, is given each row the earlier result has a row
// for, with that row. It returns how many such rows it met and the line of
// the last row read, for complete.
func (r *Resume) walk(rd rowReader, fn func(*Row, prior)) (matched, last int, err error) {
	for {
		row, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return matched, last, nil
		}
		if err != nil {
			return matched, last, err
		}
		last = row.Line
		p, ok, err := r.check(&row)
		if err != nil {
			return matched, last, &InputError{Name: rd.inputName(), Line: row.Line, Err: err}
		}
		if ok {
			matched++
			if fn != nil {
				fn(&row, p)
			}
		}
	}
}
