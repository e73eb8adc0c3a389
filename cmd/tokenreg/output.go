package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/internal/safefile"
	"github.com/tokenreg/tokenreg/report"
)

// The result file (SPEC §5) is handled so that every input line has exactly
// one result row at every moment a run is not writing, whatever the
// operator or the machine does:
//
//   - It is locked for the whole run, before anything is read, truncated or
//     renamed. The lock is on a sidecar file, RESULT.lock, never on the
//     result itself: the result is replaced by rename (--force, --resume), so
//     a lock on its inode would be left behind on the old file. The lock file
//     is opened without following links, must be a regular file owned by
//     this user, and is never truncated or removed.
//   - --force writes a new file beside the result and renames it over the
//     result: a planted symbolic link is replaced, never followed, and the
//     new file is this user's, mode 0600.
//   - --resume reads the result (refusing a link, or a file of another
//     user), checks it against the input, then writes the rows it keeps (all
//     but the error rows it will send again, and a torn last line) to a new
//     file, syncs it and renames it over the result, then appends. A crash
//     at any moment leaves either the old file or the new one.

// resultFile is the open result CSV.
type resultFile struct {
	w      *report.Writer
	f      *os.File // nil when writing to stdout
	good   *goodWriter
	lock   *safefile.Lock
	resume *batch.Resume
	torn   bool
	kept   int // rows kept by a resume's rewrite
}

// openResult locks and opens the result for writing. An existing file is
// continued with resume, replaced with force, and otherwise refused, never
// touched. verify, if not nil, checks the earlier result against the input
// before the file is changed.
func openResult(path string, stdout io.Writer, resume, force bool, verify func(*batch.Resume) error) (_ *resultFile, err error) {
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
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return nil, usagef("result %s is a directory: give --out a file name, e.g. --out %s", path, filepath.Join(path, "result.csv"))
	}
	lock, err := lockResult(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.Unlock()
		}
	}()
	var res *resultFile
	switch {
	case resume:
		res, err = resumeResult(path, verify)
	case force:
		res, err = replaceResult(path, nil)
	default:
		res, err = newResult(path)
	}
	if err != nil {
		return nil, err
	}
	res.lock = lock
	return res, nil
}

// lockResult takes the result's lock, or says which run holds it.
func lockResult(path string) (*safefile.Lock, error) {
	host, _ := os.Hostname()
	holder := "pid " + strconv.Itoa(os.Getpid())
	if host != "" {
		holder += " on " + host
	}
	holder += ", started " + time.Now().UTC().Format(time.RFC3339)
	lock, err := safefile.TryLock(path+".lock", holder)
	var le *safefile.LockedError
	switch {
	case errors.As(err, &le):
		who := "another tokenreg run"
		if le.Holder != "" {
			who += " (" + le.Holder + ")"
		}
		return nil, usagef("result file %s is in use by %s; nothing was changed: wait for it to finish, or write elsewhere with --out", path, who)
	case err != nil:
		return nil, usagef("lock result file: %v", err)
	}
	return lock, nil
}

// newResult creates the result; it must not exist yet.
func newResult(path string) (*resultFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // usernames and phone numbers are personal data
	if errors.Is(err, fs.ErrExist) {
		return nil, usagef("result file %s already exists: use --resume to continue it, --force to replace it, or --out to write elsewhere", path)
	}
	if err != nil {
		return nil, usagef("result: %v", err)
	}
	res := &resultFile{f: f, good: &goodWriter{f: f}}
	res.w = report.NewWriter(res.good)
	if err := res.w.WriteHeader(); err != nil {
		f.Close()
		return nil, fmt.Errorf("write result header: %w", err)
	}
	return res, nil
}

// replaceResult writes a new result beside path — its header, then the
// rows of keep if not nil — syncs it and renames it over path. It returns the
// new file, open for appending.
func replaceResult(path string, keep func(*report.Writer) (int, error)) (_ *resultFile, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // mode 0600, O_EXCL
	if err != nil {
		return nil, usagef("result: %v", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	res := &resultFile{f: f, good: &goodWriter{f: f}}
	res.w = report.NewWriter(res.good)
	if err := res.w.WriteHeader(); err != nil {
		return nil, fmt.Errorf("write result: %w", err)
	}
	if keep != nil {
		if res.kept, err = keep(res.w); err != nil {
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		return nil, fmt.Errorf("sync result: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return nil, fmt.Errorf("replace result: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("sync result directory: %w", err)
	}
	return res, nil
}

// resumeResult reads the earlier result at path, checks it with verify,
// and rewrites it without the rows the run will send again.
func resumeResult(path string, verify func(*batch.Resume) error) (*resultFile, error) {
	old, err := safefile.Open(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing to continue (the first run stopped before it made the
		// file): start it.
		res, err := newResult(path)
		if err != nil {
			return nil, err
		}
		res.resume, _, _, _ = batch.LoadResume(path, strings.NewReader(""))
		return res, nil
	}
	if err != nil {
		return nil, usagef("--resume: %v; continue only a result file of your own (or use --force to replace it)", err)
	}
	defer old.Close()
	rs, _, torn, err := batch.LoadResume(path, old)
	if errors.Is(err, batch.ErrTwoRows) {
		return nil, usagef("--resume: %v: an older tokenreg wrote a second row for a line it tried again; keep only the last row of each line (`tokenreg repair %s` does that), then resume", err, path)
	}
	if err != nil {
		return nil, usagef("--resume: %v; if the file is not a tokenreg result, use another --out or --force", err)
	}
	if verify != nil {
		if err := verify(rs); err != nil {
			return nil, err
		}
	}
	res, err := replaceResult(path, func(w *report.Writer) (int, error) {
		if _, err := old.Seek(0, io.SeekStart); err != nil {
			return 0, err
		}
		kept := 0
		_, _, err := report.Recover(old, func(r report.Result) error {
			if !r.Status.Final() {
				return nil // sent again by this run
			}
			kept++
			return w.Write(r)
		})
		if err != nil {
			return 0, fmt.Errorf("rewrite result: %w", err)
		}
		return kept, nil
	})
	if err != nil {
		return nil, err
	}
	res.resume, res.torn = rs, torn
	return res, nil
}

// goodWriter passes rows to the file and remembers where the last one that
// was written whole ends: after a failed write the file is cut back there,
// so that the answers shown on stderr can be appended to a whole file.
type goodWriter struct {
	f    *os.File
	good int64
}

func (g *goodWriter) Write(p []byte) (int, error) {
	n, err := g.f.Write(p)
	if err == nil && n == len(p) {
		g.good += int64(n)
	}
	return n, err
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

// cut drops a partly written last row after a failed write.
func (r *resultFile) cut() error {
	if r.f == nil {
		return nil
	}
	if err := r.f.Truncate(r.good.good); err != nil {
		return err
	}
	return r.f.Sync()
}

func (r *resultFile) close() {
	if r.f != nil {
		r.f.Close()
	}
	if r.lock != nil {
		r.lock.Unlock()
	}
}

// syncDir makes a rename in dir durable. Some file systems cannot sync a
// directory, nor can Windows; the rename has happened, so that is not an
// error.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}
