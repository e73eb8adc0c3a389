package main

import (
	"errors"
	"flag"
	"fmt"
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
		if len(args) > 0 && args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{msg: err.Error()}
		}
		// The flag package stops after a "--" it consumed (not one that was
		// a flag's value): everything after it is positional.
		if n := len(args) - fs.NArg(); n > 0 && args[n-1] == "--" && !takesValue(fs, args[:n-1]) {
			return append(pos, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// takesValue reports whether the last of the parsed args is a flag that
// takes the next argument as its value (`--out -- …`).
func takesValue(fs *flag.FlagSet, parsed []string) bool {
	if len(parsed) == 0 {
		return false
	}
	last := parsed[len(parsed)-1]
	if len(last) < 2 || last[0] != '-' || strings.Contains(last, "=") {
		return false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(last, "-"), "-")
	fl := fs.Lookup(name)
	if fl == nil {
		return false
	}
	if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// credentials merges, lowest precedence first: the environment, the
// --credentials file, then the --url and --admin flags.
func credentials(env environ, file, urlFlag, adminFlag string) (client.Credentials, error) {
	get := env.getenv
	if file != "" {
		vals, err := client.ReadCredentialsFile(file)
		if err != nil {
			return client.Credentials{}, usagef("--credentials: %v", err)
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
		var me *client.MissingError
		if !errors.As(err, &me) {
			return c, &usageError{msg: err.Error()}
		}
		how := map[client.Setting]string{
			client.SettingURL:        "--url or CENTAGATE_URL",
			client.SettingAdmin:      "--admin or CENTAGATE_ADMIN",
			client.SettingAuthToken:  "CENTAGATE_AUTH_TOKEN",
			client.SettingSecretCode: "CENTAGATE_SECRET_CODE",
		}
		var names []string
		for _, s := range me.Missing {
			names = append(names, fmt.Sprintf("%s (%s)", s, how[s]))
		}
		return c, usagef("credentials incomplete: missing %s; set them in the environment or in a --credentials file", strings.Join(names, ", "))
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
