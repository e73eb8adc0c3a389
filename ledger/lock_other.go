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
