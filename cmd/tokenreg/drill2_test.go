package main

// Drills of issue 14, second round: operator sequences and files that the
// first drill matrix (drill_test.go) did not cover, each found failing first.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/internal/safefile"
	"github.com/tokenreg/tokenreg/ledger"
	"github.com/tokenreg/tokenreg/report"
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

// TestDrillResumeRecordsKeptSuccessesInLedger: the ledger must hold what
// tokenreg bound on the server after every sequence. Two sequences left
// successes out of it: a first part run without --ledger and resumed with
// it, and the rows shown after a ledger write failure (a full disk), which
// the banner tells the operator to append before --resume. The resumed run
// keeps those rows (ok, or a lost success) and must record them; a nightly
// run after it sends nothing.
func TestDrillResumeRecordsKeptSuccessesInLedger(t *testing.T) {
	const rows = 80
	// No genuine conflict: one whose answer is lost would be inferred a
	// lost success (SPEC §5's "most likely"), and this drill is about the
	// ledger holding exactly what the server holds.
	d := newDrillOpts(t, rows, false, false, clienttest.Options{Faults: []clienttest.Fault{clienttest.FaultLost}, FaultRate: 0.15, Seed: 3})
	code, stderr := d.run(context.Background(), "--limit", "40", "--attempts", "8")
	if code != exitLimit {
		t.Fatalf("canary without --ledger: exit %d, want 4\n%s", code, stderr)
	}
	d.ledger = filepath.Join(filepath.Dir(d.out), "ledger.db")
	d.baseArgs = append(d.baseArgs, "--ledger", d.ledger)
	if code, stderr := d.run(context.Background(), "--resume", "--attempts", "8"); code != exitNotAllOK {
		t.Fatalf("resume with --ledger: exit %d, want 1 (rows that met their own lost success are failed)\n%s", code, stderr)
	}
	got := d.check("canary-without-ledger+resume-with-ledger") // the ledger equals the server
	lost := exportLedgerLost(t, d.ledger)
	for line, r := range got {
		key := r.TokenType + ":" + r.TokenSn
		if strings.HasSuffix(r.Message, "probably registered to this user)") && !lost[key] {
			t.Errorf("line %d met its own lost success; the ledger does not flag %s lost", line, key)
		}
		if r.Status == report.StatusOK && lost[key] {
			t.Errorf("line %d was answered ok; the ledger flags %s lost", line, key)
		}
	}
	// The nightly run over the same inventory sends nothing: every line
	// is skipped as in the ledger.
	before := d.s.requests.Load()
	nightly := filepath.Join(filepath.Dir(d.out), "nightly.csv")
	code, _, stderr = cli{env: demoEnv(d.s.URL)}.run(t, context.Background(), "", "run", d.in, "--out", nightly, "--ledger", d.ledger, "--rate", "0", "--progress", "never")
	if sent := d.s.requests.Load() - before; code != exitOK || sent != 0 {
		t.Errorf("nightly run: exit %d after %d requests, want 0 after none\n%s", code, sent, stderr)
	}
}

// TestDrillLedgerImportOfLostSuccesses: a ledger seeded with `ledger import`
// from results written without one must hold what those runs bound,
// including the rows that met their own lost success (failed 29004/29008/
// 29017, "probably registered to this user"), flagged lost, as a run with
// --ledger would have recorded them. Otherwise the nightly run sends them
// again, and their 29004s look like genuine conflicts.
func TestDrillLedgerImportOfLostSuccesses(t *testing.T) {
	const rows = 60
	// No genuine conflict (see TestDrillResumeRecordsKeptSuccessesInLedger).
	d := newDrillOpts(t, rows, false, false, clienttest.Options{Faults: []clienttest.Fault{clienttest.FaultLost}, FaultRate: 0.2, Seed: 5})
	if code, stderr := d.run(context.Background(), "--attempts", "8"); code != exitNotAllOK {
		t.Fatalf("run: exit %d, want 1\n%s", code, stderr)
	}
	got := readResults(t, d.out)
	lostRows := 0
	for _, r := range got {
		if strings.HasSuffix(r.Message, "probably registered to this user)") {
			lostRows++
		}
	}
	if lostRows == 0 {
		t.Fatal("no row met its own lost success: the drill needs one (change the seed)")
	}
	d.ledger = filepath.Join(filepath.Dir(d.out), "ledger.db")
	code, _, stderr := cli{}.run(t, context.Background(), "", "ledger", "import", "--ledger", d.ledger, d.out)
	if code != exitOK {
		t.Fatalf("ledger import: exit %d\n%s", code, stderr)
	}
	d.check("run-without-ledger+import") // the ledger equals the server
	lost := exportLedgerLost(t, d.ledger)
	for line, r := range got {
		key := r.TokenType + ":" + r.TokenSn
		if want := strings.HasSuffix(r.Message, "probably registered to this user)"); lost[key] != want {
			t.Errorf("line %d (%s %q): the ledger's lost flag is %v, want %v", line, r.Status, r.Message, lost[key], want)
		}
	}
	t.Logf("%d rows met their own lost success", lostRows)
}

