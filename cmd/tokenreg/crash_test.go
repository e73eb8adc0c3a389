package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// TestBuiltBinary builds tokenreg once and runs the tests that need a real
// process, here and in signal_test.go: the one place that runs the built
// binary, since SIGKILL and SIGINT must reach the program itself.
func TestBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTokenreg(t)
	for _, tt := range []struct {
		name string
		test func(t *testing.T, bin string)
	}{
		{"KillAndResume", func(t *testing.T, bin string) { testKillAndResume(t, bin, 1500, false, 0) }},
		// Two fsyncs a row: a smaller input keeps it short. 3% of the
		// answers are lost after the server applied the registration.
		{"KillAndResumeWithLedgerAndLostAnswers", func(t *testing.T, bin string) { testKillAndResume(t, bin, 300, true, 0.03) }},
		{"InterruptFlushesAndResumes", func(t *testing.T, bin string) { testInterruptFlushesAndResumes(t, bin, syscall.SIGINT, 3000) }},
		{"SIGTERMFlushesAndResumes", func(t *testing.T, bin string) { testInterruptFlushesAndResumes(t, bin, syscall.SIGTERM, 500) }},
		{"SIGHUPFlushesAndResumes", func(t *testing.T, bin string) { testInterruptFlushesAndResumes(t, bin, syscall.SIGHUP, 500) }},
		{"WriteFailureShowsAnswers", testWriteFailureShowsAnswers},
		{"HangupWithStderrGone", testHangupWithStderrGone},
		{"StderrPipeClosed", testStderrPipeClosed}, // drill2_test.go
		{"SecondInterruptExitsAtOnce", testSecondInterruptExitsAtOnce},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, bin)
		})
	}
}

// buildTokenreg builds the command into a temporary directory removed at
// the end of the test. The binary has the race detector when the test
// binary has it: the packages are then already compiled that way, so the
// build only links.
func buildTokenreg(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tokenreg")
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	args = append(args, ".")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// raceEnabled reports whether this test binary has the race detector.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// proc is a running tokenreg.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{} // closed when the process has ended
}

// startTokenreg starts the binary with the demo credentials for url in the
// environment. The test's end kills it if it still runs.
func startTokenreg(t *testing.T, bin, url string, args ...string) *proc {
	t.Helper()
	return startTokenregTo(t, nil, bin, url, args...)
}

// startTokenregTo is startTokenreg with the child's stderr going to stderr
// (a pipe whose reader the test controls); nil keeps it in p.stderr.
func startTokenregTo(t *testing.T, stderr *os.File, bin, url string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(),
		"CENTAGATE_URL="+url,
		"CENTAGATE_ADMIN="+clienttest.DefaultAdmin,
		"CENTAGATE_AUTH_TOKEN="+clienttest.DefaultAuthToken,
		"CENTAGATE_SECRET_CODE="+clienttest.DefaultSecretCode,
	)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if stderr != nil {
		p.cmd.Stderr = stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait() // the exit status is read from ProcessState
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to end by itself, at most limit (a guard
// against a hang, far beyond what the run needs), and returns its exit code:
// -1 if a signal ended it.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("tokenreg %s still running after %v; killed it. stderr:\n%s", strings.Join(p.cmd.Args[1:], " "), limit, p.stderr.String())
	}
	p.checkRace(t)
	return p.cmd.ProcessState.ExitCode()
}

