package main

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
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