// TestDrillLedgerBusyLeavesResultAlone: a run refused because its ledger
// is in use by another run (exit 2) must leave its result as it was. Before,
// the result was opened first: a --resume had already rewritten it without
// its error rows (lines with no row, their "outcome unknown" notes gone), a
// --force had replaced it with an empty one, and a new run left a
// header-only file that the same command then refused as existing.
func TestDrillLedgerBusyLeavesResultAlone(t *testing.T) {
	old := ledgerWait.Swap(int64(50 * time.Millisecond))
	t.Cleanup(func() { ledgerWait.Store(old) })
	const rows = 40
	d := newDrill(t, rows, true, false)
	d.s.onRequest(func(n int64) {
		if n == 10 {
			d.s.down.Store(true)
		}
	})
	if code, stderr := d.run(context.Background(), "--attempts", "1", "--abort-after", "0"); code != exitNotAllOK {
		t.Fatalf("run during an outage: exit %d, want 1\n%s", code, stderr)
	}
	d.s.down.Store(false)
	saved := fileBytes(t, d.out)

	holder, err := ledger.Open(context.Background(), d.ledger, ledger.Options{RunID: "other-run"})
	if err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(filepath.Dir(d.out), "fresh.csv")
	for _, args := range [][]string{{"--resume"}, {"--force"}, {"--out", fresh}} {
		code, stderr := d.run(context.Background(), args...)
		if code != exitUsage || !strings.Contains(stderr, "in use by another tokenreg run") {
			t.Errorf("%v while the ledger is in use: exit %d, want 2 naming the other run\n%s", args, code, stderr)
		}
		if !bytes.Equal(saved, fileBytes(t, d.out)) {
			t.Errorf("%v while the ledger is in use changed the result", args)
		}
		if _, err := os.Stat(fresh); err == nil {
			t.Errorf("%v while the ledger is in use created %s", args, fresh)
		}
	}
	holder.Close()
	if code, stderr := d.run(context.Background(), "--resume"); code != exitOK {
		t.Fatalf("resume once the ledger is free: exit %d, want 0\n%s", code, stderr)
	}
	d.check("outage+resume-while-ledger-busy+resume")
}

