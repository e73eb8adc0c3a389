//go:build unix

package safefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenRefusesLinksFIFOsAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(precious, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "result.csv.lock")
	if err := os.Symlink(precious, link); err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(link, "pid 1"); !errors.Is(err, ErrLink) {
		t.Errorf("TryLock(symlink) = %v, want ErrLink", err)
	}
	if _, err := Open(link, os.O_RDONLY, 0); !errors.Is(err, ErrLink) {
		t.Errorf("Open(symlink) = %v, want ErrLink", err)
	}
	if data, _ := os.ReadFile(precious); string(data) != "keep me\n" {
		t.Errorf("the link's target changed: %q", data)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opening a FIFO with no writer would block forever without O_NONBLOCK.
	if _, err := Open(fifo, os.O_RDONLY, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open(fifo) = %v, want ErrNotRegular", err)
	}
	if _, err := Open(dir, os.O_RDONLY, 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("Open(dir) = %v, want ErrNotRegular", err)
	}

	if os.Geteuid() != 0 {
		t.Log("not root: cannot plant a file of another user")
		return
	}
	foreign := filepath.Join(dir, "foreign.lock")
	if err := os.WriteFile(foreign, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(foreign, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := TryLock(foreign, "pid 1"); !errors.Is(err, ErrForeign) {
		t.Errorf("TryLock(file of uid 4242) = %v, want ErrForeign", err)
	}
}

func TestTryLockExcludesAndNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.lock")
	first, err := TryLock(path, "pid 123 on host, a rather long holder line")
	if err != nil {
		t.Fatal(err)
	}
	_, err = TryLock(path, "pid 456")
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.Holder != "pid 123 on host, a rather long holder line" {
		t.Fatalf("second TryLock = %v, want a LockedError naming pid 123", err)
	}
	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	second, err := TryLock(path, "pid 456")
	if err != nil {
		t.Fatalf("TryLock after Unlock = %v", err)
	}
	defer second.Unlock()
	// The shorter holder overwrote the longer one whole: no tail left.
	data, _ := os.ReadFile(path)
	if line, _, _ := strings.Cut(string(data), "\n"); strings.TrimSpace(line) != "pid 456" {
		t.Errorf("lock file holds %q, want pid 456", line)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %v, want 0600", st.Mode().Perm())
	}
}