// kill ends the process with SIGKILL and waits for it. It reports false if
// the process had already ended by itself.
func (p *proc) kill(t *testing.T) bool {
	t.Helper()
	select {
	case <-p.done:
		return false
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-p.done
	p.checkRace(t)
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// checkRace fails the test if the race detector spoke in the process.
func (p *proc) checkRace(t *testing.T) {
	t.Helper()
	if strings.Contains(p.stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("the race detector found a race in tokenreg:\n%s", p.stderr.String())
	}
}

// mustRun fails the test if the process has ended.
func (p *proc) mustRun(t *testing.T, what string) {
	t.Helper()
	select {
	case <-p.done:
		t.Fatalf("tokenreg ended before %s: exit %d. stderr:\n%s", what, p.cmd.ProcessState.ExitCode(), p.stderr.String())
	default:
	}
}

// completeRows returns the number of complete result rows in the file so
// far (lines ended by '\n' after the header; no message here holds one).
func completeRows(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return max(0, bytes.Count(data, []byte("\n"))-1)
}

// waitFor polls cond every millisecond until it holds (true) or the process
// ends (false); it kills the process and fails the test after limit.
func (p *proc) waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) (ok bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		select {
		case <-p.done:
			return false
		default:
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.done
			t.Fatalf("%s: not after %v; killed it. stderr:\n%s", what, limit, p.stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// smsBatch is an input of n SMS rows for n distinct users, and a server
// state that knows the users and no phone number: every row registers.
func smsBatch(n int) (clienttest.State, string) {
	var st clienttest.State
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range n {
		u := fmt.Sprintf("user%05d", i)
		st.Users = append(st.Users, u)
		fmt.Fprintf(&b, "%s,+6013%08d,SMS\n", u, i)
	}
	return st, b.String()
}

// countRows reads a result file as --resume will: the number of ok rows
// and of all rows, the length of its good prefix, its size, and whether it
// ends in a torn line. A missing file has nothing.
func countRows(t *testing.T, path string) (ok, rows int, good, size int64, torn bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, 0, 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	good, torn, err = report.Recover(bytes.NewReader(data), func(r report.Result) error {
		rows++
		if r.Status == report.StatusOK {
			ok++
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Recover(%s) = %v", path, err)
	}
	return ok, rows, good, int64(len(data)), torn
}

// checkOneRowPerLine reads the result with report.NewReader and fails
// unless every input line 2..rows+1 has exactly one row.
func checkOneRowPerLine(t *testing.T, path string, rows int) map[int]report.Result {
	t.Helper()
	got := readResults(t, path) // fails on a line with two rows
	var missing []int
	for line := 2; line <= rows+1; line++ {
		if _, ok := got[line]; !ok {
			missing = append(missing, line)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d lines have no result row: %v", len(missing), missing[:min(len(missing), 10)])
	}
	if len(got) != rows {
		t.Errorf("%d result rows, want %d", len(got), rows)
	}
	return got
}

// testKillAndResume kills tokenreg with SIGKILL at random moments and
// resumes it each time (SPEC §7 "Crash"): in the end every input line has
// exactly one result row, and only the rows in flight at a kill were sent
// twice. With a ledger (SPEC §5a), which notes each request before it is
// sent, the resumed run knows which rows a kill left in flight: their 29004
// says that the token is probably registered to this user.
func testKillAndResume(t *testing.T, bin string, rows int, withLedger bool, lost float64) {
	const workers, kills = 8, 5
	st, input := smsBatch(rows)
	opts := clienttest.Options{Latency: 2 * time.Millisecond, Jitter: time.Millisecond}
	if lost > 0 {
		opts.Faults, opts.FaultRate = []clienttest.Fault{clienttest.FaultLost}, lost
	}
	s := clienttest.NewServer(st, opts)
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", input)
	out := filepath.Join(dir, "result.csv")
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	args := []string{"run", in, "--out", out, "--rate", "0", "--workers", fmt.Sprint(workers), "--progress", "never"}
	if withLedger {
		args = append(args, "--ledger", filepath.Join(dir, "ledger.db"))
	}
	killed := 0
	tornBefore := false // the file ends in a torn line
	var final *proc
	for run := 0; final == nil; run++ {
		a := args
		if run > 0 {
			a = append(a[:len(a):len(a)], "--resume")
		}
		before := completeRows(out)
		okBefore, _, _, _, _ := countRows(t, out)
		statsBefore := s.Stats()
		p := startTokenreg(t, bin, s.URL, a...)
		if killed == kills {
			final = p
			break
		}
		// The first kill comes during the start-up, before the first
		// request (perhaps before the result file exists); the others at
		// a random moment within 100 ms of the run's first row of its
		// own, so that rows are in flight.
		var delay time.Duration
		since := "its first row"
		if run == 0 {
			delay, since = time.Duration(rng.IntN(10))*time.Millisecond, "start"
		} else {
			if !p.waitFor(t, 30*time.Second, fmt.Sprintf("run %d writes a row", run), func() bool { return completeRows(out) > before }) {
				final = p // it finished before it could be killed
				break
			}
			delay = time.Duration(rng.IntN(100)) * time.Millisecond
		}
		select {
		case <-p.done:
			final = p
			continue
		case <-time.After(delay):
		}
		if !p.kill(t) {
			final = p
			continue
		}
		killed++
		checkResumed(t, p, run, tornBefore)
		ok, n, _, size, torn := countRows(t, out)
		stats := s.Stats()
		requests := int(stats.Requests - statsBefore.Requests)
		written := n - before
		applied := len(stats.Registrations) - len(statsBefore.Registrations) - (ok - okBefore)
		t.Logf("kill %d, %v after %s: %d rows in the file (%d bytes, torn=%v); this run sent %d requests and wrote %d rows: %d lost in flight, %d of them applied so far",
			killed, delay, since, n, size, torn, requests, written, requests-written, applied)
		if torn {
			t.Errorf("SIGKILL left a torn line: a row took more than one write")
		}

		// A crash in the middle of a write (power loss, a full disk) leaves
		// a torn last line; SIGKILL cannot, as each row is one write. Make
		// one after two of the kills: resume must drop it.
		tornBefore = killed == 2 || killed == 4
		if tornBefore {
			appendTorn(t, out, killed == 4)
		}
	}
	code := final.wait(t, 60*time.Second)
	checkResumed(t, final, killed, tornBefore)
	if code != exitOK && code != exitNotAllOK {
		t.Fatalf("last run (after %d kills): exit %d, want 0 or 1. stderr:\n%s", killed, code, final.stderr.String())
	}
	if killed < kills {
		t.Logf("the run finished after %d kills, before the %d planned", killed, kills)
	}
	if killed == 0 {
		t.Fatal("no kill landed while tokenreg ran: the test proved nothing")
	}

	// Every line has exactly one row; the file is whole.
	got := checkOneRowPerLine(t, out, rows)
	if _, n, good, size, torn := countRows(t, out); torn || good != size || n != rows {
		t.Errorf("final result: %d rows, good %d of %d bytes, torn %v; want %d rows, all good", n, good, size, torn, rows)
	}
	// Every row ok, except those whose answer a kill lost after the server
	// applied them: sent again on resume, they met their own registration.
	phoneUsed, noted, inLedger := 0, 0, 0
	var unnoted []int
	for line, r := range got {
		switch {
		case r.Status == report.StatusOK:
		case withLedger && r.Status == report.StatusSkipped && strings.HasSuffix(r.Message, "(ledger)"):
			// Recorded as a success, then killed before its row was
			// written: the resumed run finds it in the ledger.
			inLedger++
		case r.Status == report.StatusFailed && r.Code == "29004":
			phoneUsed++
			if strings.Contains(r.Message, "probably registered to this user") {
				noted++
			} else {
				unnoted = append(unnoted, line)
			}
		default:
			t.Errorf("line %d: %s %s %q, want ok or a 29004 lost to a kill", line, r.Status, r.Code, r.Message)
		}
	}
	wantCode := exitOK
	if phoneUsed > 0 {
		wantCode = exitNotAllOK
	}
	if code != wantCode {
		t.Errorf("last run: exit %d, want %d. stderr:\n%s", code, wantCode, final.stderr.String())
	}
	stats := s.Stats()
	resent := int(stats.Requests) - rows
	t.Logf("%d kills, %d rows: %d requests, so %d rows sent again after a kill lost them in flight; %d of those had been applied and met 29004 (%d with the lost-answer note); %d found in the ledger",
		killed, rows, stats.Requests, resent, phoneUsed, noted, inLedger)
	if withLedger && noted != phoneUsed {
		slices.Sort(unnoted)
		t.Errorf("%d of the %d rows that met 29004 after a kill say the token is probably registered to this user, want all: the ledger knew they were in flight; lines without the note: %v (the server answered 29004 %d times)",
			noted, phoneUsed, unnoted[:min(len(unnoted), 10)], stats.ByCode["29004"])
	}
	if phoneUsed > resent {
		t.Errorf("%d rows met 29004 but only %d were sent twice", phoneUsed, resent)
	}
	if limit := workers * killed; lost == 0 && phoneUsed > limit {
		t.Errorf("%d rows met 29004, want at most %d (%d workers × %d kills)", phoneUsed, limit, workers, killed)
	}
	if len(stats.Registrations) != rows {
		t.Errorf("server registered %d numbers, want %d", len(stats.Registrations), rows)
	}
	if double := stats.DoubleRegistrations(); len(double) > 0 {
		t.Errorf("registered twice: %v", double)
	}
	if !withLedger {
		return
	}
	// The ledger holds exactly what the server holds (SPEC §5a), the rows
	// whose success was inferred after a lost answer flagged as such.
	ledgerKeys := exportLedgerLost(t, filepath.Join(dir, "ledger.db"))
	lostInLedger := 0
	for k, l := range ledgerKeys {
		if stats.Registrations[k] == 0 {
			t.Errorf("the ledger holds %s, the server does not", k)
		}
		if l {
			lostInLedger++
		}
	}
	for k := range stats.Registrations {
		if _, ok := ledgerKeys[k]; !ok {
			t.Errorf("the server holds %s, the ledger does not", k)
		}
	}
	for line, r := range got {
		if k := r.TokenType + ":" + r.TokenSn; r.Status == report.StatusFailed && !ledgerKeys[k] {
			t.Errorf("line %d met its own lost success (%s) but the ledger does not flag %s as lost", line, r.Code, k)
		}
	}
	t.Logf("ledger: %d registrations (%d flagged lost), server: %d; lost-answer faults injected: %d", len(ledgerKeys), lostInLedger, len(stats.Registrations), stats.Faults[clienttest.FaultLost])
}

// checkResumed checks that a run after the first said it resumed, and that
// it dropped the torn line left for it.
func checkResumed(t *testing.T, p *proc, run int, torn bool) {
	t.Helper()
	if run == 0 {
		return
	}
	stderr := p.stderr.String()
	if !strings.Contains(stderr, "msg=resuming") {
		t.Errorf("run %d did not say it resumed. stderr:\n%s", run, stderr)
	}
	if torn && !strings.Contains(stderr, "torn_line_dropped=true") {
		t.Errorf("run %d did not drop the torn last line. stderr:\n%s", run, stderr)
	}
}

// appendTorn appends a last line without its line end, as a crash in the
// middle of writing it would leave: a copy of the last row (a complete
// record that only lacks its '\n') or half of it.
func appendTorn(t *testing.T, path string, half bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	last := bytes.TrimSuffix(lines[max(0, len(lines)-2)], []byte("\n"))
	if half {
		last = last[:len(last)/2]
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(last); err != nil {
		t.Fatal(err)
	}
}
