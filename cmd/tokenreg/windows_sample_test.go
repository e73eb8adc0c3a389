package main

import (
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/client/clienttest"
)

// taskXML is the part of a Task Scheduler task definition the test reads.
type taskXML struct {
	Settings struct {
		MultipleInstancesPolicy string
	}
	Actions struct {
		Exec []struct {
			Command, Arguments, WorkingDirectory string
		}
	}
}

// splitWindowsArgs splits a command line as a Go program on Windows sees it
// (CommandLineToArgvW's rules, without the backslash-quote escapes, which
// the sample does not use): spaces separate, double quotes group.
func splitWindowsArgs(s string) []string {
	var args []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, started = !quoted, true
		case r == ' ' && !quoted:
			if started {
				args = append(args, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		args = append(args, cur.String())
	}
	return args
}

// TestWindowsTaskSample runs the command line of
// samples/windows/tokenreg-nightly.xml twice against the simulator's
// sample state: its flags are tokenreg's, its credentials file (written
// owner-only, as the sample's icacls lines make it) is accepted, the first
// night registers the sample, and the ledger keeps the second from sending
// it again. Windows paths become directories of the test.
func TestWindowsTaskSample(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the sample's scripted transient failures back off for seconds")
	}
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "samples", "windows", "tokenreg-nightly.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var task taskXML
	if err := xml.Unmarshal(data, &task); err != nil {
		t.Fatalf("tokenreg-nightly.xml: %v", err)
	}
	if len(task.Actions.Exec) != 1 || !strings.HasSuffix(task.Actions.Exec[0].Command, `\tokenreg.exe`) {
		t.Fatalf("the task's actions are %+v, want one that runs tokenreg.exe", task.Actions.Exec)
	}
	if task.Settings.MultipleInstancesPolicy != "IgnoreNew" {
		t.Errorf("MultipleInstancesPolicy %q: two runs on one ledger must not overlap, want IgnoreNew", task.Settings.MultipleInstancesPolicy)
	}
	st, err := clienttest.LoadState(filepath.Join("..", "..", "samples", "sim-state.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()

	dir := t.TempDir()
	state := filepath.Join(dir, "ProgramData", "tokenreg")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	inventory, err := os.ReadFile(filepath.Join("..", "..", "samples", "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "token-inventory.csv", string(inventory))
	creds := "CENTAGATE_URL=" + s.URL + "\nCENTAGATE_ADMIN=" + clienttest.DefaultAdmin +
		"\nCENTAGATE_AUTH_TOKEN=" + clienttest.DefaultAuthToken + "\nCENTAGATE_SECRET_CODE=" + clienttest.DefaultSecretCode + "\n"
	writeFile(t, state, "credentials", creds) // 0600: owner only

	var args []string
	for _, a := range splitWindowsArgs(task.Actions.Exec[0].Arguments) {
		switch {
		case strings.HasPrefix(a, `\\hr-files\exports\`):
			a = filepath.Join(dir, strings.TrimPrefix(a, `\\hr-files\exports\`))
		case strings.HasPrefix(a, `C:\ProgramData\tokenreg\`):
			a = filepath.Join(state, strings.TrimPrefix(a, `C:\ProgramData\tokenreg\`))
		case strings.Contains(a, `:\`) || strings.HasPrefix(a, `\\`):
			t.Fatalf("argument %q: a path the test does not map", a)
		}
		args = append(args, a)
	}
	nightly(t, args, filepath.Join(state, "nightly.result.csv"), state, "nightly.summary.json", "tokenreg.prom", "ledger.db")
}

// nightly runs a sample's command line for two nights, with nothing from
// the environment (the credentials come from the sample's file): the first
// night registers samples/tokens.csv as tokens.expected.csv says, the
// second sends none of it again (the ledger), and the files the sample
// names are there.
func nightly(t *testing.T, args []string, result, dir string, files ...string) {
	t.Helper()
	c := cli{env: map[string]string{}}
	for night, want := range []struct{ ok, ledger int }{{21, 0}, {0, 21}} {
		code, _, stderr := c.run(t, context.Background(), "", args...)
		if code != exitNotAllOK {
			t.Fatalf("night %d: exit %d, want 1 (the sample has failing rows): %s", night+1, code, stderr)
		}
		ok, ledger := 0, 0
		for _, r := range readResults(t, result) {
			switch {
			case r.Status == "ok":
				ok++
			case r.Status == "skipped" && strings.HasSuffix(r.Message, "(ledger)"):
				ledger++
			}
		}
		if ok != want.ok || ledger != want.ledger {
			t.Errorf("night %d: %d rows ok, %d skipped by the ledger; want %d and %d", night+1, ok, ledger, want.ok, want.ledger)
		}
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("night %d: %v", night+1, err)
			}
		}
	}
}

func TestSplitWindowsArgs(t *testing.T) {
	got := splitWindowsArgs(`run "C:\Program Files\in.csv"  --rate 10 --out ""`)
	want := []string{"run", `C:\Program Files\in.csv`, "--rate", "10", "--out", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Errorf("splitWindowsArgs = %q, want %q", got, want)
	}
}
