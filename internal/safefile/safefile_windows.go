//go:build windows

package safefile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// OpenNoFollow refuses a link found by Lstat before opening: Windows has no
// O_NOFOLLOW, and creating a symbolic link there needs a privilege.
func OpenNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: refused (tokenreg does not follow links to the files it writes)", ErrLink)}
	}
	return os.OpenFile(path, flag, perm)
}

// Owner reports no owner: ownership is an ACL question here, not checked.
func Owner(os.FileInfo) (int, bool) { return 0, false }

// lockOffset is the byte locked: far past the holder's record, since Windows
// locks are mandatory and would stop another process reading it.
const lockOffset = 1 << 30

func tryLock(f *os.File) error {
	ol := windows.Overlapped{Offset: lockOffset}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errWouldBlock
	}
	return err
}

func unlock(f *os.File) error {
	ol := windows.Overlapped{Offset: lockOffset}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}
