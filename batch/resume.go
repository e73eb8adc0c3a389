package batch

import (
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"

	"github.com/tokenreg/tokenreg/report"
)

// Resume is what an earlier result file says about each input line.
type Resume struct {
	lines map[int]prior
	seed  maphash.Seed
	// Rows is the number of rows read from the earlier result.
	Rows int
	// Final is the number of those rows that will not be sent again.
	Final int
	// NotOK is the number of final rows that failed or were invalid: they
	// keep the run's exit code at 1.
	NotOK int
}

type prior struct {
	ident   uint64
	final   bool
	unknown bool // an error row whose request may have been applied
}

func (r *Resume) ident(username, sn string) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(displayField(username))
	h.WriteByte(0)
	h.WriteString(displayField(sn))
	return h.Sum64()
}

// LoadResume reads an earlier result file. It returns the index of its rows
// and the byte length of the file's good prefix: a torn last line (a crash
// mid-write) lies beyond it, and the caller truncates the file there before
// appending.
func LoadResume(name string, f io.Reader) (*Resume, int64, bool, error) {
	r := &Resume{lines: make(map[int]prior), seed: maphash.MakeSeed()}
	good, torn, err := report.Recover(f, func(res report.Result) error {
		if _, dup := r.lines[res.Line]; dup {
			return fmt.Errorf("line %d has two result rows", res.Line)
		}
		p := prior{ident: r.ident(res.Username, res.TokenSn), final: res.Status.Final()}
		if res.Status == report.StatusError && strings.Contains(res.Message, unknownNote) {
			p.unknown = true
		}
		r.lines[res.Line] = p
		r.Rows++
		if p.final {
			r.Final++
		}
		if res.Status == report.StatusFailed || res.Status == report.StatusInvalid {
			r.NotOK++
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

func (r *Resume) check(row *Row) (prior, bool, error) {
	if r == nil {
		return prior{}, false, nil
	}
	p, ok := r.lines[row.Line]
	if !ok {
		return prior{}, false, nil
	}
	if p.ident != r.ident(row.Username, row.TokenSn) {
		return prior{}, false, fmt.Errorf("%w: its row for line %d names another username or tokenSn than the input; resume with the input it was made from, or use --force to start over", ErrResumeMismatch, row.Line)
	}
	return p, true, nil
}
