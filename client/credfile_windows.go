//go:build windows

package client

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

// openCredentialsFile opens path for reading and checks the opened file (its
// handle, not the name): a regular file (a named pipe or a device is
// refused) whose owner and access-control list pass checkCredentialsACL. Go
// reports every Windows file as mode 0666, so the Unix mode check cannot
// apply here.
func openCredentialsFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCredentialsFile, err)
	}
	if err := checkOpenCredentials(f, path); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkOpenCredentials(f *os.File, path string) error {
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCredentialsFile, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w %s is not a regular file: give the path of the file itself", ErrCredentialsFile, path)
	}
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("%w %s: read its owner and access-control list: %w", ErrCredentialsFile, path, err)
	}
	ownerSID, _, err := sd.Owner()
	if err != nil || ownerSID == nil {
		return fmt.Errorf("%w %s: it has no owner (%v)", ErrCredentialsFile, path, err)
	}
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return fmt.Errorf("%w %s: find the user running tokenreg: %w", ErrCredentialsFile, path, err)
	}
	dacl, _, err := sd.DACL()
	haveDACL := err == nil && dacl != nil
	if err != nil && !errors.Is(err, windows.ERROR_OBJECT_NOT_FOUND) {
		return fmt.Errorf("%w %s: read its access-control list: %w", ErrCredentialsFile, path, err)
	}
	var aces []ace
	if haveDACL {
		for i := range uint32(dacl.AceCount) {
			var a *windows.ACCESS_ALLOWED_ACE
			if err := windows.GetAce(dacl, i, &a); err != nil {
				return fmt.Errorf("%w %s: read its access-control entry %d: %w", ErrCredentialsFile, path, i, err)
			}
			e := ace{Type: a.Header.AceType, Flags: a.Header.AceFlags, Mask: uint32(a.Mask)}
			if e.Type == aceAccessAllowed || e.Type == aceAccessDenied {
				// Both share the layout: the SID starts at SidStart.
				sid := (*windows.SID)(unsafe.Pointer(&a.SidStart))
				e.SID, e.Name = sid.String(), sidName(sid)
			}
			aces = append(aces, e)
		}
	}
	return checkCredentialsACL(path, ownerSID.String(), sidName(ownerSID), tu.User.Sid.String(), aces, haveDACL)
}

// sidName is DOMAIN\account for sid, or "" if it cannot be looked up.
func sidName(sid *windows.SID) string {
	account, domain, _, err := sid.LookupAccount("")
	if err != nil {
		return ""
	}
	if domain == "" {
		return account
	}
	return domain + `\` + account
}