// TestDrillResultFileAsRunInput: "a result file is itself a valid input"
// (README), so `run RESULT.csv` and `validate RESULT.csv` must read its cells
// as retry does: a formula guard the writer added ('-bob, '=x) is not part
// of the value, and an invalid row's escaped invisible character (bo\u200bb)
// stands for that character. Before, run sent the guard and the backslash
// text to the server: wrong values, answered 22002.
func TestDrillResultFileAsRunInput(t *testing.T) {
	dir := t.TempDir()
	st := clienttest.State{Users: []string{"-bob", "@carol", "=dave", "erin"}}
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	in := writeFile(t, dir, "in.csv", "username,tokenSn,tokenType\n-bob,+60100000001,SMS\n@carol,+60100000002,SMS\n=dave,+60100000003,SMS\nbo\u200bb,+60100000004,SMS\nerin,+60100000005,SMS\n")
	checked := filepath.Join(dir, "checked.csv")
	if code, _, stderr := (cli{}).run(t, context.Background(), "", "validate", in, "--out", checked); code != exitNotAllOK {
		t.Fatalf("validate: exit %d, want 1 (line 5 invalid)\n%s", code, stderr)
	}
	if b := string(fileBytes(t, checked)); !strings.Contains(b, "'-bob") || !strings.Contains(b, `bo\u200bb`) {
		t.Fatalf("the validate result lacks the guard or the escape this drill needs:\n%s", b)
	}
	// validate of the result reads the values as they were.
	code, stdout, stderr := (cli{}).run(t, context.Background(), "", "validate", checked)
	if code != exitNotAllOK || strings.Contains(stdout, "''") {
		t.Errorf("validate of a result: exit %d, want 1 and no doubled guard\n%s\n%s", code, stdout, stderr)
	}
	out := filepath.Join(dir, "run.csv")
	code, _, stderr = cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", checked, "--out", out, "--rate", "0", "--progress", "never")
	if code != exitNotAllOK {
		t.Errorf("run of a result: exit %d, want 1 (line 5 invalid)\n%s", code, stderr)
	}
	for line, r := range readResults(t, out) {
		want := report.StatusOK
		if line == 5 {
			want = report.StatusInvalid
		}
		if r.Status != want {
			t.Errorf("run of a result: line %d (%q) = %s %s %q, want %s", line, r.Username, r.Status, r.Code, r.Message, want)
		}
	}
	if n := len(s.Stats().Registrations); n != 4 {
		t.Errorf("the server holds %d registrations, want 4", n)
	}
}

// testStderrPipeClosed: stderr goes to a pipe whose reader goes away in the
// middle of the run, with no SIGHUP (`tokenreg run … 2>&1 | tee log` and tee
// killed, a log shipper restarted, `| head`). Before, the next log line
// killed tokenreg by SIGPIPE (exit 141) with rows in flight: requests
// applied, no result row. The log lines must fail, not the run: it
// finishes, every line with its row, every request with its row.
func testStderrPipeClosed(t *testing.T, bin string) {
	const rows = 400
	st, input := smsBatch(rows)
	s := clienttest.NewServer(st, clienttest.Options{Latency: 2 * time.Millisecond})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", input)
	out := filepath.Join(dir, "result.csv")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// -v: a log line per row, so that a write meets the closed pipe.
	p := startTokenregTo(t, w, bin, s.URL, "run", in, "--out", out, "--rate", "400", "--progress", "never", "-v")
	w.Close()
	go io.Copy(io.Discard, io.LimitReader(r, 2000)) // read a little, as head -c would
	p.waitFor(t, 30*time.Second, "50 rows written", func() bool { return completeRows(out) >= 50 })
	r.Close()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after its stderr went away")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != exitOK {
		t.Fatalf("stderr gone: exit %d (%v), want 0: the run must finish", code, p.cmd.ProcessState)
	}
	checkOneRowPerLine(t, out, rows)
	if n := s.Stats().Requests; n != rows {
		t.Errorf("%d requests for %d rows", n, rows)
	}
}

// TestDrillMergeNightlyShards: the nightly reconciliation split in shards,
// with a ledger that already holds every registration: each shard sends
// nothing, all its own rows are skipped "(ledger)". Merge must still tell
// each file's shard (its own skipped rows are not another shard's
// placeholders) and merge them; before, it refused every file as "every
// row of them is skipped".
func TestDrillMergeNightlyShards(t *testing.T) {
	dir := t.TempDir()
	st, text := smsBatch(30)
	input := writeFile(t, dir, "inventory.csv", text)
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	c := cli{env: demoEnv(s.URL)}
	db := filepath.Join(dir, "ledger.db")
	if code, _, stderr := c.run(t, context.Background(), "", "run", input, "--out", filepath.Join(dir, "first.csv"), "--ledger", db, "--rate", "0", "--progress", "never"); code != exitOK {
		t.Fatalf("first run: exit %d, want 0\n%s", code, stderr)
	}
	var shards []string
	for k := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("nightly-%d.csv", k))
		code, _, stderr := c.run(t, context.Background(), "", "run", input, "--shard", fmt.Sprintf("%d/3", k), "--out", p, "--ledger", db, "--rate", "0", "--progress", "never")
		if code != exitOK {
			t.Fatalf("nightly shard %d: exit %d, want 0\n%s", k, code, stderr)
		}
		shards = append(shards, p)
	}
	before := s.Stats().Requests
	merged := filepath.Join(dir, "merged.csv")
	code, _, stderr := cli{}.run(t, context.Background(), "", append([]string{"merge", "--out", merged}, shards...)...)
	if code != exitOK {
		t.Fatalf("merge of the nightly shards: exit %d, want 0\n%s", code, stderr)
	}
	rows := strings.Count(text, "\n") - 1
	got := checkOneRowPerLine(t, merged, rows)
	for line, r := range got {
		if strings.HasPrefix(r.Message, report.OtherShardPrefix) {
			t.Errorf("merged line %d is a placeholder: %q", line, r.Message)
		}
	}
	t.Logf("%d lines merged; the nightly shards sent %d requests", len(got), s.Stats().Requests-before)
}

