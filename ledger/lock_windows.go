//go:build windows

package ledger

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockOffset is the byte that is locked: far past the holder's line, since
// Windows locks are mandatory and would stop the next run reading it.
const lockOffset = 1 << 30

// tryLock takes an exclusive lock on f without blocking. It is released when
// the handle is closed, and so when the process dies.
func tryLock(f *os.File) error {
	ol := windows.Overlapped{Offset: lockOffset}
	err := windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return errWouldBlock
	}
	return err
}

// unlock releases the lock taken by tryLock.
func unlock(f *os.File) error {
	ol := windows.Overlapped{Offset: lockOffset}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, &ol)
}

// oNoFollow is 0: there is no O_NOFOLLOW here; openOwned's Lstat check
// (isSymlink) and the regular-file check stand in for it.
const oNoFollow = 0

// fileOwner reports no owner: Windows has no uid (ACLs guard the files).
func fileOwner(os.FileInfo) (int, bool) { return 0, false }
