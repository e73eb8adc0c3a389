package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/batch"
)

// Operators copy command lines from the README and from --help: these tests
// hold the two to the flags the commands really take.

// helpOf returns `tokenreg help cmd`'s output, and fails unless it exits 0
// on stdout alone.
func helpOf(t *testing.T, cmd string) string {
	t.Helper()
	code, stdout, stderr := cli{}.run(t, context.Background(), "", "help", cmd)
	if code != exitOK || stderr != "" {
		t.Fatalf("tokenreg help %s: exit %d, stderr %q; want exit 0 and the help on stdout", cmd, code, stderr)
	}
	return stdout
}

// flagsOf returns the flag names a command's help lists (`  -name …` lines
// of flag.PrintDefaults).
func flagsOf(t *testing.T, cmd string) []string {
	t.Helper()
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z][a-z-]*)`).FindAllStringSubmatch(helpOf(t, cmd), -1) {
		names = append(names, m[1])
	}
	return names
}

// docCommands are the commands whose help has flags and examples.
var docCommands = []string{"run", "retry", "validate", "report", "merge", "ledger", "repair", "version"}

// TestHelpTeaches: every command's help says how it is called and gives an
// example, and the main usage names every command.
func TestHelpTeaches(t *testing.T) {
	for _, cmd := range docCommands {
		h := helpOf(t, cmd)
		if !strings.Contains(h, "tokenreg "+cmd) || !strings.Contains(h, "Usage:") {
			t.Errorf("tokenreg help %s does not show its usage line:\n%s", cmd, h)
		}
		if !strings.Contains(h, "Example") {
			t.Errorf("tokenreg help %s gives no example:\n%s", cmd, h)
		}
		if !strings.Contains(mainUsage, "tokenreg "+cmd) {
			t.Errorf("tokenreg's usage does not name the command %s", cmd)
		}
	}
}

func readREADME(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// readmeSection returns the text of the section under heading, up to the
// next heading of its level.
func readmeSection(t *testing.T, readme, heading string) string {
	t.Helper()
	i := strings.Index(readme, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	s := readme[i+len(heading)+2:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

// TestREADMEDocumentsEveryFlag: a flag added to a command without a word in
// the README fails here. A command's flags are documented in the README's
// Commands section: in its synopsis line, in the paragraph that begins with
// its name, or (run and retry) in the flag table and the Configuration table.
func TestREADMEDocumentsEveryFlag(t *testing.T) {
	readme := readREADME(t)
	commandsSection := readmeSection(t, readme, "## Commands")
	for _, cmd := range docCommands {
		var docs strings.Builder
		for _, para := range strings.Split(commandsSection, "\n\n") {
			if strings.HasPrefix(para, "`"+cmd+"`") {
				docs.WriteString(para + "\n")
			}
			for _, l := range strings.Split(para, "\n") {
				if strings.HasPrefix(strings.TrimSpace(l), "tokenreg "+cmd+" ") {
					docs.WriteString(l + "\n")
				}
			}
		}
		if cmd == "run" || cmd == "retry" {
			docs.WriteString(commandsSection[strings.Index(commandsSection, "Flags of `run` and `retry`:"):])
			docs.WriteString(readmeSection(t, readme, "## Configuration and credentials"))
		}
		for _, name := range flagsOf(t, cmd) {
			dash := "--"
			if len(name) == 1 {
				dash = "-"
			}
			if !regexp.MustCompile("[`\\[ ]" + dash + name + "\\b").MatchString(docs.String()) {
				t.Errorf("tokenreg %s %s%s is not in the README: name it in the command's synopsis or paragraph under ## Commands", cmd, dash, name)
			}
		}
	}
}

