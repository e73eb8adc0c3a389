// Package safefile opens the files tokenreg writes in directories that other
// users may be able to write (a shared /var/lib/tokenreg, a team folder,
// /tmp): it never follows a symbolic link it would write through, accepts
// only a regular file owned by the effective user, and takes exclusive
// advisory locks on lock files that are never truncated or removed.
//
// It does not decide what a file holds, and it does not create or rename
// the files it checks other than a lock file.
package safefile
