//go:build windows

package report

import (
	"os"

	"golang.org/x/sys/windows"
)

// replaceFile renames tmp over path with MoveFileEx's write-through flag,
// which returns only once the rename is on disk. Windows cannot sync a
// directory (FlushFileBuffers on a directory handle is refused), so this
// takes the place of the directory sync done on Unix.
func replaceFile(tmp, path, dir string) error {
	from, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	to, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	if err := windows.MoveFileEx(from, to, windows.MOVEFILE_REPLACE_EXISTING|windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}
