//go:build unix

package safefile

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func openNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &os.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: refused (tokenreg does not follow links to the files it writes)", ErrLink)}
		}
		return nil, err
	}
	return f, nil
}

func checkOwner(name string, st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if euid := os.Geteuid(); int(sys.Uid) != euid {
		return &os.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (uid %d, not uid %d): refused", ErrForeign, sys.Uid, euid)}
	}
	return nil
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
