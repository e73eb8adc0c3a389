//go:build linux

package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestRenameNoReplace: the fallback for file systems without hard links
// renames into a free name and refuses a taken one, leaving it as it was.
func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".out.tmp-1")
	path := filepath.Join(dir, "out")
	if err := os.WriteFile(tmp, []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := renameNoReplace(tmp, path)
	if err == errNoRenameNoReplace {
		t.Skip("this kernel or file system has no RENAME_NOREPLACE")
	}
	if err != nil {
		t.Fatalf("renameNoReplace to a free name = %v", err)
	}
	wantFile(t, path, "new\n")
	if err := os.WriteFile(tmp, []byte("newer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := renameNoReplace(tmp, path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("renameNoReplace over an existing file = %v, want fs.ErrExist", err)
	}
	wantFile(t, path, "new\n")
	wantFile(t, tmp, "newer\n")
}
