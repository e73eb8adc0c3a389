package client

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrCredentialsFile is wrapped by every error about a credentials file: one
// that cannot be opened, is not a regular file, belongs to another user, is
// open to other users, or does not hold KEY=VALUE lines.
var ErrCredentialsFile = errors.New("credentials file")

// credentialKeys are the settings a credentials file may hold: the
// environment variables of SPEC §3.
var credentialKeys = []string{"CENTAGATE_URL", "CENTAGATE_ADMIN", "CENTAGATE_AUTH_TOKEN", "CENTAGATE_SECRET_CODE"}

// maxCredentialsFile bounds what ReadCredentialsFile reads.
const maxCredentialsFile = 1 << 20

// ReadCredentialsFile reads the KEY=VALUE lines of a credentials file (blank
// lines, # comments, an "export " prefix and quotes around a value are
// allowed) and returns the values by key; the keys are the environment
// variables CENTAGATE_URL, CENTAGATE_ADMIN, CENTAGATE_AUTH_TOKEN and
// CENTAGATE_SECRET_CODE.
//
// It reads the file only if nobody else could have read or written it
// (checkCredentialsFile): it must be a regular file (a FIFO, a device or a
// directory is refused at once, without blocking), owned by the user running
// tokenreg or by root (on Windows: by that user, Administrators or SYSTEM),
// and open to nobody else (on Unix: no group or other permission bits; on
// Windows: no access-control entry granting another account more than to
// see the file's attributes). Errors wrap ErrCredentialsFile, name the file
// and the line, say how to fix it, and never hold a value.
func ReadCredentialsFile(path string) (map[string]string, error) {
	f, err := openCredentialsFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(f, maxCredentialsFile))
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		text = strings.TrimPrefix(text, "export ")
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return nil, fmt.Errorf("%w %s line %d: want KEY=VALUE (keys: %s)", ErrCredentialsFile, path, line, strings.Join(credentialKeys, ", "))
		}
		k = strings.TrimSpace(k)
		known := false
		for _, ck := range credentialKeys {
			known = known || k == ck
		}
		if !known {
			// Echo the key only if it looks like one: a line such as
			// "CENTAGATE_SECRET_CODE: abc==" would otherwise print the secret.
			if !plainKey(k) {
				return nil, fmt.Errorf("%w %s line %d: want KEY=VALUE (keys: %s)", ErrCredentialsFile, path, line, strings.Join(credentialKeys, ", "))
			}
			return nil, fmt.Errorf("%w %s line %d: unknown key %q (keys: %s)", ErrCredentialsFile, path, line, k, strings.Join(credentialKeys, ", "))
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		// A line over the scanner's limit: its text may be a secret.
		return nil, fmt.Errorf("%w %s line %d: %v", ErrCredentialsFile, path, line+1, err)
	}
	return vals, nil
}

func plainKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range k {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
