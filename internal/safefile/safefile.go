package safefile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"unicode"
)

// ErrLink is wrapped when a path is a symbolic link.
var ErrLink = errors.New("is a symbolic link")

// ErrNotRegular is wrapped when a path is not a regular file (a directory,
// a FIFO, a device).
var ErrNotRegular = errors.New("is not a regular file")

// ErrForeign is wrapped when a file is owned by another user.
var ErrForeign = errors.New("is owned by another user")

// Open opens path with flag (os.O_RDONLY, os.O_RDWR|os.O_CREATE, ...),
// without following a symbolic link in its last element and without
// blocking on a FIFO, and returns it only if it is a regular file owned by
// the effective user (on Windows, only the link and type checks apply). A
// file it creates gets perm.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := OpenNoFollow(path, flag, perm)
	if err != nil {
		return nil, err
	}
	if err := Check(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Check returns an error unless f is a regular file owned by the effective
// user.
func Check(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return CheckInfo(f.Name(), st, os.Geteuid())
}

// CheckInfo returns an error unless st, the FileInfo of name, is a regular
// file owned by euid (on Windows, only the type is checked): an
// *os.PathError wrapping ErrNotRegular, or a *ForeignError.
func CheckInfo(name string, st os.FileInfo, euid int) error {
	if !st.Mode().IsRegular() {
		return &os.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (%s)", ErrNotRegular, Kind(st.Mode()))}
	}
	if uid, ok := Owner(st); ok && uid != euid {
		return &ForeignError{Path: name, UID: uid, EUID: euid}
	}
	return nil
}

// ForeignError is returned when a file is owned by another user; it
// matches ErrForeign (errors.Is).
type ForeignError struct {
	Path      string
	UID, EUID int // the file's owner, the user it should belong to
}

func (e *ForeignError) Error() string {
	return fmt.Sprintf("open %s: %v (uid %d, not uid %d): refused", e.Path, ErrForeign, e.UID, e.EUID)
}

// Is reports whether target is ErrForeign.
func (e *ForeignError) Is(target error) bool { return target == ErrForeign }

// Kind names the type of a file that is not a regular file, for messages:
// "a directory", "a FIFO (named pipe)", "a character device"...
func Kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO (named pipe)"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	}
	return "a special file"
}

// SyncDir makes a rename in dir durable. Some file systems cannot sync a
// directory, nor can Windows; the rename has happened, so that is not an
// error.
func SyncDir(dir string) error {
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

// LockedError is returned by Lock when another process holds the lock.
type LockedError struct {
	Path   string // the lock file
	Holder string // the holder's line from the lock file; may be empty
}

func (e *LockedError) Error() string {
	if e.Holder == "" {
		return e.Path + " is locked by another process"
	}
	return e.Path + " is locked by another process (" + e.Holder + ")"
}

// ErrLocked is matched (errors.Is) by a *LockedError.
var ErrLocked = errors.New("locked by another process")

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// A Lock is an exclusive advisory lock held on a lock file until Unlock or
// the process's end, however it ends. Locks exclude each other across
// processes and within one.
type Lock struct{ f *os.File }

// holderSize is the fixed length of the holder record at the start of a
// lock file: it is overwritten in place, never truncated, so that a second
// process reading it never meets a half-written or emptied file.
const holderSize = 256

// TryLock opens or creates (mode 0600) the lock file at path, as Open does
// (no link followed, a regular file owned by the effective user), and takes
// an exclusive lock on it without waiting. It writes holder (one line, e.g.
// the PID) into the file for the message a second process gets, a
// *LockedError naming the holder.
func TryLock(path, holder string) (*Lock, error) {
	f, err := Open(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	l, err := LockFile(f, holder)
	if err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// LockFile takes an exclusive lock on f, a lock file its caller opened
// read-write and checked (OpenNoFollow, CheckInfo), without waiting, and
// writes holder over the start of it as TryLock does. When another process
// holds the lock it returns a *LockedError naming that holder; on any
// error f stays open, for the caller to try again or close. The returned
// Lock owns f.
func LockFile(f *os.File, holder string) (*Lock, error) {
	if err := tryLock(f); err != nil {
		if errors.Is(err, errWouldBlock) {
			return nil, &LockedError{Path: f.Name(), Holder: readHolder(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	rec := []byte(strings.ReplaceAll(strings.TrimSuffix(holder, "\n"), "\n", " "))
	if len(rec) > holderSize-1 {
		rec = rec[:holderSize-1]
	}
	rec = append(rec, strings.Repeat(" ", holderSize-1-len(rec))...)
	rec = append(rec, '\n')
	f.WriteAt(rec, 0) // only for the message; the lock holds without it
	return &Lock{f: f}, nil
}

// Unlock releases the lock and closes the lock file, which stays in place:
// removing it while another process waits on it would let a third lock a
// new file of the same name.
func (l *Lock) Unlock() error {
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readHolder reads the holder's line, keeping only printable characters:
// the file is another process's, and its text goes to a terminal.
func readHolder(f *os.File) string {
	buf := make([]byte, holderSize)
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

var errWouldBlock = errors.New("lock held elsewhere")
