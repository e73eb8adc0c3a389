//go:build unix

package report

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileAtomicReplacesPlantedTarget plants the target itself: a
// symbolic link to a victim's file, and (as root) a world-writable file of
// another user. The write replaces the name; it never writes through the
// link, nor keeps the planted file's owner or mode.
func TestWriteFileAtomicReplacesPlantedTarget(t *testing.T) {
	for _, perm := range []os.FileMode{0o600, 0o644} {
		t.Run(fmt.Sprintf("symlink %04o", perm), func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(dir, "precious.txt")
			if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "tokenreg.prom")
			if err := os.Symlink(victim, path); err != nil {
				t.Fatal(err)
			}
			if err := WriteFileAtomic(path, []byte("new\n"), perm); err != nil {
				t.Fatalf("WriteFileAtomic: %v", err)
			}
			if got, _ := os.ReadFile(victim); string(got) != "precious\n" {
				t.Errorf("victim holds %q, want it unchanged", got)
			}
			fi, err := os.Lstat(path)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != perm {
				t.Fatalf("%s: %v, %v; want a regular file with mode %04o", path, fi.Mode(), err, perm)
			}
		})
	}
	t.Run("foreign-owned 0666 file", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to give a file to another user")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "summary.json")
		if err := os.WriteFile(path, []byte("theirs\n"), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		old, err := os.Open(path) // the planted file, kept open by its owner
		if err != nil {
			t.Fatal(err)
		}
		defer old.Close()
		if err := WriteFileAtomic(path, []byte("ours\n"), 0o600); err != nil {
			t.Fatalf("WriteFileAtomic: %v", err)
		}
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != os.Geteuid() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: owner %d mode %04o, want owner %d mode 0600", path, st.Uid, fi.Mode().Perm(), os.Geteuid())
		}
		buf := make([]byte, 64)
		n, _ := old.ReadAt(buf, 0)
		if string(buf[:n]) != "theirs\n" {
			t.Errorf("the planted file now holds %q: written through, want a new file", buf[:n])
		}
	})
}
