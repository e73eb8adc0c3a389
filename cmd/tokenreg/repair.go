package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/tokenreg/tokenreg/internal/safefile"
	"github.com/tokenreg/tokenreg/report"
)

const repairUsage = `Usage: tokenreg repair RESULT.csv

Rewrites a result file that has more than one row for an input line (older
versions of tokenreg wrote one on --resume for every line they tried again),
keeping the last row of each line: rows are written in completion order, so
the last one is the line's latest outcome. A torn last line (a crash in the
middle of a write) is dropped too. The file is replaced atomically, under the
same lock a run takes. --resume and retry accept the repaired file.

Example:
  tokenreg repair staff.result.csv && tokenreg run staff.csv --resume
`

// runRepair is `tokenreg repair RESULT.csv`.
func runRepair(ctx context.Context, args []string, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("tokenreg repair", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, repairUsage); fs.PrintDefaults() }
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage, usagef("repair takes one result file, got %d arguments", len(pos))
	}
	path := pos[0]
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return exitUsage, usagef("%s is a directory, not a result file", path)
	}
	lock, err := lockResult(path)
	if err != nil {
		return exitUsage, err
	}
	defer lock.Unlock()
	f, err := safefile.Open(path, os.O_RDONLY, 0)
	if err != nil {
		return exitUsage, usagef("repair: %v", err)
	}
	defer f.Close()

	// Pass 1: which row is the last of its line.
	var last lastRows
	n := 0
	if _, _, err := report.Recover(f, func(r report.Result) error {
		last.set(r.Line, n)
		n++
		return nil
	}); err != nil {
		return exitUsage, usagef("repair %s: %v", path, err)
	}
	if ctx.Err() != nil {
		return exitInterrupted, nil
	}
	// Pass 2: write those, in file order.
	res, err := replaceResult(path, func(w *report.Writer) (int, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		i, kept := 0, 0
		_, _, err := report.Recover(f, func(r report.Result) error {
			defer func() { i++ }()
			if last.get(r.Line) != i {
				return nil
			}
			kept++
			return w.Write(r)
		})
		return kept, err
	})
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage, err
		}
		return exitUsage, fmt.Errorf("repair %s: %w", path, err)
	}
	err = res.finish()
	res.f.Close()
	if err != nil {
		return exitUsage, err
	}
	fmt.Fprintf(stderr, "tokenreg: %s: kept %d row(s), one per line; dropped %d superseded row(s)\n", path, res.kept, n-res.kept)
	return exitOK, nil
}

// lastRows maps an input line to the index of its last row in the result.
// Lines are dense (one row per line, a few gaps for blank lines and
// multi-line records), so a slice indexed by line holds them in 4 bytes a
// line where a map would take ~40; a line far beyond the rows seen so far
// (a hand-edited or hostile file) goes to a map instead, so that one
// huge line number cannot allocate gigabytes.
type lastRows struct {
	dense  []int32 // dense[line] = row index + 1; 0 = none
	sparse map[int]int
	rows   int
}

func (l *lastRows) set(line, row int) {
	l.rows++
	if line >= 0 && line < 4*l.rows+1024 && row < 1<<31-1 {
		if line >= len(l.dense) {
			l.dense = slices.Grow(l.dense, line+1-len(l.dense))[:line+1]
		}
		l.dense[line] = int32(row + 1)
		if l.sparse != nil {
			delete(l.sparse, line)
		}
		return
	}
	if l.sparse == nil {
		l.sparse = make(map[int]int)
	}
	if line >= 0 && line < len(l.dense) {
		l.dense[line] = 0
	}
	l.sparse[line] = row
}

// get returns the index of line's last row, -1 if it has none.
func (l *lastRows) get(line int) int {
	if row, ok := l.sparse[line]; ok {
		return row
	}
	if line >= 0 && line < len(l.dense) && l.dense[line] != 0 {
		return int(l.dense[line]) - 1
	}
	return -1
}
