//go:build !unix && !windows

package safefile

import (
	"fmt"
	"os"
	"runtime"
)

// OpenNoFollow opens path: there is no O_NOFOLLOW here.
func OpenNoFollow(path string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(path, flag, perm)
}

// Owner reports no owner: ownership is an ACL question here, not checked.
func Owner(os.FileInfo) (int, bool) { return 0, false }

// tryLock fails: without a file lock, two runs could share one file.
func tryLock(*os.File) error { return fmt.Errorf("no file locking on %s", runtime.GOOS) }

func unlock(*os.File) error { return nil }
