package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// leftovers lists the temporary files left in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func wantFile(t *testing.T, path, want string) {
	t.Helper()
	if got, err := os.ReadFile(path); err != nil || string(got) != want {
		t.Errorf("%s holds %q, %v; want %q", path, got, err, want)
	}
}

func TestAtomicCommit(t *testing.T) {
	for _, replace := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.csv")
		a, err := Create(path, 0o600, Options{Replace: replace})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("replace=%v: %s exists before Commit (%v)", replace, path, err)
		}
		a.Write([]byte("a,b\n"))
		a.Write([]byte("1,2\n"))
		if a.Size() != 8 {
			t.Errorf("Size() = %d, want 8", a.Size())
		}
		if err := a.Commit(); err != nil {
			t.Fatalf("replace=%v: Commit() = %v", replace, err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("Close() after Commit = %v, want nil", err)
		}
		if err := a.Commit(); err == nil {
			t.Errorf("a second Commit = nil, want an error")
		}
		wantFile(t, path, "a,b\n1,2\n")
		if l := leftovers(t, dir); len(l) > 0 {
			t.Errorf("replace=%v: temporary files left: %v", replace, l)
		}
	}
}

// TestAtomicRefusesExisting: without Replace an existing name (a file, a
// link, even a dangling one) is refused at Commit, in one step, and left
// as it was; with Replace it is replaced, a link never written through.
func TestAtomicRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.csv")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Create(path, 0o600, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("new\n"))
	if err := a.Commit(); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Commit() over an existing file = %v, want fs.ErrExist", err)
	}
	wantFile(t, path, "old\n")
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}

	if runtime.GOOS == "windows" {
		return // creating a symbolic link needs a privilege there
	}
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{victim, filepath.Join(dir, "nowhere")} {
		link := filepath.Join(dir, "link-"+filepath.Base(target))
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		a, err := Create(link, 0o600, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a.Write([]byte("new\n"))
		if err := a.Commit(); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Commit() over a link to %s = %v, want fs.ErrExist", target, err)
		}
		a, err = Create(link, 0o600, Options{Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		a.Write([]byte("new\n"))
		if err := a.Commit(); err != nil {
			t.Fatalf("Commit(Replace) over a link = %v", err)
		}
		if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s after Commit(Replace): %v, %v; want a regular file", link, fi.Mode(), err)
		}
		wantFile(t, link, "new\n")
	}
	wantFile(t, victim, "precious\n")
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dangling link's target was created (Lstat: %v)", err)
	}
}

// TestAtomicFailedWrite: after a write fails, Commit fails too, removes the
// temporary file and leaves the old file as it was; so does Close without
// Commit.
func TestAtomicFailedWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "result.csv")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Create(path, 0o600, Options{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("half"))
	a.f.Close() // the disk goes away: the next write fails
	if _, err := a.Write([]byte(" a row\n")); err == nil {
		t.Fatal("Write() on a closed file = nil error")
	}
	if err := a.Commit(); err == nil {
		t.Error("Commit() after a failed Write = nil, want the write's error")
	}
	wantFile(t, path, "old\n")
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left after a failed write: %v", l)
	}

	a, err = Create(path, 0o600, Options{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("new\n"))
	if err := a.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
	wantFile(t, path, "old\n")
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left after Close: %v", l)
	}
}