// TestDrillResumeWithAnotherShard: a shard's result resumed with another
// --shard, or none (an operator finishing "the rest" on one machine, a pod
// given the wrong index), kept the first run's placeholders for the other
// shards' lines as final: exit 0, and those lines were never sent. The
// resume must be refused (exit 2) with the shard the result was written
// for, leaving the file as it was.
func TestDrillResumeWithAnotherShard(t *testing.T) {
	const rows = 60
	d := newDrill(t, rows, false, false)
	d.s.onRequest(func(n int64) {
		if n == 5 {
			d.s.down.Store(true)
		}
	})
	if code, stderr := d.run(context.Background(), "--shard", "0/3", "--attempts", "1", "--abort-after", "0"); code != exitNotAllOK {
		t.Fatalf("shard 0/3 during an outage: exit %d, want 1\n%s", code, stderr)
	}
	d.s.down.Store(false)
	saved := fileBytes(t, d.out)
	for _, args := range [][]string{{"--shard", "1/3"}, {"--shard", "0/2"}, {}} {
		before := d.s.requests.Load()
		code, stderr := d.run(context.Background(), append([]string{"--resume"}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "--shard 0/3") {
			t.Errorf("resume %v of a --shard 0/3 result: exit %d, want 2 naming --shard 0/3\n%s", args, code, stderr)
		}
		if !bytes.Equal(saved, fileBytes(t, d.out)) || d.s.requests.Load() != before {
			t.Errorf("resume %v of a --shard 0/3 result changed the result or sent requests", args)
		}
	}
	if code, stderr := d.run(context.Background(), "--resume", "--shard", "0/3"); code != exitOK {
		t.Fatalf("resume with the same shard: exit %d, want 0\n%s", code, stderr)
	}
	for line, r := range checkOneRowPerLine(t, d.out, rows) {
		if r.Status != report.StatusOK && !strings.HasPrefix(r.Message, report.OtherShardPrefix) {
			t.Errorf("line %d = %s %q, want ok or another shard's", line, r.Status, r.Message)
		}
	}
}

// TestDrillResumeOfADryRun: `run --dry-run` writes the default result
// (INPUT.result.csv) with every row `valid`; the real `run` then says the
// file exists and to use --resume; `run --resume` kept the `valid` rows as
// final and ended "done", exit 0, with nothing sent. A real run must
// refuse to continue a dry run's (or validate's) result, naming --force,
// and change nothing; a dry run may continue one.
func TestDrillResumeOfADryRun(t *testing.T) {
	const rows = 20
	d := newDrill(t, rows, false, false)
	if code, stderr := d.run(context.Background(), "--dry-run"); code != exitOK {
		t.Fatalf("dry run: exit %d, want 0\n%s", code, stderr)
	}
	if code, stderr := d.run(context.Background()); code != exitUsage || !strings.Contains(stderr, "--resume") {
		t.Fatalf("real run after the dry run: exit %d, want 2 pointing to --resume\n%s", code, stderr)
	}
	saved := fileBytes(t, d.out)
	code, stderr := d.run(context.Background(), "--resume")
	if code != exitUsage || !strings.Contains(stderr, "--force") {
		t.Errorf("--resume of a dry run's result: exit %d, want 2 naming --force\n%s", code, stderr)
	}
	if !bytes.Equal(saved, fileBytes(t, d.out)) || d.s.requests.Load() != 0 {
		t.Errorf("--resume of a dry run's result changed it or sent %d requests", d.s.requests.Load())
	}
	if code, stderr := d.run(context.Background(), "--resume", "--dry-run"); code != exitOK {
		t.Errorf("--resume --dry-run of a dry run's result: exit %d, want 0\n%s", code, stderr)
	}
	if code, stderr := d.run(context.Background(), "--force"); code != exitOK {
		t.Fatalf("--force: exit %d, want 0\n%s", code, stderr)
	}
	d.check("dry-run+resume+force")

	// The other way round: a dry run resuming a real result would write
	// valid rows over its error rows (and a real --resume then refuses).
	d = newDrill(t, rows, false, false)
	d.s.onRequest(func(n int64) {
		if n == 5 {
			d.s.down.Store(true)
		}
	})
	if code, stderr := d.run(context.Background(), "--attempts", "1", "--abort-after", "0"); code != exitNotAllOK {
		t.Fatalf("run during an outage: exit %d, want 1\n%s", code, stderr)
	}
	d.s.down.Store(false)
	saved = fileBytes(t, d.out)
	code, stderr = d.run(context.Background(), "--resume", "--dry-run")
	if code != exitUsage || !bytes.Equal(saved, fileBytes(t, d.out)) {
		t.Errorf("--resume --dry-run of a real result: exit %d, want 2 and the result unchanged\n%s", code, stderr)
	}
	if code, stderr := d.run(context.Background(), "--resume"); code != exitOK {
		t.Fatalf("--resume: exit %d, want 0\n%s", code, stderr)
	}
	d.check("outage+resume-dry-run+resume")
}

// TestDrillRetryOrMergeOfAResultBeingWritten: `retry` or `merge` of a result
// that a run is still writing (it holds RESULT.lock) read the rows written
// so far and ended as if that were all: a retry "with nothing to do", a
// "merged" result of a fraction of the lines. Both must refuse (exit 2),
// naming the run, and write nothing.
func TestDrillRetryOrMergeOfAResultBeingWritten(t *testing.T) {
	d := newDrill(t, 10, false, false, 3)
	if code, stderr := d.run(context.Background()); code != exitNotAllOK {
		t.Fatalf("run: exit %d, want 1\n%s", code, stderr)
	}
	lock, err := safefile.TryLock(d.out+".lock", "pid 4242 on testhost")
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Unlock()
	before := d.s.requests.Load()
	code, _, stderr := cli{env: demoEnv(d.s.URL)}.run(t, context.Background(), "", "retry", d.out, "--rate", "0", "--progress", "never")
	if code != exitUsage || !strings.Contains(stderr, "pid 4242") || d.s.requests.Load() != before {
		t.Errorf("retry of a result being written: exit %d after %d requests, want 2 naming pid 4242 after none\n%s", code, d.s.requests.Load()-before, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(d.out), "result.retry.csv")); err == nil {
		t.Error("the refused retry wrote its result")
	}
	code, stdout, stderr := cli{}.run(t, context.Background(), "", "merge", d.out)
	if code != exitUsage || !strings.Contains(stderr, "pid 4242") || stdout != "" {
		t.Errorf("merge of a result being written: exit %d, want 2 naming pid 4242, nothing on stdout\n%s", code, stderr)
	}
	lock.Unlock()
	code, _, stderr = cli{env: demoEnv(d.s.URL)}.run(t, context.Background(), "", "retry", d.out, "--rate", "0", "--progress", "never")
	if code != exitNotAllOK || d.s.requests.Load()-before != 1 {
		t.Errorf("retry once the run is done: exit %d after %d requests, want 1 after 1 (line 5)\n%s", code, d.s.requests.Load()-before, stderr)
	}
}

// TestDrillOutIsTheInput: `--out` naming the input itself (a slip of tab
// completion) with --force replaced the operator's inventory by the result,
// header first: a crash then left a partial result where the inventory was.
// run, retry and validate refuse it (exit 2) and leave the file alone.
func TestDrillOutIsTheInput(t *testing.T) {
	d := newDrill(t, 5, false, false)
	saved := fileBytes(t, d.in)
	link := filepath.Join(filepath.Dir(d.in), "link.csv")
	if err := os.Symlink(d.in, link); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"run", d.in, "--out", d.in, "--force", "--rate", "0", "--progress", "never"},
		{"run", d.in, "--out", link, "--force", "--rate", "0", "--progress", "never"},
		{"validate", d.in, "--out", d.in, "--force"},
		{"run", d.in, "--out", d.in, "--resume", "--rate", "0", "--progress", "never"},
	} {
		code, _, stderr := cli{env: demoEnv(d.s.URL)}.run(t, context.Background(), "", args...)
		if code != exitUsage || !strings.Contains(stderr, "is the input") {
			t.Errorf("%v: exit %d, want 2 saying --out is the input\n%s", args, code, stderr)
		}
		if !bytes.Equal(saved, fileBytes(t, d.in)) {
			t.Fatalf("%v changed the input", args)
		}
	}
	if n := d.s.requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestDrillReportFlagNamesAnotherFile: --summary, --metrics or --html
