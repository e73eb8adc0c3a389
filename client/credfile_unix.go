//go:build unix

package client

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/tokenreg/tokenreg/internal/safefile"
)

// openCredentialsFile opens path for reading and checks the opened file,
// not the name, so that nothing can be swapped in between. O_NONBLOCK makes
// the open of a FIFO return at once (instead of waiting for a writer, deaf
// to SIGTERM) so that it can be refused; O_NOCTTY keeps a terminal device
// from becoming the controlling terminal. A symbolic link is followed (a
// Kubernetes Secret volume is made of them): what counts is the file read.
func openCredentialsFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentialsFile, err)
	}
	fi, err := f.Stat()
	if err == nil {
		owner, ok := safefile.Owner(fi)
		if !ok {
			owner = -1
		}
		err = checkCredentialsFile(path, fi.Mode(), owner, os.Geteuid())
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// checkCredentialsFile decides whether a file with this mode and owner may
// hold the credentials of a process running as euid: a regular file, owned
// by euid or root, with no permission for group or others (SPEC §3).
func checkCredentialsFile(path string, mode fs.FileMode, owner, euid int) error {
	if !mode.IsRegular() {
		return fmt.Errorf("%w %s is %s, not a regular file: give the path of the file itself", ErrCredentialsFile, path, safefile.Kind(mode))
	}
	if owner != euid && owner != 0 {
		return fmt.Errorf("%w %s belongs to user %d, not to the user running tokenreg (%d) or root: another user could have written it; copy it to a file of your own, mode 600", ErrCredentialsFile, path, owner, euid)
	}
	if mode.Perm()&0o077 != 0 {
		return fmt.Errorf("%w %s is open to group or others (mode %04o): it holds the secret code; run: chmod 600 %s", ErrCredentialsFile, path, mode.Perm(), path)
	}
	return nil
}