// TestREADMEFlagTable: each row of the README's table of run's and retry's
// flags names flags that exist, with the default they have; the automatic
// --workers is described with the numbers batch.DefaultWorkers gives, in the
// README and in --help alike.
func TestREADMEFlagTable(t *testing.T) {
	cmds := readmeSection(t, readREADME(t), "## Commands")
	i := strings.Index(cmds, "Flags of `run` and `retry`:")
	if i < 0 {
		t.Fatal("README's Commands section has no table of the flags of run and retry")
	}
	fsRun, _ := newBatchFlags(modeRun, io.Discard)
	fsRetry, _ := newBatchFlags(modeRetry, io.Discard)
	flagName := regexp.MustCompile("`(--?[a-z][a-z-]*)")
	rows := 0
	for _, line := range strings.Split(cmds[i:], "\n")[1:] {
		if line == "" && rows > 0 {
			break
		}
		if !strings.HasPrefix(line, "| `-") {
			continue
		}
		rows++
		cells := strings.Split(strings.Trim(strings.ReplaceAll(line, `\|`, "/"), "| "), "|")
		if len(cells) != 3 {
			t.Errorf("flag table row with %d cells: %s", len(cells), line)
			continue
		}
		def := strings.TrimSpace(cells[1])
		for _, m := range flagName.FindAllStringSubmatch(cells[0], -1) {
			name := strings.TrimLeft(m[1], "-")
			fl := fsRun.Lookup(name)
			if fl == nil {
				fl = fsRetry.Lookup(name)
			}
			if fl == nil {
				t.Errorf("README's flag table names %s, which neither run nor retry has", m[1])
				continue
			}
			switch {
			case def == "":
			case def == "auto" && fl.DefValue != "auto":
				if fl.DefValue != "0" {
					t.Errorf("README: %s defaults to auto, but its default is %s, not 0 (automatic)", m[1], fl.DefValue)
				}
			case strings.Fields(def)[0] != fl.DefValue:
				t.Errorf("README: %s defaults to %q, --help says %q", m[1], def, fl.DefValue)
			}
		}
		if strings.HasPrefix(line, "| `--workers") {
			help := fsRun.Lookup("workers").Usage
			for _, want := range []struct{ readme, help string }{
				{fmt.Sprintf("%d at `--rate 0`", batch.DefaultWorkers(0)), fmt.Sprintf("%d at --rate 0", batch.DefaultWorkers(0))},
				{fmt.Sprintf("at least %d", batch.DefaultWorkers(0.001)), fmt.Sprintf("at least %d", batch.DefaultWorkers(0.001))},
				{fmt.Sprintf("at most %d", batch.DefaultWorkers(1e9)), fmt.Sprintf("at most %d", batch.DefaultWorkers(1e9))},
				{fmt.Sprintf("%d at the default `--rate 10`", batch.DefaultWorkers(10)), fmt.Sprintf("%d at the default --rate 10", batch.DefaultWorkers(10))},
			} {
				if !strings.Contains(line, want.readme) {
					t.Errorf("README's --workers row lacks %q (batch.DefaultWorkers):\n%s", want.readme, line)
				}
				if !strings.Contains(help, want.help) {
					t.Errorf("--workers help lacks %q (batch.DefaultWorkers): %s", want.help, help)
				}
			}
		}
	}
	if rows < 10 {
		t.Errorf("README's flag table has %d rows; the test did not find it", rows)
	}
}

// TestREADMECommandLines: every tokenreg command line the README and
// samples/README.md show (in a code block or inline) names a command that
// exists and only flags that command takes; those of run, retry and validate
// also parse, values and all, as the command itself parses them.
func TestREADMECommandLines(t *testing.T) {
	c := newLineChecker(t)
	for _, path := range []string{"../../README.md", "../../samples/README.md"} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		readme := string(data)
		// Code blocks: indented lines, joined where they end in a backslash.
		var cont string
		for _, l := range strings.Split(readme, "\n") {
			if !strings.HasPrefix(l, "    ") {
				cont = ""
				continue
			}
			l = cont + strings.TrimSpace(l)
			if strings.HasSuffix(l, `\`) {
				cont = strings.TrimSuffix(l, `\`)
				continue
			}
			cont = ""
			c.check(path, l)
		}
		for _, m := range regexp.MustCompile("`((?:bin/)?tokenreg [^`]+)`").FindAllStringSubmatch(readme, -1) {
			c.check(path, m[1])
		}
	}
	if c.checked < 20 {
		t.Errorf("checked %d README command lines; the test did not find them", c.checked)
	}
}

// TestHelpExamples: the examples in tokenreg's usage and in each command's
// help run as written (flags that exist, values that parse).
func TestHelpExamples(t *testing.T) {
	c := newLineChecker(t)
	texts := map[string]string{"tokenreg usage": mainUsage}
	for _, cmd := range docCommands {
		texts["tokenreg help "+cmd] = helpOf(t, cmd)
	}
	for where, text := range texts {
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "  ") { // an example or a synopsis
				c.check(where, strings.TrimSpace(l))
			}
		}
	}
	if c.checked < 15 {
		t.Errorf("checked %d example lines; the test did not find them", c.checked)
	}
}

