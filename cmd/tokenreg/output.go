package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/report"
)

// resultFile is the open result CSV.
type resultFile struct {
	w      *report.Writer
	f      *os.File // nil when writing to stdout
	resume *batch.Resume
	torn   bool
}

// openResult opens the result for writing. An existing file is continued
// with resume, replaced with force, and otherwise refused, never touched.
func openResult(path string, stdout io.Writer, resume, force bool) (*resultFile, error) {
	if path == "-" {
		if resume {
			return nil, usagef("--resume needs a result file, not stdout")
		}
		w := report.NewWriter(stdout)
		if err := w.WriteHeader(); err != nil {
			return nil, err
		}
		return &resultFile{w: w}, nil
	}
	const perm = 0o600 // usernames and phone numbers are personal data
	switch {
	case resume:
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
		if err != nil {
			return nil, usagef("result: %v", err)
		}
		rs, good, torn, err := batch.LoadResume(path, f)
		if err != nil {
			f.Close()
			return nil, usagef("--resume: %v; if the file is not a tokenreg result, use another --out or --force", err)
		}
		// Drop a torn last line (a crash mid-write) and append after the
		// last complete row.
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, usagef("result: %v", err)
		}
		if _, err := f.Seek(good, io.SeekStart); err != nil {
			f.Close()
			return nil, usagef("result: %v", err)
		}
		w := report.NewWriter(f)
		if good == 0 {
			if err := w.WriteHeader(); err != nil {
				f.Close()
				return nil, err
			}
		}
		return &resultFile{w: w, f: f, resume: rs, torn: torn}, nil
	case force:
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
		if err != nil {
			return nil, usagef("result: %v", err)
		}
		return newResult(f)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return nil, usagef("result file %s already exists: use --resume to continue it, --force to replace it, or --out to write elsewhere", path)
	}
	if err != nil {
		return nil, usagef("result: %v", err)
	}
	return newResult(f)
}

func newResult(f *os.File) (*resultFile, error) {
	w := report.NewWriter(f)
	if err := w.WriteHeader(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write result header: %w", err)
	}
	return &resultFile{w: w, f: f}, nil
}

// finish syncs the result to disk. It may be called before close.
func (r *resultFile) finish() error {
	if r.f == nil {
		return nil
	}
	if err := r.f.Sync(); err != nil {
		return fmt.Errorf("sync result %s: %w", r.f.Name(), err)
	}
	return nil
}

func (r *resultFile) close() {
	if r.f != nil {
		r.f.Close()
	}
}
