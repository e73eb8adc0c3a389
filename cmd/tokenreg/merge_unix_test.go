//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMergeOutAppearsMeanwhile: an --out that another program creates
// while merge reads its inputs (after merge's early check) is refused when
// merge puts its result in place, in one step: never replaced without
// --force, and no temporary file is left. The inputs are FIFOs, so the
// test creates --out exactly while merge is reading.
func TestMergeOutAppearsMeanwhile(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)
	shards := runShards(t, dir, input, st, 2)
	// Both inputs are FIFOs, fed in the order merge opens them: each open
	// for writing returns only once merge opened that input, after it
	// closed the one before, so no pass reads another's bytes.
	var fifos []string
	var data [][]byte
	for i, p := range shards {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		fifo := filepath.Join(dir, fmt.Sprintf("shard-%d.fifo", i))
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		fifos, data = append(fifos, fifo), append(data, b)
	}
	out := filepath.Join(dir, "merged.csv")
	const theirs = "another program's file\n"
	fed := make(chan error, 1)
	go func() {
		// merge reads every input twice: once to find the shards, once to
		// merge them.
		for pass := range 2 {
			for i, fifo := range fifos {
				w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err != nil {
					fed <- err
					return
				}
				if pass == 0 && i == 0 {
					// merge is reading: its early check is behind it.
					if err := os.WriteFile(out, []byte(theirs), 0o644); err != nil {
						fed <- err
						return
					}
				}
				_, err = w.Write(data[i])
				w.Close()
				if err != nil {
					fed <- err
					return
				}
			}
		}
		fed <- nil
	}()
	code, _, stderr := cli{}.run(t, context.Background(), "", "merge", "--out", out, fifos[0], fifos[1])
	if err := <-fed; err != nil {
		t.Fatal(err)
	}
	if code != exitUsage || !strings.Contains(stderr, "already exists: use --force") {
		t.Errorf("merge onto an --out created meanwhile: exit %d, want 2 asking for --force:\n%s", code, stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != theirs {
		t.Errorf("merge replaced an --out created meanwhile: it holds %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".merged.csv.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
}

// TestMergeForceReplaces: with --force an existing --out (or a planted
// link) is replaced by a new file, mode 0600, and a link's target is never
// written.
func TestMergeForceReplaces(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)
	shards := runShards(t, dir, input, st, 2)
	victim := writeFile(t, dir, "precious.txt", "precious\n")
	out := filepath.Join(dir, "merged.csv")
	if err := os.Symlink(victim, out); err != nil {
		t.Fatal(err)
	}
	c := cli{}
	if code, _, stderr := c.run(t, context.Background(), "", "merge", "--out", out, shards[0], shards[1]); code != exitUsage || !strings.Contains(stderr, "already exists") {
		t.Errorf("merge onto a link without --force: exit %d, want 2:\n%s", code, stderr)
	}
	if code, _, stderr := c.run(t, context.Background(), "", "merge", "--force", "--out", out, shards[0], shards[1]); code != exitOK {
		t.Fatalf("merge --force: exit %d:\n%s", code, stderr)
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious\n" {
		t.Errorf("merge --force wrote through the link: %q", got)
	}
	fi, err := os.Lstat(out)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s after merge --force: %v, %v; want a regular file 0600", out, fi.Mode(), err)
	}
	if got := readResults(t, out); len(got) == 0 {
		t.Errorf("merge --force wrote no rows")
	}
}
