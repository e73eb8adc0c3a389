//go:build !unix && !windows

package ledger

import (
	"fmt"
	"os"
	"runtime"
)

// tryLock fails: without a file lock, two runs could share the ledger.
func tryLock(f *os.File) error {
	return fmt.Errorf("no file locking on %s", runtime.GOOS)
}

func unlock(f *os.File) error { return nil }

// oNoFollow is 0: there is no O_NOFOLLOW here; openOwned's Lstat check
// (isSymlink) and the regular-file check stand in for it.
const oNoFollow = 0

// fileOwner reports no owner: Windows has no uid (ACLs guard the files).
func fileOwner(os.FileInfo) (int, bool) { return 0, false }
