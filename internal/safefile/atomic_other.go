//go:build !windows

package safefile

import (
	"os"
)

// createTemp creates the new file name, mode 0600 until the caller's
// Chmod. O_EXCL with O_CREATE fails on any existing name, a symbolic link
// included, whatever it points to.
func createTemp(name string, _ os.FileMode) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// moveIntoPlace renames tmp over path, or links it to path if nothing has
// that name (link(2) fails on any existing name, in one step) and removes
// tmp. The caller syncs the directory.
func moveIntoPlace(tmp, path string, replace bool) error {
	if replace {
		return os.Rename(tmp, path)
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	os.Remove(tmp) // path holds the file now; tmp is only a second name
	return nil
}
