//go:build unix

package client

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// makePrivate makes p readable by its owner only (os.WriteFile did, with
// mode 0600).
func makePrivate(*testing.T, string) {}

func TestCheckCredentialsFile(t *testing.T) {
	const me = 1000
	tests := []struct {
		name  string
		mode  fs.FileMode
		owner int
		want  string // "" = accepted
	}{
		{"mine, 0600", 0o600, me, ""},
		{"mine, 0400", 0o400, me, ""},
		{"root's, 0600", 0o600, 0, ""},
		{"another user's, 0600", 0o600, 1001, "belongs to user 1001, not to the user running tokenreg (1000) or root"},
		{"another user's, 0644", 0o644, 1001, "belongs to user 1001"},
		{"group-readable", 0o640, me, "open to group or others (mode 0640)"},
		{"group-writable", 0o620, me, "open to group or others (mode 0620)"},
		{"world-readable", 0o604, me, "chmod 600"},
		{"FIFO", fs.ModeNamedPipe | 0o600, me, "is a FIFO (named pipe), not a regular file"},
		{"directory", fs.ModeDir | 0o700, me, "is a directory"},
		{"character device", fs.ModeDevice | fs.ModeCharDevice | 0o600, me, "is a character device"},
		{"socket", fs.ModeSocket | 0o600, me, "is a socket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCredentialsFile("/x/creds", tt.mode, tt.owner, me)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkCredentialsFile(%v, owner %d) = %v, want nil", tt.mode, tt.owner, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrCredentialsFile)):
				t.Errorf("checkCredentialsFile(%v, owner %d) = %v, want an ErrCredentialsFile with %q", tt.mode, tt.owner, err, tt.want)
			}
		})
	}
}

// TestReadCredentialsFileFIFO: a FIFO with no writer is refused at once
// (before the fix, the open blocked forever and ignored SIGTERM); so is a
// link to one.
func TestReadCredentialsFileFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "creds.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, link} {
		done := make(chan error, 1)
		go func() {
			_, err := ReadCredentialsFile(p)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, ErrCredentialsFile) || !strings.Contains(err.Error(), "FIFO") {
				t.Errorf("ReadCredentialsFile(%s) = %v, want an ErrCredentialsFile naming the FIFO", p, err)
			}
		case <-time.After(10 * time.Second):
			// Unblock the open so that the goroutine ends.
			if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
				w.Close()
			}
			<-done
			t.Fatalf("ReadCredentialsFile(%s) blocked on a FIFO with no writer", p)
		}
	}
}

func TestReadCredentialsFileSpecialFiles(t *testing.T) {
	for _, p := range []string{"/dev/null", t.TempDir()} {
		if _, err := ReadCredentialsFile(p); !errors.Is(err, ErrCredentialsFile) || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadCredentialsFile(%s) = %v, want an ErrCredentialsFile saying it is not a regular file", p, err)
		}
	}
}

// TestReadCredentialsFileLinkFollowed: a link to a private file of one's
// own is read (a Kubernetes Secret volume is made of links); a link to a
// world-readable file is judged by that file.
func TestReadCredentialsFileLinkFollowed(t *testing.T) {
	p := writeCredentials(t, "CENTAGATE_ADMIN=webadmin\n")
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadCredentialsFile(link); err != nil || got["CENTAGATE_ADMIN"] != "webadmin" {
		t.Errorf("ReadCredentialsFile(link) = %v, %v; want the file read", got, err)
	}
	os.Chmod(p, 0o644)
	if _, err := ReadCredentialsFile(link); err == nil || !strings.Contains(err.Error(), "mode 0644") {
		t.Errorf("ReadCredentialsFile(link to a 0644 file) = %v, want it refused", err)
	}
}

// TestReadCredentialsFileForeignOwner gives the file to another user (needs
// root, as the CI container runs; the rule itself is table-tested above).
func TestReadCredentialsFileForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file to another user; see TestCheckCredentialsFile")
	}
	p := writeCredentials(t, "CENTAGATE_ADMIN=webadmin\n")
	if _, err := ReadCredentialsFile(p); err != nil {
		t.Fatalf("ReadCredentialsFile(own file) = %v", err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCredentialsFile(p); !errors.Is(err, ErrCredentialsFile) || !strings.Contains(err.Error(), "belongs to user 65534") {
		t.Errorf("ReadCredentialsFile(file of user 65534) = %v, want it refused", err)
	}
}
