package report

import (
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// WriteFileAtomic replaces path with data so that a reader (or a crash) sees
// either the old file or the new one, never a part: it writes a new
// temporary file in the same directory, syncs it, renames it over path and
// makes the rename durable (a directory sync on Unix; a write-through rename
// on Windows).
//
// It is safe in a directory that other users can write (issue 16): the
// temporary file is created with O_CREATE|O_EXCL under a random name, which
// never follows a symbolic link planted at that name nor opens a file
// planted there (it picks another name). The rename replaces whatever path
// was, a planted symbolic link or another user's file included, without
// following it or writing into it, so the new file is always owned by the
// caller and has mode perm exactly (the umask does not apply). On Windows,
// where mode bits do not exist, a perm that gives group and others nothing
// (0600, the summary's) gives the file, from its creation, a protected
// access-control list that lets in only the user, Administrators and SYSTEM;
// any other perm leaves the list the directory hands down.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeFileAtomic(path, data, perm, randomTempName)
}

// maxTempTries bounds how many taken temporary names writeFileAtomic skips.
const maxTempTries = 100

func randomTempName(base string) string {
	return "." + base + ".tmp-" + strconv.FormatUint(rand.Uint64(), 36)
}

// writeFileAtomic is WriteFileAtomic with the temporary names chosen by
// tempName (tests plant files and links at the names it will pick).
func writeFileAtomic(path string, data []byte, perm os.FileMode, tempName func(base string) string) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var f *os.File
	for try := 1; ; try++ {
		// createTemp fails on any existing name, a symbolic link
		// included, whatever it points to.
		f, err = createTemp(filepath.Join(dir, tempName(base)), perm)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) || try == maxTempTries {
			return err
		}
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	// On the descriptor, not the name: the name could be swapped for a
	// link by now in a directory others can write.
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return replaceFile(tmp, path, dir)
}
