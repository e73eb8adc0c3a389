package main

// Drills of issue 14, second round: operator sequences and files that the
// first drill matrix (drill_test.go) did not cover, each found failing first.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDrillMergeOfTooFewShards: an operator whose glob matched one shard's
// result (or two of three) must not get a "merged" result in which the
// other shards' lines are placeholders `skipped: another shard's row`: the
// merge is refused (exit 2), naming the shard count the file was written
// for, and nothing is written.
func TestDrillMergeOfTooFewShards(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)
	shards := runShards(t, dir, input, st, 3)
	for _, files := range [][]string{shards[:1], shards[1:2], shards[2:3]} {
		merged := filepath.Join(dir, "merged.csv")
		code, stdout, stderr := cli{}.run(t, context.Background(), "", append([]string{"merge", "--out", merged}, files...)...)
		if code != exitUsage || !strings.Contains(stderr, "/3") {
			t.Errorf("merge of %v alone: exit %d, want 2 naming shard K/3\nstdout: %s\nstderr: %s", files, code, stdout, stderr)
		}
		if _, err := os.Stat(merged); err == nil {
			t.Errorf("merge of %v alone wrote %s", files, merged)
			os.Remove(merged)
		}
	}
}

// TestDrillMergeToStdoutRefusedWritesNothing: `tokenreg merge a b > all.csv`
// refused (a shard missing a line, found only at the end) must leave stdout
// empty, as --out is left untouched: a partial merged result in all.csv
// would look like a result.
func TestDrillMergeToStdoutRefusedWritesNothing(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)
	shards := runShards(t, dir, input, st, 2)
	// The second shard's run stopped before its last line.
	b, err := os.ReadFile(shards[1])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	short := writeFile(t, dir, "short.result.csv", strings.Join(lines[:len(lines)-2], ""))
	for _, files := range [][]string{{shards[0], short}, shards[:1]} {
		code, stdout, stderr := cli{}.run(t, context.Background(), "", append([]string{"merge"}, files...)...)
		if code != exitUsage || stdout != "" {
			t.Errorf("merge %v to stdout: exit %d, stdout %d bytes, want 2 and nothing\n%s", files, code, len(stdout), stderr)
		}
	}
}
