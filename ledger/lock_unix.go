//go:build unix

package ledger

import (
	"errors"
	"os"
	"syscall"
)

// oNoFollow makes OpenFile refuse a symbolic link as the last element.
const oNoFollow = syscall.O_NOFOLLOW

// fileOwner returns the owner of a file.
func fileOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// tryLock takes an exclusive flock(2) on f without blocking. flock locks
// belong to the open file description, so two Opens in one process exclude
// each other too. They are released when the file is closed, and so when
// the process dies, however it dies.
func tryLock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errWouldBlock
		}
		return err
	}
}

// unlock releases the lock taken by tryLock.
func unlock(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
