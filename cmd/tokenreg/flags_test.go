package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/client"
)

// TestParseInterspersed: flags may follow the positional arguments, and a
// "--" ends the flags wherever it stands, unless it is a flag's value.
func TestParseInterspersed(t *testing.T) {
	cases := []struct {
		args    []string
		pos     []string
		verbose bool
		out     string
	}{
		{[]string{"a.csv"}, []string{"a.csv"}, false, ""},
		{[]string{"a.csv", "-v"}, []string{"a.csv"}, true, ""},
		{[]string{"-v", "a.csv", "--out", "r.csv"}, []string{"a.csv"}, true, "r.csv"},
		{[]string{"--", "a.csv", "-v"}, []string{"a.csv", "-v"}, false, ""},
		{[]string{"-v", "--", "-a.csv"}, []string{"-a.csv"}, true, ""},
		{[]string{"a.csv", "--", "-v"}, []string{"a.csv", "-v"}, false, ""},
		{[]string{"a.csv", "-v", "--", "--out", "x"}, []string{"a.csv", "--out", "x"}, true, ""},
		{[]string{"--out", "--", "a.csv", "-v"}, []string{"a.csv"}, true, "--"},
		{[]string{"--out=--", "a.csv"}, []string{"a.csv"}, false, "--"},
		{[]string{"--"}, nil, false, ""},
	}
	for _, c := range cases {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		v := fs.Bool("v", false, "")
		out := fs.String("out", "", "")
		pos, err := parseInterspersed(fs, c.args)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !slices.Equal(pos, c.pos) || *v != c.verbose || *out != c.out {
			t.Errorf("%q: positional %q -v=%v --out=%q, want %q -v=%v --out=%q", c.args, pos, *v, *out, c.pos, c.verbose, c.out)
		}
	}
}

func TestParseInterspersedErrors(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("v", false, "")
	if _, err := parseInterspersed(fs, []string{"a.csv", "--nope"}); !errors.As(err, new(*usageError)) {
		t.Errorf("unknown flag: %v, want a usage error", err)
	}
	if _, err := parseInterspersed(fs, []string{"-h"}); !errors.Is(err, errHelp) {
		t.Errorf("-h: %v, want errHelp", err)
	}
}

// TestValidateDoubleDash: after "--", "-v" is a second input file, not a flag.
func TestValidateDoubleDash(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "a.csv", okInput)
	code, _, stderr := cli{}.run(t, t.Context(), "", "validate", "--", in, "-v")
	if code != exitUsage || !strings.Contains(stderr, "takes one input file") || !strings.Contains(stderr, "got 2 arguments") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	code, _, stderr = cli{}.run(t, t.Context(), "", "validate", "--", in)
	if code != exitOK {
		t.Fatalf("validate -- a.csv: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestExitCodeOf: the exit code comes from the error's type, wrapped or not.
func TestExitCodeOf(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errHelp, 0},
		{usagef("bad flag"), 2},
		{fmt.Errorf("open: %w", client.ErrConfig), 2},
		{fmt.Errorf("--credentials: %w", client.ErrCredentialsFile), 2},
		{fmt.Errorf("%w: missing secret code", client.ErrCredentials), 2},
		{errors.New("write result: disk full"), 2},
		{fmt.Errorf("run: %w", &batch.AbortError{Reason: "x"}), 3},
		{fmt.Errorf("run: %w", batch.ErrLimit), 4},
		{fmt.Errorf("run: %w", context.Canceled), 130},
	}
	for _, c := range cases {
		if got := exitCodeOf(c.err); got != c.want {
			t.Errorf("exitCodeOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestCredentialErrorsKeepTheirCause: cmd adds the flag's name, and the
// library's sentinel stays reachable.
func TestCredentialErrorsKeepTheirCause(t *testing.T) {
	env := environ{getenv: func(string) string { return "" }}
	_, err := credentials(env, "", "", "")
	if !errors.Is(err, client.ErrCredentials) || !strings.Contains(err.Error(), "CENTAGATE_SECRET_CODE") {
		t.Errorf("nothing set: %v, want client.ErrCredentials naming CENTAGATE_SECRET_CODE", err)
	}
	_, err = credentials(env, filepath.Join(t.TempDir(), "missing"), "", "")
	if !errors.Is(err, client.ErrCredentialsFile) || !strings.HasPrefix(err.Error(), "--credentials: ") {
		t.Errorf("missing file: %v, want client.ErrCredentialsFile after --credentials", err)
	}
}

// TestLibraryErrorsGetTheFlag: the client and batch say what is wrong, and
// the command adds the flag that sets it; the exit code is 2 (SPEC §5).
func TestLibraryErrorsGetTheFlag(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", okInput)
	env := demoEnv("https://mfa.example.com/ws")
	httpEnv := demoEnv("http://mfa.example.com/ws")
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{"missing CA file", env, []string{"--ca-file", filepath.Join(dir, "nope.pem")}, []string{"--ca-file: client configuration: CA certificates: ", "nope.pem"}},
		{"CA file without PEM", env, []string{"--ca-file", in}, []string{"--ca-file: client configuration: CA certificates: ", "holds no PEM certificate"}},
		{"certificate without key", env, []string{"--client-cert", in}, []string{"--client-key: client configuration: a client certificate and its key go together"}},
		{"key without certificate", env, []string{"--client-key", in}, []string{"--client-cert: client configuration: "}},
		{"unreadable key pair", env, []string{"--client-cert", in, "--client-key", in}, []string{"--client-cert: client configuration: client certificate and key ("}},
		{"plain http", httpEnv, nil, []string{"refusing plain http:// to mfa.example.com", "(--allow-http)"}},
		{"bad shard", env, []string{"--shard", "4/4"}, []string{`--shard: shard "4/4": want K/N`}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", in, "--out", filepath.Join(dir, fmt.Sprintf("r%d.csv", i))}, c.args...)
			code, _, stderr := cli{env: c.env}.run(t, t.Context(), "", args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}
