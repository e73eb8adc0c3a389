package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// shardInput is an inventory of 30 users with, among them, invalid rows
// (one without a username), duplicates, a phone number in use and an
// unknown user, so that every shard has rows of each kind to own.
func shardInput() (string, clienttest.State) {
	st := clienttest.State{PhonesInUse: []string{"+60100000999"}}
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range 30 {
		u := fmt.Sprintf("User%02d", i)
		st.Users = append(st.Users, u)
		fmt.Fprintf(&b, "%s,+601000%05d,SMS\n", u, i)
	}
	b.WriteString(",+60100000100,SMS\n")         // invalid, no username: shard 0
	b.WriteString("User07,123,SMS\n")            // invalid number
	b.WriteString("User03,+60100000003,1\n")     // duplicate of user03's row
	b.WriteString("USER11,+60100000011,SMS\n")   // duplicate, the name in another case
	b.WriteString("User12,+60100000999,SMS\n")   // 29004
	b.WriteString("nobody,+60100000200,SMS\n")   // 22002
	b.WriteString("User13,+60100000013,type9\n") // invalid type
	b.WriteString("User29,+60100000300,SMS\n")   // a second number for user29
	return b.String(), st
}

// runShards runs the input as n shards (each against its own copy of the
// server's state, as n pods would against one server that holds each user
// once) and returns the result paths.
func runShards(t *testing.T, dir, input string, st clienttest.State, n int) []string {
	t.Helper()
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	c := cli{env: demoEnv(s.URL)}
	var paths []string
	for k := range n {
		p := filepath.Join(dir, fmt.Sprintf("shard-%d.result.csv", k))
		code, _, stderr := c.run(t, context.Background(), "", "run", input, "--shard", fmt.Sprintf("%d/%d", k, n), "--out", p, "--rate", "0", "--progress", "never")
		if code != exitOK && code != exitNotAllOK {
			t.Fatalf("shard %d/%d exited %d: %s", k, n, code, stderr)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestMergeShards(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)

	// The reference: one run over the whole input.
	s := clienttest.NewServer(st, clienttest.Options{})
	whole := filepath.Join(dir, "whole.result.csv")
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", input, "--out", whole, "--rate", "0")
	s.Close()
	if code != exitNotAllOK {
		t.Fatalf("whole run exited %d, want 1: %s", code, stderr)
	}
	want := readResults(t, whole)

	for _, n := range []int{1, 3, 4} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			sub := t.TempDir()
			shards := runShards(t, sub, input, st, n)
			merged := filepath.Join(sub, "merged.csv")
			sumPath := filepath.Join(sub, "merged.json")
			args := append([]string{"merge", "--out", merged, "--summary", sumPath}, shards...)
			code, stdout, stderr := cli{}.run(t, context.Background(), "", args...)
			if code != exitOK {
				t.Fatalf("merge exited %d: %s", code, stderr)
			}
			if stdout != "" {
				t.Errorf("merge with --out wrote to stdout: %q", stdout)
			}
			got := readResults(t, merged) // fails on a line with two rows
			if len(got) != len(want) {
				t.Fatalf("merged %d lines, want %d", len(got), len(want))
			}
			for line, w := range want {
				g := got[line]
				if g.Status != w.Status || g.Code != w.Code || g.Message != w.Message || g.Username != w.Username || g.TokenSn != w.TokenSn {
					t.Errorf("line %d merged as %s %s %q, one run gave %s %s %q", line, g.Status, g.Code, g.Message, w.Status, w.Code, w.Message)
				}
			}
			var sum report.SummaryJSON
			data, err := os.ReadFile(sumPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, &sum); err != nil {
				t.Fatal(err)
			}
			counts := map[report.Status]int{}
			for _, r := range want {
				counts[r.Status]++
			}
			for st, c := range counts {
				if sum.ByStatus[st] != c {
					t.Errorf("merged summary: %s = %d, want %d", st, sum.ByStatus[st], c)
				}
			}
			if sum.Rows != len(want) || sum.ExitCode != exitNotAllOK || sum.Result != merged {
				t.Errorf("merged summary: rows %d exit %d result %q, want %d, 1, %q", sum.Rows, sum.ExitCode, sum.Result, len(want), merged)
			}
		})
	}
}

