package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/client/clienttest"
)

// cronHost lays out, in a temporary directory, the host that
// samples/cron expects: the inventory, a credentials file that only its
// owner may read, and the state and textfile directories. It returns a
// function that maps the sample's paths into it.
func cronHost(t *testing.T) (root string, mapPath func(string) string) {
	t.Helper()
	st, err := clienttest.LoadState(filepath.Join("..", "..", "samples", "sim-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := clienttest.NewServer(st, clienttest.Options{})
	t.Cleanup(s.Close)
	root = t.TempDir()
	for _, d := range []string{"srv/hr", "etc/tokenreg", "var/lib/tokenreg", "var/lib/node_exporter/textfile", "var/log/tokenreg"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	inventory, err := os.ReadFile(filepath.Join("..", "..", "samples", "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "srv/hr"), "token-inventory.csv", string(inventory))
	writeFile(t, filepath.Join(root, "etc/tokenreg"), "credentials", "CENTAGATE_URL="+s.URL+"\nCENTAGATE_ADMIN="+clienttest.DefaultAdmin+
		"\nCENTAGATE_AUTH_TOKEN="+clienttest.DefaultAuthToken+"\nCENTAGATE_SECRET_CODE="+clienttest.DefaultSecretCode+"\n")
	return root, func(a string) string {
		for _, p := range []string{"/srv/hr/", "/etc/tokenreg/", "/var/lib/tokenreg/", "/var/lib/node_exporter/textfile/"} {
			if strings.HasPrefix(a, p) {
				return filepath.Join(root, a)
			}
		}
		if strings.HasPrefix(a, "/") {
			t.Fatalf("argument %q: a path the test does not map", a)
		}
		return a
	}
}

// tokenregArgs takes the arguments after the tokenreg binary in a command
// line, up to a shell redirection, mapping the paths.
func tokenregArgs(t *testing.T, fields []string, mapPath func(string) string) []string {
	t.Helper()
	for i, f := range fields {
		if f != "/usr/local/bin/tokenreg" {
			continue
		}
		var args []string
		for _, a := range fields[i+1:] {
			if strings.HasPrefix(a, ">") || a == "2>&1" {
				break
			}
			args = append(args, mapPath(a))
		}
		return args
	}
	t.Fatalf("no /usr/local/bin/tokenreg in %q", fields)
	return nil
}

// TestCronSamples runs the command lines of samples/cron (the crontab line
// and the systemd service's ExecStart) for two nights each.
func TestCronSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the sample's scripted transient failures back off for seconds")
	}
	t.Parallel()
	crontab, err := os.ReadFile(filepath.Join("..", "..", "samples", "cron", "tokenreg.crontab"))
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join("..", "..", "samples", "cron", "tokenreg.service"))
	if err != nil {
		t.Fatal(err)
	}
	var cronLine, execStart string
	for _, l := range strings.Split(string(crontab), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			if cronLine != "" {
				t.Fatalf("the crontab has two entries")
			}
			cronLine = l
		}
	}
	// systemd joins a line that ends in a backslash with the next.
	joined := strings.ReplaceAll(string(unit), "\\\n", " ")
	for _, l := range strings.Split(joined, "\n") {
		if v, ok := strings.CutPrefix(l, "ExecStart="); ok {
			execStart = v
		}
	}
	if fields := strings.Fields(cronLine); len(fields) < 6 || fields[0] != "15" || fields[1] != "2" {
		t.Errorf("crontab line %q: want it at 02:15", cronLine)
	}
	if !strings.Contains(string(unit), "SuccessExitStatus=1") {
		t.Errorf("tokenreg.service lacks SuccessExitStatus=1: exit 1 is a finished run")
	}

	for name, line := range map[string]string{"crontab": strings.Join(strings.Fields(cronLine)[5:], " "), "tokenreg.service": execStart} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			root, mapPath := cronHost(t)
			args := tokenregArgs(t, strings.Fields(line), mapPath)
			state := filepath.Join(root, "var/lib/tokenreg")
			nightly(t, args, filepath.Join(state, "nightly.result.csv"), root,
				"var/lib/tokenreg/nightly.summary.json", "var/lib/tokenreg/ledger.db", "var/lib/node_exporter/textfile/tokenreg.prom")
		})
	}
}
