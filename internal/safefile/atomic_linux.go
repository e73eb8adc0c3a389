//go:build linux

package safefile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames tmp to path unless path exists (an error that
// matches fs.ErrExist), in one step; errNoRenameNoReplace if neither the
// kernel nor the file system can.
func renameNoReplace(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errNoRenameNoReplace
	}
	return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
}
