package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
// before the file is changed. locked, if not nil, is called once the lock
// is held and before the file is created, replaced or rewritten: what may
// still refuse the run (the ledger) is opened there, so that a refused run
// leaves the result as it was.
func openResult(path string, stdout io.Writer, resume, force bool, verify func(*batch.Resume) error, locked func() error) (_ *resultFile, err error) {
	if locked == nil {
		locked = func() error { return nil }
	}
	if path == "-" {
		if resume {
			return nil, usagef("--resume needs a result file, not stdout")
		}
		if err := locked(); err != nil {
			return nil, err
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
	if err := locked(); err != nil {
		return nil, err
	}
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
func replaceResult(path string, keep func(*report.Writer) (int, error)) (*resultFile, error) {
	t, err := newTempResult(path)
	if err != nil {
		return nil, err
	}
	if keep != nil {
		if t.kept, err = keep(t.w); err != nil {
			t.abort()
			return nil, err
		}
	}
	return t.commit(path)
}

// tempResult is the replacement of a result file, written beside it and not
// yet in its place.
type tempResult struct {
	a    *safefile.Atomic
	bw   *bufio.Writer // rows copied from the old file need no flush each
	w    *report.Writer
	kept int
	werr error // the first write error
}

// newTempResult creates the replacement through safefile's atomic writer
// (mode 0600, a new file of this user's: nothing planted is reused) and
// writes the header.
func newTempResult(path string) (*tempResult, error) {
	a, err := safefile.Create(path, 0o600, safefile.Options{Replace: true}) // usernames and phone numbers are personal data
	if err != nil {
		return nil, usagef("result: %v", err)
	}
	t := &tempResult{a: a, bw: bufio.NewWriterSize(a, 256<<10)}
	t.w = report.NewWriter(t.bw)
	if err := t.w.WriteHeader(); err != nil {
		t.abort()
		return nil, fmt.Errorf("write result: %w", err)
	}
	return t, nil
}

// write copies a kept row.
func (t *tempResult) write(r report.Result) error {
	t.kept++
	if err := t.w.Write(r); err != nil {
		t.werr = err
		return err
	}
	return nil
}

// abort removes the replacement.
func (t *tempResult) abort() { t.a.Close() }

// commit puts the replacement in place (synced, renamed over path, the
// rename made durable): a crash at any moment leaves the old file or the new
// one. It returns the result, open for appending after the kept rows.
func (t *tempResult) commit(path string) (*resultFile, error) {
	if err := t.bw.Flush(); err != nil {
		t.abort()
		return nil, fmt.Errorf("write result: %w", err)
	}
	end := t.a.Size()
	if err := t.a.Commit(); err != nil {
		return nil, fmt.Errorf("replace result: %w", err)
	}
	// Reopened as safely as a resumed result: in a directory others can
	// write, the name must still be this user's regular file, of the size
	// just written.
	f, err := safefile.Open(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen result: %w", err)
	}
	if st, err := f.Stat(); err != nil || st.Size() != end {
		f.Close()
		return nil, fmt.Errorf("reopen result %s: it changed after it was written; is another program writing there?", path)
	}
	if _, err := f.Seek(end, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("reopen result: %w", err)
	}
	res := &resultFile{f: f, good: &goodWriter{f: f, good: end}, kept: t.kept}
	res.w = report.NewWriter(res.good)
	return res, nil
}

// resumeResult reads the earlier result at path, checks it with verify,
// and replaces it by a copy without the rows the run will send again. The
// copy is written in the same pass as the reading, and put in place only
// once verify agreed.
func resumeResult(path string, verify func(*batch.Resume) error) (*resultFile, error) {
	old, err := safefile.Open(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		// Nothing to continue (the first run stopped before it made the
		// file): start it.
		res, err := newResult(path)
		if err != nil {
			return nil, err
		}
		res.resume, _, _, _ = batch.LoadResume(path, strings.NewReader(""), nil)
		return res, nil
	}
	if err != nil {
		return nil, usagef("--resume: %v; continue only a result file of your own (or use --force to replace it)", err)
	}
	defer old.Close() // a second Close after the one below is harmless
	t, err := newTempResult(path)
	if err != nil {
		return nil, err
	}
	rs, _, torn, err := batch.LoadResume(path, old, t.write)
	// Closed before the rename: Windows cannot rename over a file that is
	// open without FILE_SHARE_DELETE, which os.Open does not ask for.
	old.Close()
	if err == nil && verify != nil {
		err = verify(rs)
	}
	if err != nil {
		t.abort()
		if t.werr != nil {
			return nil, fmt.Errorf("rewrite result %s beside it (nothing was changed): %w", path, t.werr)
		}
		if errors.Is(err, batch.ErrTwoRows) {
			return nil, usagef("--resume: %v: an older tokenreg wrote a second row for a line it tried again; keep only the last row of each line (`tokenreg repair %s` does that), then resume", err, path)
		}
		var ue *usageError
		var ie *batch.InputError
		if errors.As(err, &ue) || errors.As(err, &ie) {
			return nil, err
		}
		return nil, usagef("--resume: %v; if the file is not a tokenreg result, use another --out or --force", err)
	}
	res, err := t.commit(path)
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

// namedPath is a file a command was given, and how to name it to the
// operator: a flag, "the input".
type namedPath struct{ name, path string }

// checkReports refuses a report file (--summary, --metrics, --html; an
// empty path is none) that names one of others (the input, the result, the
// ledger; "-" is none) or another report: written at the end by rename, it
// would replace that file. It also refuses one whose directory cannot take
// a new file, so that the command fails before it does anything rather
// than at its end.
func checkReports(reports, others []namedPath) error {
	for _, r := range reports {
		if r.path == "" {
			continue
		}
		for _, o := range others {
			if o.path != "-" && samePath(r.path, o.path) {
				return fmt.Errorf("%s %s is also %s: give it a file of its own", r.name, r.path, o.name)
			}
		}
		if err := canWriteBeside(r.path); err != nil {
			return fmt.Errorf("%s %s: %w", r.name, r.path, err)
		}
		others = append(others, r)
	}
	return nil
}

// canWriteBeside checks that a file written through safefile.Create can be
// put at path: the temporary file it starts with can be created beside
// path (and is removed again), and path is not a directory.
func canWriteBeside(path string) error {
	if st, err := os.Lstat(path); err == nil && st.IsDir() {
		return errors.New("it is a directory")
	}
	a, err := safefile.Create(path, 0o600, safefile.Options{Replace: true})
	if err != nil {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err // the temporary name means nothing to the operator
		}
		return fmt.Errorf("no file can be created in %s: %w", filepath.Dir(path), err)
	}
	return a.Close()
}
