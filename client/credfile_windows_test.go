//go:build windows

package client

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
)

// makePrivate gives p the access-control list the error message tells an
// operator to set (icacls /inheritance:r /grant:r %USERNAME%:F): only the
// current user, nothing inherited. A temporary directory may grant more
// (under Wine it grants Everyone).
func makePrivate(t *testing.T, p string) {
	t.Helper()
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_ALL,
		AccessMode:        windows.GRANT_ACCESS,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_USER,
			TrusteeValue: windows.TrusteeValueFromSID(tu.User.Sid),
		},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(p, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, acl, nil); err != nil {
		t.Fatal(err)
	}
}

// TestReadCredentialsFileWindowsACL checks the rule on real files: a file
// only its owner may open is read; once Everyone may read it, it is
// refused. Before the fix every file was refused (Go reports mode 0666).
func TestReadCredentialsFileWindowsACL(t *testing.T) {
	p := writeCredentials(t, "CENTAGATE_ADMIN=webadmin\n")
	if got, err := ReadCredentialsFile(p); err != nil || got["CENTAGATE_ADMIN"] != "webadmin" {
		t.Fatalf("ReadCredentialsFile(private file) = %v, %v; want it read", got, err)
	}
	everyone, err := windows.CreateWellKnownSid(windows.WinWorldSid)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := sd.DACL()
	if err != nil {
		t.Fatal(err)
	}
	acl, err := windows.ACLFromEntries([]windows.EXPLICIT_ACCESS{{
		AccessPermissions: windows.GENERIC_READ,
		AccessMode:        windows.GRANT_ACCESS,
		Trustee: windows.TRUSTEE{
			TrusteeForm:  windows.TRUSTEE_IS_SID,
			TrusteeType:  windows.TRUSTEE_IS_WELL_KNOWN_GROUP,
			TrusteeValue: windows.TrusteeValueFromSID(everyone),
		},
	}}, old)
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetNamedSecurityInfo(p, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, acl, nil); err != nil {
		t.Fatal(err)
	}
	_, err = ReadCredentialsFile(p)
	if !errors.Is(err, ErrCredentialsFile) || !strings.Contains(err.Error(), "S-1-1-0") || !strings.Contains(err.Error(), "icacls") {
		t.Errorf("ReadCredentialsFile(file Everyone may read) = %v, want it refused naming S-1-1-0 and the icacls fix", err)
	}
}
