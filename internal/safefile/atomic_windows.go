//go:build windows

package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// createTemp creates the new file name. CREATE_NEW fails on any existing
// name, a symbolic link included. A perm private to the owner (no group or
// other bits: the summary's 0600) gives the file, from its creation, a
// protected access-control list that allows only the user running tokenreg,
// Administrators and SYSTEM (the rule --credentials checks), instead of the
// one its directory hands down; Go maps mode bits to nothing else on
// Windows but the read-only attribute.
func createTemp(name string, perm os.FileMode) (*os.File, error) {
	if perm&0o077 != 0 {
		return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	}
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	sd, err := windows.SecurityDescriptorFromString(fmt.Sprintf("D:P(A;;FA;;;SY)(A;;FA;;;BA)(A;;FA;;;%s)", tu.User.Sid))
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	sa := windows.SecurityAttributes{SecurityDescriptor: sd}
	sa.Length = uint32(unsafe.Sizeof(sa))
	p, err := windows.UTF16PtrFromString(name)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, &sa,
		windows.CREATE_NEW, windows.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		if errors.Is(err, windows.ERROR_FILE_EXISTS) || errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
			err = fs.ErrExist
		}
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	return os.NewFile(uintptr(h), name), nil
}

// moveIntoPlace renames tmp to path with MoveFileEx's write-through flag,
// which returns only once the rename is on disk: Windows cannot sync a
// directory (FlushFileBuffers on a directory handle is refused), so this
// takes the place of the directory sync done on Unix. Without replace the
// rename fails, in one step, if path exists.
func moveIntoPlace(tmp, path string, replace bool) error {
	from, err := windows.UTF16PtrFromString(tmp)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	to, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	flags := uint32(windows.MOVEFILE_WRITE_THROUGH)
	if replace {
		flags |= windows.MOVEFILE_REPLACE_EXISTING
	}
	if err := windows.MoveFileEx(from, to, flags); err != nil {
		if errors.Is(err, windows.ERROR_FILE_EXISTS) || errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
			err = fs.ErrExist
		}
		return &os.LinkError{Op: "rename", Old: tmp, New: path, Err: err}
	}
	return nil
}
