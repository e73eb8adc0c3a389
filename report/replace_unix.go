//go:build !windows

package report

import (
	"os"

	"github.com/tokenreg/tokenreg/internal/safefile"
)

// createTemp creates the new file name, mode 0600 until the caller's
// Chmod. O_EXCL with O_CREATE fails on any existing name, a symbolic link
// included, whatever it points to.
func createTemp(name string, _ os.FileMode) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
}

// replaceFile renames tmp over path, both in dir, and syncs dir so that the
// rename survives a crash.
func replaceFile(tmp, path, dir string) error {
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return safefile.SyncDir(dir)
}
