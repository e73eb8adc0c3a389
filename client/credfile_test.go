package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeCredentials writes a private credentials file and returns its path.
func writeCredentials(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	makePrivate(t, p)
	return p
}

func TestReadCredentialsFile(t *testing.T) {
	p := writeCredentials(t, "\uFEFF# tokenreg\n\nCENTAGATE_URL=https://mfa.example.com/ws\nexport CENTAGATE_ADMIN = webadmin\nCENTAGATE_AUTH_TOKEN='tok=en'\nCENTAGATE_SECRET_CODE=\"s3 cret\"\n")
	got, err := ReadCredentialsFile(p)
	if err != nil {
		t.Fatalf("ReadCredentialsFile: %v", err)
	}
	want := map[string]string{"CENTAGATE_URL": "https://mfa.example.com/ws", "CENTAGATE_ADMIN": "webadmin", "CENTAGATE_AUTH_TOKEN": "tok=en", "CENTAGATE_SECRET_CODE": "s3 cret"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("ReadCredentialsFile()[%s] = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("ReadCredentialsFile() has %d keys, want %d", len(got), len(want))
	}
}

func TestReadCredentialsFileErrors(t *testing.T) {
	const secret = "Hrz3G92PO2hN"
	tests := []struct{ name, text, want string }{
		{"line without =", "CENTAGATE_URL=https://x\n" + secret + "\n", "line 2: want KEY=VALUE"},
		{"misspelt key", "CENTAGATE_SECRET=" + secret + "\n", `line 1: unknown key "CENTAGATE_SECRET"`},
		{"colon line", "CENTAGATE_SECRET_CODE: " + secret + "==\n", "line 1: want KEY=VALUE"},
		{"line too long", "CENTAGATE_SECRET_CODE=" + strings.Repeat(secret, 10000) + "\n", "line 1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeCredentials(t, tt.text)
			_, err := ReadCredentialsFile(p)
			if !errors.Is(err, ErrCredentialsFile) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("ReadCredentialsFile() error = %v, want ErrCredentialsFile naming %s and %q", err, p, tt.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "--credentials") {
				t.Errorf("ReadCredentialsFile() error = %q: holds the secret or names a flag", err)
			}
		})
	}
	if _, err := ReadCredentialsFile(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, ErrCredentialsFile) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadCredentialsFile(missing) error = %v, want ErrCredentialsFile and os.ErrNotExist", err)
	}
}
