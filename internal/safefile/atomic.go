package safefile

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// Options say how Commit puts an Atomic file in place.
type Options struct {
	// Replace lets Commit replace whatever has the name: a file, another
	// user's file, a symbolic link (the name is replaced; nothing is
	// written through it). Without Replace, Commit puts the file in place
	// only if nothing has the name, in one step (a hard link on Unix, or
	// on a Linux file system without hard links a RENAME_NOREPLACE; a
	// rename that does not replace on Windows), and otherwise returns an
	// error that matches fs.ErrExist, leaving the name as it was.
	Replace bool
}

// Atomic is a new file written beside its final name and put in place by
// Commit, so that a reader, or a crash, sees the old file (or nothing) or
// the whole new one, never a part. It is tokenreg's one way to write a file
// that replaces or must not replace another: summaries, metrics, reports,
// a resumed result's rewrite, merge's result, the ledger's export.
//
// The temporary file is created beside path with O_CREATE|O_EXCL under a
// random name, so in a directory others can write it never opens a file or
// follows a link planted there (it picks another name); it belongs to the
// caller and has mode perm exactly, whatever the umask. On Windows, where
// mode bits do not exist, a perm that gives group and others nothing (0600)
// gives the file, from its creation, a protected access-control list that
// lets in only the user, Administrators and SYSTEM; any other perm leaves
// the list the directory hands down.
//
// An Atomic is not safe for concurrent use.
type Atomic struct {
	f       *os.File
	path    string
	dir     string
	replace bool
	size    int64
	werr    error // the first write error
	done    bool  // committed or closed
}

// maxTempTries bounds how many taken temporary names Create skips.
const maxTempTries = 100

// Create creates the temporary file for path.
func Create(path string, perm os.FileMode, opts Options) (*Atomic, error) {
	return create(path, perm, opts, randomTempName)
}

func randomTempName(base string) string {
	return "." + base + ".tmp-" + strconv.FormatUint(rand.Uint64(), 36)
}

// create is Create with the temporary names chosen by tempName (tests
// plant files and links at the names it will pick).
func create(path string, perm os.FileMode, opts Options, tempName func(base string) string) (*Atomic, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var f *os.File
	for try := 1; ; try++ {
		// createTemp fails on any existing name, a symbolic link
		// included, whatever it points to.
		var err error
		f, err = createTemp(filepath.Join(dir, tempName(base)), perm)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || try == maxTempTries {
			return nil, err
		}
	}
	// On the descriptor, not the name: the name could be swapped for a
	// link by now in a directory others can write.
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &Atomic{f: f, path: path, dir: dir, replace: opts.Replace}, nil
}

// Write writes to the temporary file. After a failed Write, Commit fails
// too: a file with a hole is never put in place.
func (a *Atomic) Write(p []byte) (int, error) {
	if a.done {
		return 0, os.ErrClosed
	}
	n, err := a.f.Write(p)
	a.size += int64(n)
	if err != nil && a.werr == nil {
		a.werr = err
	}
	return n, err
}

// Size is the number of bytes written.
func (a *Atomic) Size() int64 { return a.size }

// Path is the name Commit puts the file at.
func (a *Atomic) Path() string { return a.path }

// Commit puts the file in place: it syncs and closes the temporary file,
// renames it over the path (Replace) or links it there if nothing has the
// name, and makes that durable (a directory sync on Unix; a write-through
// rename on Windows, which cannot sync a directory). On any error the
// temporary file is removed and the path is as it was, unless only the
// final directory sync failed, after the file was in place.
func (a *Atomic) Commit() error {
	if a.done {
		return os.ErrClosed
	}
	a.done = true
	tmp := a.f.Name()
	fail := func(err error) error {
		a.f.Close()
		os.Remove(tmp)
		return err
	}
	if a.werr != nil {
		return fail(a.werr)
	}
	if err := a.f.Sync(); err != nil {
		return fail(err)
	}
	// Closed before the rename: Windows cannot rename a file that is open
	// without FILE_SHARE_DELETE, which Go does not ask for.
	if err := a.f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := moveIntoPlace(tmp, a.path, a.replace); err != nil {
		os.Remove(tmp)
		return err
	}
	return SyncDir(a.dir)
}

// Close removes the temporary file unless Commit was called: deferred
// after Create, it cleans up every path that did not commit. It returns nil
// after Commit.
func (a *Atomic) Close() error {
	if a.done {
		return nil
	}
	a.done = true
	err := a.f.Close()
	if rerr := os.Remove(a.f.Name()); err == nil {
		err = rerr
	}
	return err
}
