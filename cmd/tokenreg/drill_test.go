package main

// The drill matrix of issue 14: sequences of commands an operator may type
// (and failures a machine may have), each checked against the promise that
// every input line ends with exactly one result row, that the server holds
// exactly the registrations the results (and the ledger) say, and that no
// token is registered twice. The drills that need a real process (SIGKILL,
// SIGTERM, SIGHUP, a full disk) are in TestBuiltBinary.

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/ledger"
	"github.com/tokenreg/tokenreg/report"
)

// drillServer is the fake CENTAGATE behind a switch: while down, every
// request gets HTTP 503 without being applied (an outage); while held,
// requests wait until released. It counts requests and can call a hook.
type drillServer struct {
	URL      string
	h        *clienttest.Handler
	srv      *httptest.Server
	down     atomic.Bool
	requests atomic.Int64
	hook     atomic.Pointer[func(n int64)] // called with each request's number
	hold     chan struct{}                 // non-nil: requests wait for it to close
	arrived  chan struct{}
	mu       sync.Mutex
}

func newDrillServer(st clienttest.State, opts clienttest.Options, hold bool) *drillServer {
	d := &drillServer{h: clienttest.NewHandler(st, opts), arrived: make(chan struct{}, 1)}
	if hold {
		d.hold = make(chan struct{})
	}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := d.requests.Add(1)
		if f := d.hook.Load(); f != nil {
			(*f)(n)
		}
		select {
		case d.arrived <- struct{}{}:
		default:
		}
		if d.hold != nil {
			select {
			case <-d.hold:
			case <-r.Context().Done():
				return
			}
		}
		if d.down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		d.h.ServeHTTP(w, r)
	}))
	d.URL = d.srv.URL + d.h.BasePath()
	return d
}

func (d *drillServer) onRequest(f func(n int64)) { d.hook.Store(&f) }

func (d *drillServer) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.hold != nil {
		select {
		case <-d.hold:
		default:
			close(d.hold)
		}
	}
}

func (d *drillServer) Close() {
	d.release()
	d.srv.Close()
	d.h.Close()
}

// drill is one inventory, its result file and, optionally, a ledger.
type drill struct {
	t        *testing.T
	s        *drillServer
	rows     int
	in, out  string
	ledger   string
	codes    []int
	genuine  map[string]bool // keys the server held before the drill
	baseArgs []string
}

// newDrill makes an inventory of n SMS rows for n users; the rows listed in
// taken carry a phone number the server already has (a genuine 29004).
func newDrill(t *testing.T, n int, withLedger, hold bool, taken ...int) *drill {
	return newDrillOpts(t, n, withLedger, hold, clienttest.Options{}, taken...)
}

// newDrillOpts is newDrill with the fake server's options (faults).
func newDrillOpts(t *testing.T, n int, withLedger, hold bool, opts clienttest.Options, taken ...int) *drill {
	t.Helper()
	var st clienttest.State
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	d := &drill{t: t, rows: n, genuine: map[string]bool{}}
	for i := range n {
		u := fmt.Sprintf("user%04d", i)
		st.Users = append(st.Users, u)
		phone := fmt.Sprintf("+6017%08d", i)
		if slices.Contains(taken, i) {
			st.PhonesInUse = append(st.PhonesInUse, phone)
		}
		fmt.Fprintf(&b, "%s,%s,SMS\n", u, phone)
	}
	d.s = newDrillServer(st, opts, hold)
	t.Cleanup(d.s.Close)
	dir := t.TempDir()
	d.in = writeFile(t, dir, "in.csv", b.String())
	d.out = filepath.Join(dir, "result.csv")
	d.baseArgs = []string{"run", d.in, "--out", d.out, "--rate", "0", "--workers", "8", "--progress", "never"}
	if withLedger {
		d.ledger = filepath.Join(dir, "ledger.db")
		d.baseArgs = append(d.baseArgs, "--ledger", d.ledger)
	}
	return d
}

// run runs tokenreg with the drill's arguments and more; it records the
// exit code.
func (d *drill) run(ctx context.Context, more ...string) (int, string) {
	d.t.Helper()
	code, _, stderr := cli{env: demoEnv(d.s.URL)}.run(d.t, ctx, "", append(slices.Clone(d.baseArgs), more...)...)
	d.codes = append(d.codes, code)
	return code, stderr
}

