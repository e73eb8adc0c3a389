package client

import (
	"fmt"
	"strings"
)

// This file holds the Windows rule for a credentials file as a pure
// function, so that it is tested on every platform; credfile_windows.go
// reads the file's owner and access-control list and applies it.

// Well-known security identifiers (SIDs) the Windows rule trusts.
const (
	sidLocalSystem    = "S-1-5-18"     // NT AUTHORITY\SYSTEM
	sidAdministrators = "S-1-5-32-544" // BUILTIN\Administrators
	sidOwnerRights    = "S-1-3-4"      // OWNER RIGHTS: whoever owns the file
)

// Access-control entry types, flags and rights (winnt.h).
const (
	aceAccessAllowed  = 0x0
	aceAccessDenied   = 0x1
	aceInheritOnly    = 0x8
	rightReadAttrs    = 0x00000080 // FILE_READ_ATTRIBUTES
	rightReadControl  = 0x00020000 // READ_CONTROL: read the ACL itself
	rightSynchronize  = 0x00100000 // SYNCHRONIZE
	harmlessForOthers = rightReadAttrs | rightReadControl | rightSynchronize
)

// ace is one access-control entry of a file's DACL.
type ace struct {
	Type  uint8  // ACE_HEADER.AceType
	Flags uint8  // ACE_HEADER.AceFlags
	Mask  uint32 // ACCESS_MASK
	SID   string // e.g. "S-1-5-32-545"
	Name  string // e.g. `BUILTIN\Users`, if known
}

// checkCredentialsACL is the Windows counterpart of the Unix rule "owned by
// me or root, mode 600": the owner must be the user running tokenreg (me),
// Administrators or SYSTEM; the file must have a DACL (nil means none, which
// grants everyone everything); and no entry that applies to the file may
// allow another account (Everyone, Users, Authenticated Users, a domain
// group, another user) anything beyond seeing its attributes and its ACL.
// Deny entries only take rights away and are ignored; an allow entry of a
// type it cannot read (object or callback entries) is refused.
func checkCredentialsACL(path, owner, ownerName, me string, dacl []ace, haveDACL bool) error {
	trusted := func(sid string) bool {
		return sid == me || sid == sidLocalSystem || sid == sidAdministrators
	}
	if !trusted(owner) {
		return fmt.Errorf("%w %s belongs to %s, not to the user running tokenreg, Administrators or SYSTEM: another user could have written it; copy it to a file of your own (e.g. under %%USERPROFILE%%)", ErrCredentialsFile, path, account(owner, ownerName))
	}
	fix := fmt.Sprintf(`icacls "%s" /inheritance:r /grant:r "%%USERNAME%%:F"`, path)
	if !haveDACL {
		return fmt.Errorf("%w %s has no access-control list, so every account may read it: it holds the secret code; run: %s", ErrCredentialsFile, path, fix)
	}
	var open []string
	for _, e := range dacl {
		if e.Flags&aceInheritOnly != 0 || e.Type == aceAccessDenied {
			continue // applies only to files created inside, or takes rights away
		}
		if e.Type != aceAccessAllowed {
			return fmt.Errorf("%w %s has an access-control entry of type %d for %s that tokenreg cannot check: it holds the secret code; run: %s", ErrCredentialsFile, path, e.Type, account(e.SID, e.Name), fix)
		}
		if trusted(e.SID) || e.SID == owner || e.SID == sidOwnerRights || e.Mask&^harmlessForOthers == 0 {
			continue
		}
		open = append(open, account(e.SID, e.Name))
	}
	if len(open) > 0 {
		return fmt.Errorf("%w %s is open to %s: it holds the secret code; run: %s", ErrCredentialsFile, path, strings.Join(open, ", "), fix)
	}
	return nil
}

// account names a SID for an operator: `BUILTIN\Users (S-1-5-32-545)`.
func account(sid, name string) string {
	if name == "" {
		return sid
	}
	return name + " (" + sid + ")"
}
