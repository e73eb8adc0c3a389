package client

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckCredentialsACL(t *testing.T) {
	const me = "S-1-5-21-1111-2222-3333-1001"
	const other = "S-1-5-21-1111-2222-3333-1002"
	const fullControl, read = 0x001f01ff, 0x00120089 // FILE_ALL_ACCESS, FILE_GENERIC_READ
	private := []ace{
		{Type: aceAccessAllowed, Mask: fullControl, SID: sidLocalSystem},
		{Type: aceAccessAllowed, Mask: fullControl, SID: sidAdministrators},
		{Type: aceAccessAllowed, Mask: fullControl, SID: me},
	}
	with := func(extra ...ace) []ace { return append(append([]ace(nil), private...), extra...) }
	tests := []struct {
		name     string
		owner    string
		dacl     []ace
		haveDACL bool
		want     string // "" = accepted
	}{
		{"profile default: SYSTEM, Administrators, me", me, private, true, ""},
		{"owned by Administrators", sidAdministrators, private, true, ""},
		{"owned by SYSTEM", sidLocalSystem, private, true, ""},
		{"only me", me, []ace{{Type: aceAccessAllowed, Mask: fullControl, SID: me}}, true, ""},
		{"empty DACL (nobody)", me, nil, true, ""},
		{"owned by another user", other, private, true, "belongs to " + other},
		{"no DACL at all", me, nil, false, "has no access-control list"},
		{"Everyone may read", me, with(ace{Type: aceAccessAllowed, Mask: read, SID: "S-1-1-0", Name: "Everyone"}), true, "open to Everyone (S-1-1-0)"},
		{"Users may read", me, with(ace{Type: aceAccessAllowed, Mask: read, SID: "S-1-5-32-545", Name: `BUILTIN\Users`}), true, `open to BUILTIN\Users (S-1-5-32-545)`},
		{"Authenticated Users may modify", me, with(ace{Type: aceAccessAllowed, Mask: 0x1301bf, SID: "S-1-5-11"}), true, "open to S-1-5-11"},
		{"another user may write the ACL", me, with(ace{Type: aceAccessAllowed, Mask: 0x00040000, SID: other}), true, "open to " + other},
		{"GENERIC_READ to Users", me, with(ace{Type: aceAccessAllowed, Mask: 0x80000000, SID: "S-1-5-32-545"}), true, "open to S-1-5-32-545"},
		{"Everyone may only see attributes", me, with(ace{Type: aceAccessAllowed, Mask: harmlessForOthers, SID: "S-1-1-0"}), true, ""},
		{"Users inherit-only entry", me, with(ace{Type: aceAccessAllowed, Flags: aceInheritOnly, Mask: read, SID: "S-1-5-32-545"}), true, ""},
		{"Everyone denied", me, with(ace{Type: aceAccessDenied, Mask: fullControl, SID: "S-1-1-0"}), true, ""},
		{"OWNER RIGHTS", me, with(ace{Type: aceAccessAllowed, Mask: fullControl, SID: sidOwnerRights}), true, ""},
		{"callback entry", me, with(ace{Type: 9, Mask: read, SID: ""}), true, "cannot check"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCredentialsACL(`C:\creds.env`, tt.owner, "", me, tt.dacl, tt.haveDACL)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkCredentialsACL() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrCredentialsFile)):
				t.Errorf("checkCredentialsACL() = %v, want an ErrCredentialsFile with %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "open to") && !strings.Contains(err.Error(), `icacls "C:\creds.env" /inheritance:r`) {
				t.Errorf("checkCredentialsACL() = %v, want the icacls command that fixes it", err)
			}
		})
	}
}
