//go:build unix

package ledger

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A local user who can write the ledger's directory must not be able to
// make a run write through a planted link or into a planted file.
func TestOpenRefusesPlantedFiles(t *testing.T) {
	ctx := context.Background()
	const precious = "the victim's data\n"
	tests := []struct {
		name  string
		plant func(t *testing.T, dir, db string) // after precious.txt exists
		want  string
	}{
		{"lock is a link", func(t *testing.T, dir, db string) {
			symlink(t, filepath.Join(dir, "precious.txt"), db+".lock")
		}, "nightly.db.lock is a symbolic link"},
		{"dangling lock link", func(t *testing.T, dir, db string) {
			symlink(t, filepath.Join(dir, "new.txt"), db+".lock")
		}, "is a symbolic link"},
		{"database is a link", func(t *testing.T, dir, db string) {
			symlink(t, filepath.Join(dir, "precious.txt"), db)
		}, "nightly.db is a symbolic link"},
		{"WAL is a link", func(t *testing.T, dir, db string) {
			symlink(t, filepath.Join(dir, "precious.txt"), db+"-wal")
		}, "nightly.db-wal is a symbolic link"},
		{"lock is a directory", func(t *testing.T, dir, db string) {
			if err := os.Mkdir(db+".lock", 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "nightly.db")
			if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte(precious), 0o600); err != nil {
				t.Fatal(err)
			}
			tt.plant(t, dir, db)
			l, err := Open(ctx, db, Options{})
			if err == nil {
				l.Close()
				t.Fatalf("Open = nil error, want a refusal containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.want)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "precious.txt")); string(got) != precious {
				t.Errorf("precious.txt now holds %q, want it untouched", got)
			}
			if _, err := os.Lstat(filepath.Join(dir, "new.txt")); err == nil {
				t.Errorf("Open created the target of a dangling link")
			}
		})
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"nightly.db.lock", "nightly.db"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "nightly.db")
			if err := os.WriteFile(filepath.Join(dir, name), nil, 0o666); err != nil {
				t.Fatal(err)
			}
			if os.Geteuid() == 0 {
				// As root the test can plant a file that really is another user's.
				if err := os.Chown(filepath.Join(dir, name), 4242, 4242); err != nil {
					t.Fatal(err)
				}
			} else {
				// Otherwise it plays another user: the file is not "ours".
				old := effectiveUID
				effectiveUID = func() int { return os.Geteuid() + 1 }
				t.Cleanup(func() { effectiveUID = old })
			}
			l, err := Open(ctx, db, Options{})
			if err == nil {
				l.Close()
				t.Fatal("Open = nil error, want a refusal of the foreign file")
			}
			if !strings.Contains(err.Error(), name+" belongs to another user") {
				t.Errorf("Open error = %q, want it to say %s belongs to another user", err, name)
			}
		})
	}
}

// The lock file is written over, never truncated: whatever a planted file
// held past the holder's line stays, and the holder's line is read back.
func TestLockFileNotTruncated(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "nightly.db")
	old := strings.Repeat("x", 300) + "\n"
	if err := os.WriteFile(db+".lock", []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	l := open(t, db, Options{RunID: "run-7"})
	data, err := os.ReadFile(db + ".lock")
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != len(old) {
		t.Errorf("lock file is %d bytes after Open, want %d (not truncated)", len(data), len(old))
	}
	if _, err := Open(context.Background(), db, Options{}); err == nil || !strings.Contains(err.Error(), "run run-7") {
		t.Errorf("second Open error = %v, want it to name run run-7", err)
	}
	l.Close()
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}