// naming the result (a script's --out "$F" --summary "$F"), the input or the
// ledger replaced that file with a report at the end of the run: the rows
// of the result, or the inventory, gone. Refused before anything is sent.
func TestDrillReportFlagNamesAnotherFile(t *testing.T) {
	d := newDrill(t, 5, false, false)
	dir := filepath.Dir(d.in)
	db := filepath.Join(dir, "ledger.db")
	saved := fileBytes(t, d.in)
	for _, extra := range [][]string{
		{"--summary", d.out},
		{"--metrics", d.out},
		{"--html", d.out},
		{"--summary", d.in},
		{"--summary", filepath.Join(dir, ".", "result.csv")},
		{"--ledger", db, "--metrics", db},
		{"--summary", filepath.Join(dir, "s.json"), "--html", filepath.Join(dir, "s.json")},
	} {
		code, stderr := d.run(context.Background(), extra...)
		if code != exitUsage || !strings.Contains(stderr, "give it a file of its own") {
			t.Errorf("%v: exit %d, want 2\n%s", extra, code, stderr)
		}
		if _, err := os.Stat(d.out); err == nil {
			t.Errorf("%v: the refused run wrote %s", extra, d.out)
			os.Remove(d.out)
		}
		if !bytes.Equal(saved, fileBytes(t, d.in)) {
			t.Fatalf("%v changed the input", extra)
		}
	}
	if n := d.s.requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if code, stderr := d.run(context.Background(), "--summary", filepath.Join(dir, "s.json")); code != exitOK {
		t.Errorf("a summary of its own: exit %d, want 0\n%s", code, stderr)
	}
}

