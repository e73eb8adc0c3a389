package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/internal/safefile"
	"github.com/tokenreg/tokenreg/report"
)

// The input of run, retry and validate: opened, checked whole before
// anything is sent, and read again to check a result that --resume
// continues.

// openInput opens the input and, for a regular file, counts its rows with
// the same reader the run uses, so that a fatal problem stops the run before
// anything is sent. total is -1 when unknown (a pipe or device that was not
// read ahead); sha is the input's SHA-256 from that pre-pass, "" without one.
func openInput(path string, stdin io.Reader, unescape bool, sel func(*batch.Row) bool) (in io.ReadCloser, name string, total int64, sha string, err error) {
	var f *os.File
	if path == "-" {
		// Standard input is spooled to a private temporary file, so that it
		// is checked whole before anything is sent, like a regular file.
		if f, err = spool(stdin); err != nil {
			return nil, "-", 0, "", err
		}
	} else if f, err = os.Open(path); err != nil {
		return nil, path, 0, "", usagef("input: %v", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		if err == nil && st.IsDir() {
			f.Close()
			return nil, path, 0, "", usagef("input %s is a directory", path)
		}
		return f, path, -1, "", nil
	}
	// The pre-pass reads the whole file: it hashes it too, so that the
	// summary has the input's SHA-256 even when the run stops early.
	rd, err := batch.NewReader(path, f, batch.ReaderOptions{Unescape: unescape})
	if err != nil {
		f.Close()
		return nil, path, 0, "", err
	}
	var n int64
	if sel == nil {
		c, err := rd.Count()
		if err != nil {
			f.Close()
			return nil, path, 0, "", err
		}
		n = int64(c)
	} else {
		for {
			row, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, path, 0, "", err
			}
			if sel(&row) {
				n++
			}
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, path, 0, "", usagef("input: %v", err)
	}
	return f, path, n, rd.SHA256(), nil
}

// spool copies r into an unlinked temporary file and returns it rewound.
func spool(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "tokenreg-stdin-*.csv") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	os.Remove(f.Name()) // gone with the last descriptor, even after a crash
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	return f, nil
}

// oneRowPerLine refuses a result file (retry's input) with two rows for one
// input line: retrying the older one would send a row whose line already
// has a later outcome. It rewinds in; an input that cannot be rewound is
// not checked.
func oneRowPerLine(in io.Reader, name string) error {
	s, ok := in.(io.ReadSeeker)
	if !ok {
		return nil
	}
	rr, err := report.NewReader(s)
	if err != nil {
		return nil // the input reader says what is wrong
	}
	var seen []uint64 // a bit per line
	for {
		r, err := rr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if _, bad := errors.AsType[*report.RowError](err); bad {
			continue // the run reports it as an invalid row
		}
		if err != nil {
			return usagef("read %s: %v", name, err)
		}
		if r.Line > 1<<28 {
			continue // past any real input; the bit set stays under 32 MiB
		}
		w := r.Line / 64
		if w >= len(seen) {
			seen = append(seen, make([]uint64, w+1-len(seen))...)
		}
		if seen[w]&(1<<(r.Line%64)) != 0 {
			return usagef("%s has two result rows for line %d: an older tokenreg wrote a second row for a line it tried again on --resume; keep only the last row of each line (`tokenreg repair %s` does that), then retry", name, r.Line, name)
		}
		seen[w] |= 1 << (r.Line % 64)
	}
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		return usagef("input: %v", err)
	}
	return nil
}

// verifyResume checks the earlier result against the whole input before
// the result is changed or anything sent, then rewinds the input.
func verifyResume(rs *batch.Resume, in io.ReadSeeker, name string, unescape bool) error {
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return usagef("input: %v", err)
	}
	rd, err := batch.NewReader(name, in, batch.ReaderOptions{Unescape: unescape, NoSHA256: true})
	if err != nil {
		return err
	}
	return rs.Verify(rd)
}

// resultInUse refuses a result file that a run is still writing (it holds
// the result's lock, RESULT.lock): retry and merge would read the rows
// written so far as if they were all. A result without a lock file, or
// whose lock file cannot be opened, is not checked. The lock is taken for
// an instant only, without writing to the file.
func resultInUse(path string) error {
	f, err := safefile.Open(path+".lock", os.O_RDONLY, 0)
	if err != nil {
		return nil
	}
	l, err := safefile.LockFile(f, "")
	if le, ok := errors.AsType[*safefile.LockedError](err); ok {
		f.Close()
		who := "another tokenreg run"
		if le.Holder != "" {
			who += " (" + le.Holder + ")"
		}
		return usagef("result file %s is being written by %s: wait for it to finish (or resume it), then try again", path, who)
	}
	if err != nil {
		f.Close()
		return nil
	}
	l.Unlock()
	return nil
}
