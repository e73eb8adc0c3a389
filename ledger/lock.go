package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ErrInUse is matched (errors.Is) by the error Open returns when another run
// holds the ledger.
var ErrInUse = errors.New("ledger in use by another run")

// errWouldBlock is what tryLock returns when another holder has the lock.
var errWouldBlock = errors.New("lock held elsewhere")

// pollInterval is how often Open tries again for the lock while it waits.
const pollInterval = 100 * time.Millisecond

// fileLock is an exclusive advisory lock on a file beside the ledger. The
// file is never removed: removing it while another process waits on it
// would let a third lock a new file of the same name.
type fileLock struct{ f *os.File }

// inUseError says who holds the ledger, as far as the lock file tells.
type inUseError struct {
	path   string
	holder string        // from the lock file; may be empty
	waited time.Duration // how long Open waited
}

func (e *inUseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger %s is in use by another tokenreg run", e.path)
	if e.holder != "" {
		fmt.Fprintf(&b, " (%s)", e.holder)
	}
	if e.waited > 0 {
		fmt.Fprintf(&b, ", still after waiting %s", e.waited)
	}
	b.WriteString("; wait for it to finish, or pass a different --ledger")
	return b.String()
}

func (e *inUseError) Is(target error) bool { return target == ErrInUse }

// acquire takes the lock file of the ledger at path, trying again every
// pollInterval (or wait/4, if shorter) until wait has passed, and writes who
// holds it into it.
//
// The lock file may sit in a directory other users can write (a shared
// /var/lib/tokenreg): it is opened without following a symbolic link, must
// be a regular file owned by the effective user, and is never truncated —
// the holder's line is written over the start of the file (the reader
// stops at its newline), so a planted link or file cannot make tokenreg
// clobber someone else's file.
func acquire(ctx context.Context, path string, wait time.Duration, runID string) (*fileLock, error) {
	name := path + ".lock"
	f, err := openOwned(name)
	if err != nil {
		return nil, fmt.Errorf("lock ledger: %w", err)
	}
	poll := pollInterval
	if wait > 0 && wait/4 < poll {
		poll = max(wait/4, time.Millisecond)
	}
	deadline := time.Now().Add(wait)
	for {
		err := tryLock(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errWouldBlock) {
			f.Close()
			return nil, fmt.Errorf("lock ledger: %s: %w", name, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			holder := readHolder(f)
			f.Close()
			return nil, &inUseError{path: path, holder: holder, waited: wait}
		}
		t := time.NewTimer(min(left, poll))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("lock ledger %s: %w", path, ctx.Err())
		case <-t.C:
		}
	}
	// Only for the message a second run prints: the lock holds without it.
	f.WriteAt([]byte(holderLine(runID)), 0)
	return &fileLock{f: f}, nil
}

// effectiveUID is the user the files must belong to; tests replace it.
var effectiveUID = os.Geteuid

// openOwned opens (creating, mode 0600) a file tokenreg keeps beside the
// ledger, refusing a symbolic link, anything but a regular file, and a
// file of another user. It never truncates.
func openOwned(name string) (*os.File, error) {
	if oNoFollow == 0 && isSymlink(name) {
		return nil, fmt.Errorf("%s is a symbolic link: tokenreg does not follow links for the files it writes beside the ledger; remove it (tokenreg creates the file itself) or pass a different --ledger", name)
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		if isSymlink(name) {
			return nil, fmt.Errorf("%s is a symbolic link: tokenreg does not follow links for the files it writes beside the ledger; remove it (tokenreg creates the file itself) or pass a different --ledger", name)
		}
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if err := checkOwned(name, fi); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkOwned refuses a file that is not regular or not the effective
// user's.
func checkOwned(name string, fi os.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%s): remove it or pass a different --ledger", name, fi.Mode().Type())
	}
	if uid, ok := fileOwner(fi); ok && uid != effectiveUID() {
		return fmt.Errorf("%s belongs to another user (uid %d, not %d): tokenreg refuses to write a file another user planted; remove it or pass a different --ledger", name, uid, effectiveUID())
	}
	return nil
}

// checkSidecar refuses a planted link or foreign file where SQLite will
// create its WAL or shared-memory file; a missing one is fine.
func checkSidecar(name string) error {
	fi, err := os.Lstat(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symbolic link: tokenreg does not follow links for the files it writes beside the ledger; remove it or pass a different --ledger", name)
	}
	return checkOwned(name, fi)
}

// isSymlink reports whether name is a symbolic link.
func isSymlink(name string) bool {
	fi, err := os.Lstat(name)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// release unlocks and closes the lock file.
func (l *fileLock) release() error {
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// holderLine describes this process for the lock file.
func holderLine(runID string) string {
	host, _ := os.Hostname()
	s := "pid " + strconv.Itoa(os.Getpid())
	if host != "" {
		s += " on " + host
	}
	return s + ", started " + time.Now().UTC().Format(time.RFC3339) + ", run " + runID + "\n"
}

// readHolder reads the holder's line from the lock file, keeping only
// printable characters: the file is another process's, and its text goes to
// a terminal.
func readHolder(f *os.File) string {
	buf := make([]byte, 256)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return ""
	}
	line, _, _ := strings.Cut(string(buf[:n]), "\n")
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, line))
}
