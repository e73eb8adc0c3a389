package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tokenreg/tokenreg/internal/safefile"
)

// ErrInUse is matched (errors.Is) by the error Open returns when another run
// holds the ledger.
var ErrInUse = errors.New("ledger in use by another run")

// pollInterval is how often Open tries again for the lock while it waits.
const pollInterval = 100 * time.Millisecond

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
	b.WriteString("; wait for it to finish, or use another ledger file")
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
func acquire(ctx context.Context, path string, wait time.Duration, runID string) (*safefile.Lock, error) {
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
		lock, err := safefile.LockFile(f, holderLine(runID))
		if err == nil {
			return lock, nil
		}
		var le *safefile.LockedError
		if !errors.As(err, &le) {
			f.Close()
			return nil, fmt.Errorf("lock ledger: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			f.Close()
			return nil, &inUseError{path: path, holder: le.Holder, waited: wait}
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
}

// effectiveUID is the user the files must belong to; tests replace it.
var effectiveUID = os.Geteuid

// openOwned opens (creating, mode 0600) a file tokenreg keeps beside the
// ledger, refusing a symbolic link, anything but a regular file, and a
// file of another user. It never truncates.
func openOwned(name string) (*os.File, error) {
	f, err := safefile.OpenNoFollow(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, reword(name, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = safefile.CheckInfo(name, fi, effectiveUID())
	}
	if err != nil {
		f.Close()
		return nil, reword(name, err)
	}
	return f, nil
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
		return reword(name, safefile.ErrLink)
	}
	return reword(name, safefile.CheckInfo(name, fi, effectiveUID()))
}

// reword says what safefile refused in the ledger's terms, and what to do.
func reword(name string, err error) error {
	var fe *safefile.ForeignError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, safefile.ErrLink):
		return fmt.Errorf("%s is a symbolic link: tokenreg does not follow links for the files it writes beside the ledger; remove it (tokenreg creates the file itself) or use another ledger file", name)
	case errors.As(err, &fe):
		return fmt.Errorf("%s belongs to another user (uid %d, not %d): tokenreg refuses to write a file another user planted; remove it or use another ledger file", name, fe.UID, fe.EUID)
	case errors.Is(err, safefile.ErrNotRegular):
		return fmt.Errorf("%w: remove it or use another ledger file", err)
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
	return s + ", started " + time.Now().UTC().Format(time.RFC3339) + ", run " + runID
}
