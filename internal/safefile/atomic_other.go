//go:build !windows

package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// createTemp creates the new file name, mode 0600 until the caller's
// Chmod. O_EXCL with O_CREATE fails on any existing name, a symbolic link
// included, whatever it points to.
func createTemp(name string, _ os.FileMode) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// errNoRenameNoReplace: this system has no rename that refuses an existing
// name.
var errNoRenameNoReplace = errors.New("no rename without replace here")

// moveIntoPlace renames tmp over path, or links it to path if nothing has
// that name (link(2) fails on any existing name, in one step) and removes
// tmp. On a file system without hard links (vfat, some network and FUSE
// file systems) it renames with RENAME_NOREPLACE where Linux has it, which
// refuses an existing name in one step too. The caller syncs the directory.
func moveIntoPlace(tmp, path string, replace bool) error {
	if replace {
		return os.Rename(tmp, path)
	}
	err := os.Link(tmp, path)
	if err == nil {
		os.Remove(tmp) // path holds the file now; tmp is only a second name
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return err
	}
	if rerr := renameNoReplace(tmp, path); rerr != errNoRenameNoReplace {
		return rerr
	}
	return fmt.Errorf("%w (the file system has no hard links, without which an existing file cannot be refused safely: remove %s first and replace it, or write elsewhere)", err, path)
}