// TestDrillMergeAndExportNameTheirInputs: `merge --summary` naming the
// merged result or a shard's result, and `ledger export --out` naming the
// ledger (with --force), replaced that file: a shard's rows, or the ledger
// itself, gone. Both are refused (exit 2) and change nothing.
func TestDrillMergeAndExportNameTheirInputs(t *testing.T) {
	dir := t.TempDir()
	text, st := shardInput()
	input := writeFile(t, dir, "inventory.csv", text)
	shards := runShards(t, dir, input, st, 2)
	saved := fileBytes(t, shards[0])
	merged := filepath.Join(dir, "merged.csv")
	for _, sum := range []string{merged, shards[0]} {
		code, _, stderr := cli{}.run(t, context.Background(), "", append([]string{"merge", "--out", merged, "--summary", sum}, shards...)...)
		if code != exitUsage || !bytes.Equal(saved, fileBytes(t, shards[0])) {
			t.Errorf("merge --summary %s: exit %d, want 2, and the shard's result unchanged\n%s", sum, code, stderr)
		}
		if _, err := os.Stat(merged); err == nil {
			t.Errorf("merge --summary %s wrote %s", sum, merged)
			os.Remove(merged)
		}
	}

	db := filepath.Join(dir, "ledger.db")
	lg, err := ledger.Open(context.Background(), db, ledger.Options{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.Record(context.Background(), "alice", client.OTP, "HW0001", time.Now(), false); err != nil {
		t.Fatal(err)
	}
	lg.Close()
	for _, out := range []string{db, filepath.Join(dir, ".", "ledger.db")} {
		code, _, stderr := cli{}.run(t, context.Background(), "", "ledger", "export", "--ledger", db, "--out", out, "--force")
		if code != exitUsage {
			t.Errorf("ledger export --out %s (the ledger) --force: exit %d, want 2\n%s", out, code, stderr)
		}
	}
	if n := len(exportLedger(t, db)); n != 1 {
		t.Errorf("the ledger holds %d registrations after the refused exports, want 1", n)
	}
}
