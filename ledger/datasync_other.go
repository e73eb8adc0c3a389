//go:build !linux

package ledger

import "os"

// datasync flushes f to the disk (fsync, or FlushFileBuffers on Windows).
func datasync(f *os.File) error { return f.Sync() }
