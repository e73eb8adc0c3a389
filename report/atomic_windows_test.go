//go:build windows

package report

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestWriteFileAtomicPrivateOnWindows: a 0600 file (the summary) gets an
// access-control list that lets in only the user, Administrators and SYSTEM,
// inheriting nothing from its directory; a 0644 file (the metrics) keeps
// what the directory hands down. Both replace an existing file.
func TestWriteFileAtomicPrivateOnWindows(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "summary.json")
	for _, data := range []string{"first\n", "second\n"} {
		if err := WriteFileAtomic(path, []byte(data), 0o600); err != nil {
			t.Fatalf("WriteFileAtomic: %v", err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != data {
			t.Fatalf("file holds %q, %v; want %q", got, err, data)
		}
	}
	tu, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		t.Fatalf("DACL() = %v, %v; want an access-control list", dacl, err)
	}
	for i := range uint32(dacl.AceCount) {
		var a *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &a); err != nil {
			t.Fatal(err)
		}
		if a.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			continue
		}
		sid := (*windows.SID)(unsafe.Pointer(&a.SidStart))
		switch sid.String() {
		case tu.User.Sid.String(), "S-1-5-18", "S-1-5-32-544":
		default:
			t.Errorf("%s lets in %s (mask %#x), want only the user, SYSTEM and Administrators", path, sid, a.Mask)
		}
	}
	if err := WriteFileAtomic(filepath.Join(dir, "tokenreg.prom"), []byte("m 1\n"), 0o644); err != nil {
		t.Errorf("WriteFileAtomic(0644) = %v", err)
	}
}
