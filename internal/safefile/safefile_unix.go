//go:build unix

package safefile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// OpenNoFollow opens path with flag without following a symbolic link in
// its last element (an *os.PathError wrapping ErrLink) and without blocking
// on a FIFO. It does not check what it opened: see CheckInfo.
func OpenNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: refused (tokenreg does not follow links to the files it writes)", ErrLink)}
		}
		return nil, err
	}
	return f, nil
}

// Owner returns the uid that owns the file st describes.
func Owner(st os.FileInfo) (int, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(sys.Uid), true
}

// tryLock takes an exclusive flock(2) on f without blocking. flock locks
// belong to the open file description, so two Opens in one process exclude
// each other too, and are released when the process dies.
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

func unlock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
