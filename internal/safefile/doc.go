// Package safefile opens and writes the files tokenreg writes in
// directories that other users may be able to write (a shared
// /var/lib/tokenreg, a team folder, /tmp): it never follows a symbolic link
// it would write through, accepts only a regular file owned by the
// effective user, takes exclusive advisory locks on lock files that are
// never truncated or removed, and writes a file that replaces (or must not
// replace) another through one atomic writer (Create: a temporary file
// beside it, synced, then renamed or linked into place, durably).
//
// It does not decide what a file holds.
package safefile
