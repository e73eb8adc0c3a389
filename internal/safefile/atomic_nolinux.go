//go:build !linux && !windows

package safefile

// renameNoReplace: only Linux has a rename that refuses an existing name
// (RENAME_NOREPLACE) among the systems tokenreg is built for here.
func renameNoReplace(tmp, path string) error { return errNoRenameNoReplace }