// lineChecker checks tokenreg command lines against the commands' flags.
type lineChecker struct {
	t       *testing.T
	flags   map[string][]string
	checked int
}

func newLineChecker(t *testing.T) *lineChecker {
	return &lineChecker{t: t, flags: map[string][]string{}}
}

// check checks the tokenreg commands of the shell line l (a comment after
// " #" is dropped); where names the text it comes from.
func (c *lineChecker) check(where, l string) {
	c.t.Helper()
	if i := strings.Index(l, " #"); i >= 0 {
		l = l[:i]
	}
	for _, part := range regexp.MustCompile(`&&|\|\||[|;]`).Split(l, -1) {
		c.checkCommand(where, strings.TrimSpace(part))
	}
}

func (c *lineChecker) checkCommand(where, l string) {
	t := c.t
	t.Helper()
	words := strings.Fields(l)
	if len(words) < 2 || (words[0] != "tokenreg" && words[0] != "bin/tokenreg") {
		return
	}
	cmd, args := words[1], words[2:]
	if cmd == strings.ToUpper(cmd) {
		return // a placeholder: `tokenreg COMMAND --help`
	}
	if !commands[cmd] {
		t.Errorf("%s: %q: no command %q", where, l, cmd)
		return
	}
	if cmd == "help" || cmd == "version" {
		return
	}
	if cmd == "ledger" && len(args) > 0 {
		args = args[1:] // export or import
	}
	if c.flags[cmd] == nil {
		c.flags[cmd] = flagsOf(t, cmd)
	}
	c.checked++
	for _, a := range args {
		if a == "--" {
			break
		}
		a = strings.Trim(a, "[]")
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !slices.Contains(c.flags[cmd], name) {
			t.Errorf("%s: %q: tokenreg %s has no flag %s", where, l, cmd, a)
		}
	}
	var m mode
	switch cmd {
	case "run":
		m = modeRun
	case "retry":
		m = modeRetry
	case "validate":
		m = modeValidate
	default:
		return
	}
	// A synopsis (`[--out RESULT.csv] [flags]`) and a bare command name
	// are not command lines.
	if len(args) == 0 || strings.Contains(l, "[") || strings.Contains(l, "...") {
		return
	}
	b := &batchCmd{mode: m, stderr: io.Discard}
	if err := b.parse(args); err != nil {
		t.Errorf("%s: %q: %v", where, l, err)
	}
}

// TestREADMELinks: the README's links to its own sections resolve, and every
// file of the repository it names (a link, or a path in backquotes) exists.
func TestREADMELinks(t *testing.T) {
	for _, path := range []string{"README.md", "samples/README.md"} {
		data, err := os.ReadFile("../../" + path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(data)
		anchors := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(text, -1) {
			slug := regexp.MustCompile(`[^\p{L}\p{N}_ -]`).ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), "")
			anchors[strings.ReplaceAll(slug, " ", "-")] = true
		}
		for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(text, -1) {
			if !anchors[m[1]] {
				t.Errorf("%s: link to #%s: no such section", path, m[1])
			}
		}
		dir := "../../" + strings.TrimSuffix(path, "README.md")
		for _, m := range regexp.MustCompile(`\]\(([^)#:]+)\)`).FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat(dir + m[1]); err != nil {
				t.Errorf("%s: link to %s: %v", path, m[1], err)
			}
		}
		// Paths of the repository in backquotes: `samples/cron/`, `report/runbook.go`.
		repoPath := regexp.MustCompile("`((?:\\.ci|batch|client|cmd|docs|internal|ledger|report|samples|scripts)/[A-Za-z0-9_./-]*)`")
		for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
			if _, err := os.Stat("../../" + m[1]); err != nil {
				t.Errorf("%s names %s: %v", path, m[1], err)
			}
		}
	}
}