func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)
	shards := runShards(t, dir, input, st, 3)

	// The same input with one user renamed, run as shard 1.
	otherDir := t.TempDir()
	otherInput := writeFile(t, otherDir, "inventory.csv", strings.Replace(text, "User05,", "User05x,", 1))
	other := runShards(t, otherDir, otherInput, st, 3)

	// Shard 2 stopped early: its last rows are missing.
	cut := writeFile(t, dir, "cut.result.csv", firstLines(t, shards[2], 20))
	// Shard 0 with one of its own rows twice, the second time different.
	doubled := doubleOwnRow(t, dir, shards[0])

	existing := writeFile(t, dir, "existing.csv", "keep me\n")
	tests := []struct {
		name  string
		files []string
		out   string
		want  string
	}{
		{"a shard missing", shards[:2], "", "merge needs the result of every shard of one input, each once (2 files"},
		{"a shard twice", []string{shards[0], shards[1], shards[1]}, "", "both hold the rows of shard"},
		{"a shard twice in place of another", []string{shards[0], shards[1], shards[2], shards[2]}, "", "merge needs the result of every shard"},
		{"a shard of another input", []string{shards[0], other[1], shards[2]}, "", "results of different inputs"},
		{"a shard cut short", []string{shards[0], shards[1], cut}, "", "a shard's run did not finish"},
		{"two rows for one line", []string{doubled, shards[1], shards[2]}, "", "two different rows for line"},
		{"existing --out", shards, existing, "already exists: use --force"},
		{"--out is an input", shards, shards[0], "is one of the results to merge"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.out
			if out == "" {
				out = filepath.Join(t.TempDir(), "merged.csv")
			}
			args := append([]string{"merge", "--out", out}, tc.files...)
			code, _, stderr := cli{}.run(t, context.Background(), "", args...)
			if code != exitUsage {
				t.Fatalf("merge exited %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q does not say %q", stderr, tc.want)
			}
			if tc.out == "" {
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a refused merge left %s behind (err %v)", out, err)
				}
				if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".merged.csv.tmp-*")); len(left) > 0 {
					t.Errorf("a refused merge left %v behind", left)
				}
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me\n" {
		t.Errorf("a refused merge changed an existing file: %q", b)
	}
}

// TestMergeStdout: without --out the merged result goes to stdout, the
// summary to stderr.
func TestMergeStdout(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)
	shards := runShards(t, dir, input, st, 2)
	code, stdout, stderr := cli{}.run(t, context.Background(), "", append([]string{"merge"}, shards...)...)
	if code != exitOK {
		t.Fatalf("merge exited %d: %s", code, stderr)
	}
	rows := strings.Count(stdout, "\n") - 1
	if want := strings.Count(text, "\n") - 1; rows != want {
		t.Errorf("stdout has %d rows, want %d", rows, want)
	}
	if !strings.HasPrefix(stdout, strings.Join(report.Header(), ",")+"\n") || !strings.Contains(stderr, "merged 2 shard results") {
		t.Errorf("stdout %q..., stderr %q", stdout[:min(len(stdout), 80)], stderr)
	}
}

func firstLines(t *testing.T, path string, n int) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	return strings.Join(lines[:n], "")
}

// doubleOwnRow copies a shard's result and appends a second, different row
// for the line of its first sent row.
func doubleOwnRow(t *testing.T, dir, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Split(l, ",")
		if len(f) > 5 && f[4] == "ok" {
			f[4], f[5], f[6] = "failed", "10003", "DB protection error"
			return writeFile(t, dir, "doubled.result.csv", string(b)+strings.Join(f, ",")+"\n")
		}
	}
	t.Fatalf("%s has no ok row", path)
	return ""
}
