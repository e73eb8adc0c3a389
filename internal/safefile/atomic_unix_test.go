//go:build unix

package safefile

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestAtomicMode: the file has mode perm exactly, whatever the umask.
func TestAtomicMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, perm := range []os.FileMode{0o600, 0o644} {
		for _, replace := range []bool{false, true} {
			path := filepath.Join(t.TempDir(), "f")
			a, err := Create(path, perm, Options{Replace: replace})
			if err != nil {
				t.Fatal(err)
			}
			a.Write([]byte("x\n"))
			if err := a.Commit(); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != perm {
				t.Errorf("perm %04o replace=%v: mode %v, %v", perm, replace, fi.Mode(), err)
			}
		}
	}
}

// plantedNames returns a tempName that hands out the given names first, then
// fresh ones.
func plantedNames(names ...string) func(string) string {
	i := 0
	return func(base string) string {
		if i < len(names) {
			i++
			return names[i-1]
		}
		i++
		return fmt.Sprintf(".%s.fresh-%d", base, i)
	}
}

// TestAtomicSkipsPlantedTempNames plants, at the temporary names Create
// will pick, a symbolic link to a victim's file, a dangling link and a file:
// none is followed, opened or changed.
func TestAtomicSkipsPlantedTempNames(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(dir, "planted")
	if err := os.WriteFile(planted, []byte("planted\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Chmod(planted, 0o666)
	path := filepath.Join(dir, "summary.json")
	a, err := create(path, 0o600, Options{Replace: true}, plantedNames("link", "dangling", "planted"))
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	a.Write([]byte("new\n"))
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{victim: "precious\n", planted: "planted\n", path: "new\n"} {
		wantFile(t, name, want)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !os.IsNotExist(err) {
		t.Errorf("the dangling link's target was created (Lstat: %v)", err)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode() != 0o600 {
		t.Errorf("%s: mode %v, %v; want a regular file 0600", path, fi.Mode(), err)
	}
}