// check asserts the invariants and logs the drill's figures.
func (d *drill) check(name string) map[int]report.Result {
	t := d.t
	t.Helper()
	got := checkOneRowPerLine(t, d.out, d.rows)
	stats := d.s.h.Stats()
	server := map[string]bool{}
	for k, n := range stats.Registrations {
		server[k] = true
		if n > 1 {
			t.Errorf("%s registered %d times", k, n)
		}
	}
	// What the results say tokenreg bound on the server.
	claimed := map[string]bool{}
	for line, r := range got {
		key := r.TokenType + ":" + r.TokenSn
		switch {
		case r.Status == report.StatusOK:
			claimed[key] = true
		case r.Status == report.StatusFailed && strings.HasSuffix(r.Message, "the token is probably registered to this user)"):
			claimed[key] = true
		case r.Status == report.StatusSkipped && strings.HasSuffix(r.Message, "(ledger)"):
			claimed[key] = true
		case r.Status == report.StatusFailed && r.Code == "29004":
			if server[key] {
				t.Errorf("line %d: genuine-looking 29004 but the server holds %s from this drill", line, key)
			}
		}
	}
	for k := range server {
		if !claimed[k] {
			t.Errorf("the server holds %s but no result row says it was registered", k)
		}
	}
	for k := range claimed {
		if !server[k] {
			t.Errorf("a result row says %s was registered, the server does not hold it", k)
		}
	}
	ledgerRows := -1
	if d.ledger != "" {
		inLedger := exportLedger(t, d.ledger)
		ledgerRows = len(inLedger)
		for k := range server {
			if !inLedger[k] {
				t.Errorf("the server holds %s, the ledger does not", k)
			}
		}
		for k := range inLedger {
			if !server[k] {
				t.Errorf("the ledger holds %s, the server does not", k)
			}
		}
	}
	t.Logf("drill %s: %d rows, %d result rows, %d registrations on the server (%d requests), ledger rows %d, exit codes %v",
		name, d.rows, len(got), len(server), stats.Requests, ledgerRows, d.codes)
	return got
}

// exportLedger returns the ledger's registrations as TYPE:SERIAL keys, read
// through `tokenreg ledger export`.
func exportLedger(t *testing.T, db string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for k := range exportLedgerLost(t, db) {
		out[k] = true
	}
	return out
}

// exportLedgerLost returns the ledger's registrations as TYPE:SERIAL keys
// and their lost flag, read through `tokenreg ledger export`.
func exportLedgerLost(t *testing.T, db string) map[string]bool {
	t.Helper()
	code, stdout, stderr := cli{}.run(t, context.Background(), "", "ledger", "export", "--ledger", db)
	if code != exitOK {
		t.Fatalf("ledger export: exit %d\n%s", code, stderr)
	}
	rd := csv.NewReader(strings.NewReader(stdout))
	recs, err := rd.ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("ledger export: %v\n%s", err, stdout)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	lostCol, ok := col["lost"]
	if !ok {
		t.Fatalf("ledger export has no lost column: %v", recs[0])
	}
	out := map[string]bool{}
	for _, r := range recs[1:] {
		out[r[col["tokenType"]]+":"+r[col["tokenSn"]]] = r[lostCol] == "true"
	}
	return out
}

