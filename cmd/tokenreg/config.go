package main

import (
	"bufio"
	"errors"
	"flag"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tokenreg/tokenreg/client"
)

// errHelp is returned after --help printed the usage.
var errHelp = errors.New("help shown")

// parseInterspersed parses flags that may come before or after the
// positional arguments (`tokenreg run in.csv --rate 5`), which the flag
// package alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{msg: err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		// A "--" ends the flags: the rest is positional.
		if len(args) > 0 && fs.NArg() > 0 && args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// credentialKeys are the settings a --credentials file may hold.
var credentialKeys = []string{"CENTAGATE_URL", "CENTAGATE_ADMIN", "CENTAGATE_AUTH_TOKEN", "CENTAGATE_SECRET_CODE"}

// loadCredentials reads a KEY=VALUE file. It refuses a file that group or
// others may read, and never echoes a value in an error.
func loadCredentials(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--credentials: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, usagef("--credentials: %v", err)
	}
	if st.IsDir() {
		return nil, usagef("--credentials %s is a directory", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, usagef("--credentials %s is readable by group or others (mode %04o): it holds the secret code; run: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
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
			return nil, usagef("--credentials %s line %d: want KEY=VALUE (keys: %s)", path, line, strings.Join(credentialKeys, ", "))
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
				return nil, usagef("--credentials %s line %d: want KEY=VALUE (keys: %s)", path, line, strings.Join(credentialKeys, ", "))
			}
			return nil, usagef("--credentials %s line %d: unknown key %q (keys: %s)", path, line, k, strings.Join(credentialKeys, ", "))
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--credentials %s: %v", path, err)
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

// credentials merges, lowest precedence first: the environment, the
// --credentials file, then the --url and --admin flags.
func credentials(env environ, file, urlFlag, adminFlag string) (client.Credentials, error) {
	get := env.getenv
	if file != "" {
		vals, err := loadCredentials(file)
		if err != nil {
			return client.Credentials{}, err
		}
		get = func(k string) string {
			if v, ok := vals[k]; ok {
				return v
			}
			return env.getenv(k)
		}
	}
	c := client.Credentials{
		URL:        get("CENTAGATE_URL"),
		Admin:      get("CENTAGATE_ADMIN"),
		AuthToken:  get("CENTAGATE_AUTH_TOKEN"),
		SecretCode: get("CENTAGATE_SECRET_CODE"),
	}
	if urlFlag != "" {
		c.URL = urlFlag
	}
	if adminFlag != "" {
		c.Admin = adminFlag
	}
	if err := c.Check(); err != nil {
		return c, &usageError{msg: err.Error()}
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// isTerminal reports whether w is a terminal (for the progress bar).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
