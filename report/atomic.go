package report

import (
	"os"

	"github.com/tokenreg/tokenreg/internal/safefile"
)

// WriteFileAtomic replaces path with data so that a reader (or a crash) sees
// either the old file or the new one, never a part, through safefile.Create
// (the one atomic writer of tokenreg): a new temporary file in the same
// directory, synced, renamed over path, and the rename made durable.
//
// It is safe in a directory that other users can write (issue 16): the
// temporary file never follows a link or opens a file planted at its name,
// and the rename replaces whatever path was, a planted symbolic link or
// another user's file included, without following it or writing into it,
// so the new file is always owned by the caller and has mode perm exactly
// (the umask does not apply). On Windows a perm that gives group and others
// nothing (0600, the summary's) gives the file a protected access-control
// list that lets in only the user, Administrators and SYSTEM.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	a, err := safefile.Create(path, perm, safefile.Options{Replace: true})
	if err != nil {
		return err
	}
	defer a.Close()
	if _, err := a.Write(data); err != nil {
		return err
	}
	return a.Commit()
}