func fileBytes(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestDrillOutageThenResumeTwice: the server goes down in the middle of a
// run (every request 503, nothing applied): the run ends with error rows
// and exit 1; a resume retries exactly those rows and keeps one row per
// line; a second resume sends nothing. A genuine 29004 of the first part
// keeps the resumed run's exit code at 1.
func TestDrillOutageThenResumeTwice(t *testing.T) {
	const rows = 120
	for _, withLedger := range []bool{false, true} {
		t.Run(fmt.Sprintf("ledger=%v", withLedger), func(t *testing.T) {
			d := newDrill(t, rows, withLedger, false, 0)
			d.s.onRequest(func(n int64) {
				if n == 40 {
					d.s.down.Store(true)
				}
			})
			code, stderr := d.run(context.Background(), "--attempts", "1", "--abort-after", "0")
			if code != exitNotAllOK {
				t.Fatalf("run during an outage: exit %d, want 1 (error rows)\n%s", code, stderr)
			}
			first := d.check("outage")
			// Rows need not reach the server in file order: line 2's genuine
			// 29004 is usually, not always, answered before the outage.
			earlyFailure := first[2].Status == report.StatusFailed
			t.Logf("line 2 failed in the first part: %v", earlyFailure)
			errRows := 0
			for _, r := range first {
				if r.Status == report.StatusError {
					errRows++
				}
			}
			if errRows < rows-45 {
				t.Errorf("%d error rows after the outage, want at least %d", errRows, rows-45)
			}

			d.s.down.Store(false)
			before := d.s.requests.Load()
			code, stderr = d.run(context.Background(), "--resume")
			if code != exitNotAllOK {
				t.Errorf("resume: exit %d, want 1 (line 2 failed with 29004, in the first part: %v)\n%s", code, earlyFailure, stderr)
			}
			if sent := d.s.requests.Load() - before; int(sent) != errRows {
				t.Errorf("resume sent %d requests, want %d (the error rows)", sent, errRows)
			}
			got := d.check("outage+resume")
			for line, r := range got {
				want := report.StatusOK
				if line == 2 {
					want = report.StatusFailed
				}
				if r.Status != want {
					t.Errorf("line %d after resume: %s %q, want %s", line, r.Status, r.Message, want)
				}
			}

			before = d.s.requests.Load()
			saved := fileBytes(t, d.out)
			code, stderr = d.run(context.Background(), "--resume")
			if code != exitNotAllOK {
				t.Errorf("second resume: exit %d, want 1\n%s", code, stderr)
			}
			if sent := d.s.requests.Load() - before; sent != 0 {
				t.Errorf("second resume sent %d requests, want 0", sent)
			}
			if !bytes.Equal(saved, fileBytes(t, d.out)) {
				t.Error("second resume changed a finished result")
			}
			d.check("outage+resume+resume")
			// retry of the finished result sends only the genuine failure.
			before = d.s.requests.Load()
			code, _, stderr = cli{env: demoEnv(d.s.URL)}.run(t, context.Background(), "", "retry", d.out, "--rate", "0", "--progress", "never")
			if code != exitNotAllOK || d.s.requests.Load()-before != 1 {
				t.Errorf("retry: exit %d after %d requests, want 1 after 1 (only line 2)\n%s", code, d.s.requests.Load()-before, stderr)
			}
		})
	}
}

// TestDrillInterruptDuringRetriesThenResume: Ctrl-C while rows wait for
// their retry: exit 130, the interrupted rows get error rows, and a resume
// finishes with one row per line and every token registered once.
func TestDrillInterruptDuringRetriesThenResume(t *testing.T) {
	const rows = 60
	d := newDrill(t, rows, true, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.s.down.Store(true) // every first attempt: 503, a retry follows
	d.s.onRequest(func(n int64) {
		if n == 12 {
			cancel()
		}
	})
	code, stderr := d.run(ctx, "--attempts", "5")
	if code != 130 {
		t.Fatalf("Ctrl-C during retries: exit %d, want 130\n%s", code, stderr)
	}
	got := readResults(t, d.out)
	for line, r := range got {
		if r.Status != report.StatusError || !strings.HasPrefix(r.Message, "interrupted after") {
			t.Errorf("line %d = %s %q, want an interrupted error row", line, r.Status, r.Message)
		}
	}
	interrupted := len(got)
	d.s.onRequest(func(int64) {})
	d.s.down.Store(false)
	if code, stderr := d.run(context.Background(), "--resume"); code != exitOK {
		t.Fatalf("resume: exit %d, want 0\n%s", code, stderr)
	}
	got = d.check("ctrl-c-during-retries+resume")
	for line, r := range got {
		if r.Status != report.StatusOK {
			t.Errorf("line %d = %s %q, want ok", line, r.Status, r.Message)
		}
	}
	t.Logf("%d rows were interrupted in their retries", interrupted)
}

// TestDrillTwoRunsOnOneResult: a second run on the --out of a run in
// progress (plain, --resume, --force, --force with a ledger) exits 2 at
// once naming the first run's PID, and changes neither file; the first run
// finishes intact.
func TestDrillTwoRunsOnOneResult(t *testing.T) {
	const rows = 30
	d := newDrill(t, rows, false, true)
	done := make(chan int)
	go func() {
		code, _ := d.run(context.Background(), "--workers", "2")
		done <- code
	}()
	<-d.s.arrived // the first run holds the lock and has rows in flight
	saved := fileBytes(t, d.out)
	other := filepath.Join(filepath.Dir(d.out), "other-ledger.db")
	for _, args := range [][]string{{}, {"--resume"}, {"--force"}, {"--force", "--ledger", other}} {
		code, _, stderr := cli{env: demoEnv(d.s.URL)}.run(t, context.Background(), "", append([]string{"run", d.in, "--out", d.out, "--rate", "0", "--progress", "never"}, args...)...)
		pid := fmt.Sprintf("pid %d", os.Getpid())
		if code != exitUsage || !strings.Contains(stderr, "in use by another tokenreg run") || !strings.Contains(stderr, pid) {
			t.Errorf("second run %v: exit %d, want 2 naming %s:\n%s", args, code, pid, stderr)
		}
		if !bytes.Equal(saved, fileBytes(t, d.out)) {
			t.Errorf("second run %v changed the first run's result", args)
		}
		if _, err := os.Stat(other); err == nil {
			t.Errorf("second run %v created its ledger before it was refused", args)
		}
	}
	d.s.release()
	if code := <-done; code != exitOK {
		t.Errorf("first run: exit %d, want 0", code)
	}
	d.check("two-runs-one-out")
}

// TestDrillEditedOrTruncatedInput: --resume refuses an input whose row on a
// resumed line changed (even only its tokenType) or that ends before the
// result's last line, changing nothing and sending nothing.
func TestDrillEditedOrTruncatedInput(t *testing.T) {
	const rows = 20
	d := newDrill(t, rows, false, false)
	if code, stderr := d.run(context.Background()); code != exitOK {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	orig := string(fileBytes(t, d.in))
	saved := fileBytes(t, d.out)
	before := d.s.requests.Load()
	lines := strings.SplitAfter(orig, "\n")
	for _, tt := range []struct {
		name, input, want string
	}{
		{"tokenType edited", strings.Replace(orig, "user0003,+601700000003,SMS", "user0003,+601700000003,OTP", 1), "line 5"},
		{"username edited", strings.Replace(orig, "user0003,", "user0033,", 1), "line 5"},
		{"truncated", strings.Join(lines[:rows-2], ""), "past the input's end"},
		{"row removed", strings.Replace(orig, "user0003,+601700000003,SMS\n", "", 1), "line 5"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(d.in, []byte(tt.input), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stderr := d.run(context.Background(), "--resume")
			if code != exitUsage || !strings.Contains(stderr, "does not belong to this input") || !strings.Contains(stderr, "or use --force to start over") {
				t.Errorf("resume: exit %d, want 2 saying the result does not belong to this input, and --force:\n%s", code, stderr)
			}
			if tt.want == "past the input's end" {
				if !strings.Contains(stderr, "input's last row is on line") {
					t.Errorf("message does not say the input ends early:\n%s", stderr)
				}
			} else if !strings.Contains(stderr, tt.want) {
				t.Errorf("message does not name %s:\n%s", tt.want, stderr)
			}
			if !bytes.Equal(saved, fileBytes(t, d.out)) {
				t.Error("the refused resume changed the result")
			}
			if n := d.s.requests.Load() - before; n != 0 {
				t.Errorf("the refused resume sent %d requests", n)
			}
		})
	}
	os.WriteFile(d.in, []byte(orig), 0o600)
	d.check("edited-input")
}

// TestDrillStopBeforeSends: a graceful stop while the workers wait for the
// pace (their intents noted) leaves no intent behind for rows never sent,
// so a later genuine conflict is not taken for a lost success.
func TestDrillStopBeforeSends(t *testing.T) {
	const rows = 40
	// Lines 4 and 5 carry numbers the server already has: genuine 29004s.
	d := newDrill(t, rows, true, false, 2, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.s.onRequest(func(n int64) {
		if n == 2 {
			cancel()
		}
	})
	code, stderr := d.run(ctx, "--rate", "5", "--workers", "4")
	if code != 130 {
		t.Fatalf("stop: exit %d, want 130\n%s", code, stderr)
	}
	got := readResults(t, d.out)
	lg, err := ledger.Open(context.Background(), d.ledger, ledger.Options{RunID: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	stale := 0
	for i := range rows {
		if _, written := got[i+2]; written {
			continue
		}
		u, sn := fmt.Sprintf("user%04d", i), fmt.Sprintf("+6017%08d", i)
		earlier, err := lg.Intent(context.Background(), u, client.SMS, sn)
		if err != nil {
			t.Fatal(err)
		}
		if earlier {
			stale++
		}
		// The probe's own intent must not look stale to the resume.
		if err := lg.Forget(context.Background(), u, client.SMS, sn); err != nil {
			t.Fatal(err)
		}
	}
	lg.Close()
	if stale > 0 {
		t.Errorf("%d rows never sent left an intent in the ledger", stale)
	}
	// Finish the inventory.
	if code, stderr := d.run(context.Background(), "--resume"); code != exitNotAllOK {
		t.Fatalf("resume: exit %d, want 1 (two genuine 29004s)\n%s", code, stderr)
	}
	got = d.check("stop-before-sends+resume")
	for _, line := range []int{4, 5} {
		if r := got[line]; r.Code != "29004" || strings.Contains(r.Message, "probably registered") {
			t.Errorf("line %d = %s %s %q, want a genuine 29004 without the lost-answer note", line, r.Status, r.Code, r.Message)
		}
	}
}

// TestDrillLostAnswersStopAndResume: answers lost after the server applied
// the registration, a graceful stop in the middle, and resumes: the ledger
// ends up holding exactly the server's registrations, the inferred ones
// flagged lost, and each line one row.
func TestDrillLostAnswersStopAndResume(t *testing.T) {
	const rows = 150
	d := newDrillOpts(t, rows, true, false, clienttest.Options{Faults: []clienttest.Fault{clienttest.FaultLost}, FaultRate: 0.1, Seed: 7})
	for i, stopAt := range []int64{30, 90, 0} {
		ctx, cancel := context.WithCancel(context.Background())
		if stopAt > 0 {
			d.s.onRequest(func(n int64) {
				if n == stopAt {
					cancel()
				}
			})
		} else {
			d.s.onRequest(func(int64) {})
		}
		args := []string{"--attempts", "3"}
		if i > 0 {
			args = append(args, "--resume")
		}
		code, stderr := d.run(ctx, args...)
		cancel()
		if want := map[bool]int{true: 130, false: exitNotAllOK}[stopAt > 0]; code != want && !(stopAt == 0 && code == exitOK) {
			t.Fatalf("run %d: exit %d, want %d\n%s", i, code, want, stderr)
		}
	}
	got := d.check("lost-answers+stop+resume")
	inLedger := exportLedgerLost(t, d.ledger)
	noted := 0
	for line, r := range got {
		key := r.TokenType + ":" + r.TokenSn
		switch {
		case r.Status == report.StatusOK:
		case r.Status == report.StatusFailed && strings.HasSuffix(r.Message, "probably registered to this user)"):
			noted++
			if !inLedger[key] {
				t.Errorf("line %d met its own lost success; the ledger does not flag %s lost", line, key)
			}
		default:
			t.Errorf("line %d = %s %s %q, want ok or a lost-answer 29004", line, r.Status, r.Code, r.Message)
		}
	}
	t.Logf("%d rows met their own lost success (flagged lost in the ledger); faults injected %v", noted, d.s.h.Stats().Faults)
}

// TestDrillResultIsADirectory: a clear message, exit 2.
func TestDrillResultIsADirectory(t *testing.T) {
	d := newDrill(t, 3, false, false)
	dir := t.TempDir()
	for _, flag := range []string{"", "--resume", "--force"} {
		args := []string{"--out", dir}
		if flag != "" {
			args = append(args, flag)
		}
		code, stderr := d.run(context.Background(), args...)
		if code != exitUsage || !strings.Contains(stderr, "is a directory: give --out a file name") {
			t.Errorf("--out DIR %s: exit %d, want 2 saying it is a directory:\n%s", flag, code, stderr)
		}
	}
	if n := d.s.requests.Load(); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestResultFilesInSharedDirectories: --force replaces a planted symbolic
// link instead of writing through it, and a planted file of another user
// instead of reusing its owner and mode; --resume refuses both.
func TestResultFilesInSharedDirectories(t *testing.T) {
	d := newDrill(t, 3, false, false)
	dir := filepath.Dir(d.out)
	precious := writeFile(t, dir, "precious.txt", "keep me\n")
	if err := os.Symlink(precious, d.out); err != nil {
		t.Fatal(err)
	}
	code, stderr := d.run(context.Background(), "--resume")
	if code != exitUsage || !strings.Contains(stderr, "symbolic link") {
		t.Errorf("--resume through a symlink: exit %d, want 2 refusing the link:\n%s", code, stderr)
	}
	if code, stderr := d.run(context.Background(), "--force"); code != exitOK {
		t.Fatalf("--force over a symlink: exit %d\n%s", code, stderr)
	}
	if string(fileBytes(t, precious)) != "keep me\n" {
		t.Error("--force wrote through the planted symlink")
	}
	if st, err := os.Lstat(d.out); err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Errorf("result after --force: %v, %v; want a regular file, mode 0600", st.Mode(), err)
	}
	d.check("force-over-symlink")

	if os.Geteuid() != 0 {
		t.Skip("not root: cannot plant a file of another user")
	}
	if err := os.Chmod(d.out, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d.out, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	code, stderr = d.run(context.Background(), "--resume")
	if code != exitUsage || !strings.Contains(stderr, "owned by another user") {
		t.Errorf("--resume of a file of uid 4242: exit %d, want 2:\n%s", code, stderr)
	}
	// The tokens are registered by now: the rows meet 29004, exit 1.
	if code, stderr := d.run(context.Background(), "--force"); code != exitNotAllOK {
		t.Fatalf("--force over a foreign file: exit %d, want 1\n%s", code, stderr)
	}
	st, _ := os.Stat(d.out)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after --force, want 0600", st.Mode().Perm())
	}
	if uid := fileUID(st); uid != os.Geteuid() {
		t.Errorf("owner uid %d after --force, want %d", uid, os.Geteuid())
	}
	// And a result of our own with a loose mode is tightened on resume.
	os.Chmod(d.out, 0o644)
	if code, stderr := d.run(context.Background(), "--resume"); code != exitNotAllOK {
		t.Fatalf("--resume: exit %d, want 1\n%s", code, stderr)
	}
	if st, _ := os.Stat(d.out); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after --resume, want 0600", st.Mode().Perm())
	}
}

// TestRepairOldResult: a result with two rows for a line (as an older
// tokenreg wrote on --resume) is refused by --resume and retry with a hint,
// and `tokenreg repair` keeps the last row of each line.
func TestRepairOldResult(t *testing.T) {
	d := newDrill(t, 3, false, false)
	old := "line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n" +
		"2,user0000,+601700000000,SMS,ok,0,Success,1,3,2026-11-28T10:00:00.000Z\n" +
		"3,user0001,+601700000001,SMS,error,,no valid answer after 5 attempt(s): send: connection refused,5,3,2026-11-28T10:00:00.000Z\n" +
		"4,user0002,+601700000002,SMS,ok,0,Success,1,3,2026-11-28T10:00:00.000Z\n" +
		"3,user0001,+601700000001,SMS,ok,0,Success,1,3,2026-11-28T10:01:00.000Z\n"
	writeFile(t, filepath.Dir(d.out), filepath.Base(d.out), old)
	code, stderr := d.run(context.Background(), "--resume")
	if code != exitUsage || !strings.Contains(stderr, "tokenreg repair") {
		t.Errorf("--resume of a two-row file: exit %d, want 2 pointing at tokenreg repair:\n%s", code, stderr)
	}
	code, _, stderr = cli{env: demoEnv(d.s.URL)}.run(t, context.Background(), "", "retry", d.out, "--progress", "never")
	if code != exitUsage || !strings.Contains(stderr, "tokenreg repair") {
		t.Errorf("retry of a two-row file: exit %d, want 2 pointing at tokenreg repair:\n%s", code, stderr)
	}
	code, _, stderr = cli{}.run(t, context.Background(), "", "repair", d.out)
	if code != exitOK || !strings.Contains(stderr, "kept 3 row(s)") || !strings.Contains(stderr, "dropped 1") {
		t.Fatalf("repair: exit %d:\n%s", code, stderr)
	}
	got := readResults(t, d.out)
	if r := got[3]; r.Status != report.StatusOK {
		t.Errorf("line 3 after repair = %s, want the last row (ok)", r.Status)
	}
	if d.s.requests.Load() != 0 {
		t.Errorf("%d requests sent", d.s.requests.Load())
	}
}
