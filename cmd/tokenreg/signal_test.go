package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// testInterruptFlushesAndResumes sends sig (SIGINT, SIGTERM or SIGHUP: all
// graceful stops) to a paced run (SPEC §5, exit 130): the rows in flight
// finish and are written, the file ends on a whole row, and --resume sends
// exactly the rest, nothing twice.
func testInterruptFlushesAndResumes(t *testing.T, bin string, sig syscall.Signal, rows int) {
	st, input := smsBatch(rows)
	s := clienttest.NewServer(st, clienttest.Options{Latency: 5 * time.Millisecond})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", input)
	out := filepath.Join(dir, "result.csv")

	p := startTokenreg(t, bin, s.URL, "run", in, "--out", out, "--rate", "200", "--progress", "never")
	p.waitFor(t, 30*time.Second, "100 rows written", func() bool { return completeRows(out) >= 100 })
	p.mustRun(t, sig.String())
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	// The number itself: scripts and Kubernetes test for 130.
	if code := p.wait(t, 30*time.Second); code != 130 {
		t.Fatalf("after %v: exit %d, want 130. stderr:\n%s", sig, code, p.stderr.String())
	}
	if stderr := p.stderr.String(); !strings.Contains(stderr, "--resume") {
		t.Errorf("stderr does not tell how to go on (--resume):\n%s", stderr)
	}
	_, written, good, size, torn := countRows(t, out)
	if torn || good != size {
		t.Errorf("after the signal the file ends in a torn line: good %d of %d bytes, torn %v", good, size, torn)
	}
	interrupted := s.Stats()
	if int(interrupted.Requests) != written {
		t.Errorf("interrupted run sent %d requests but wrote %d rows: a graceful stop must write every row it sent", interrupted.Requests, written)
	}

	// Finish unpaced: pacing is not the point here.
	p = startTokenreg(t, bin, s.URL, "run", in, "--out", out, "--resume", "--rate", "0", "--workers", "32", "--progress", "never")
	if code := p.wait(t, 60*time.Second); code != exitOK {
		t.Errorf("resume: exit %d, want %d. stderr:\n%s", code, exitOK, p.stderr.String())
	}
	got := checkOneRowPerLine(t, out, rows)
	for line, r := range got {
		if r.Status != report.StatusOK {
			t.Errorf("line %d: %s %s %q, want ok", line, r.Status, r.Code, r.Message)
		}
	}
	stats := s.Stats()
	t.Logf("%v after %d of %d rows (%d requests); resume sent %d more; %d requests in all",
		sig, written, rows, interrupted.Requests, stats.Requests-interrupted.Requests, stats.Requests)
	if int(stats.Requests) != rows {
		t.Errorf("server saw %d requests for %d rows: a row was sent twice", stats.Requests, rows)
	}
	if double := stats.DoubleRegistrations(); len(double) > 0 {
		t.Errorf("registered twice: %v", double)
	}
}

// hangServer is a fake CENTAGATE on which the requests for user "hang"
// never end until release is closed (or the client goes away): a request
// that keeps a graceful stop waiting.
type hangServer struct {
	URL     string
	h       *clienttest.Handler
	srv     *httptest.Server
	arrived chan struct{} // gets a value when a hanging request arrives
	release chan struct{} // closed by Release
	once    sync.Once
}

func newHangServer(st clienttest.State, opts clienttest.Options) *hangServer {
	hs := &hangServer{
		h:       clienttest.NewHandler(st, opts),
		arrived: make(chan struct{}, 16),
		release: make(chan struct{}),
	}
	hs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if bytes.Contains(body, []byte(`"username":"hang"`)) {
			select {
			case hs.arrived <- struct{}{}:
			default:
			}
			select {
			case <-hs.release:
			case <-r.Context().Done():
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		hs.h.ServeHTTP(w, r)
	}))
	hs.URL = hs.srv.URL + hs.h.BasePath()
	return hs
}

// Release lets the hanging requests, and all later ones, through.
func (hs *hangServer) Release() { hs.once.Do(func() { close(hs.release) }) }

// Close releases the hanging requests and stops the server.
func (hs *hangServer) Close() {
	hs.Release()
	hs.srv.Close()
	hs.h.Close()
}

// testSecondInterruptExitsAtOnce: while a request hangs, the first SIGINT
// waits for it (up to --timeout); a second one ends the process at once,
// with exit 130 and a result file that is whole up to its last row, which
// --resume then completes.
func testSecondInterruptExitsAtOnce(t *testing.T, bin string) {
	const rows, hangLine = 400, 30
	st, input := smsBatch(rows)
	// Line hangLine's user is "hang", whose request never ends.
	lines := strings.SplitAfter(input, "\n")
	lines[hangLine-1] = "hang,+60199999999,SMS\n"
	input = strings.Join(lines, "")
	st.Users = append(st.Users, "hang")
	hs := newHangServer(st, clienttest.Options{Latency: 5 * time.Millisecond})
	defer hs.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", input)
	out := filepath.Join(dir, "result.csv")

	p := startTokenreg(t, bin, hs.URL, "run", in, "--out", out, "--rate", "200", "--timeout", "5m", "--progress", "never")
	select {
	case <-hs.arrived:
	case <-p.done:
		t.Fatalf("tokenreg ended before line %d was sent: exit %d\n%s", hangLine, p.cmd.ProcessState.ExitCode(), p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("line with user hang not sent after 30s")
	}
	p.waitFor(t, 30*time.Second, "rows after the hanging one", func() bool { return completeRows(out) >= hangLine+10 })
	p.mustRun(t, "the first SIGINT")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The first SIGINT stops the sending; the run now waits for the hanging
	// request. Wait until it has written every other row it sent and sent
	// nothing for a while: it has taken the first signal, so the second is
	// not merged with it (the kernel and the Go runtime keep one pending
	// SIGINT, not two), and no row but the hanging one is in flight.
	waitSettled(t, p, hs.h, out, 200*time.Millisecond)
	p.mustRun(t, "the second SIGINT")
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// A graceful stop would wait 5 minutes for the hanging request.
	if code := p.wait(t, 20*time.Second); code != exitInterrupted {
		t.Fatalf("after two SIGINTs: exit %d, want %d. stderr:\n%s", code, exitInterrupted, p.stderr.String())
	}
	_, written, good, size, torn := countRows(t, out)
	if torn || good != size || written == 0 {
		t.Errorf("after two SIGINTs: %d rows, good %d of %d bytes, torn %v; want whole rows", written, good, size, torn)
	}
	t.Logf("second SIGINT ended the run with %d of %d rows written, line %d hanging", written, rows, hangLine)

	hs.Release()
	p = startTokenreg(t, bin, hs.URL, "run", in, "--out", out, "--resume", "--rate", "0", "--workers", "32", "--progress", "never")
	if code := p.wait(t, 60*time.Second); code != exitOK {
		t.Errorf("resume: exit %d, want %d. stderr:\n%s", code, exitOK, p.stderr.String())
	}
	for line, r := range checkOneRowPerLine(t, out, rows) {
		if r.Status != report.StatusOK {
			t.Errorf("line %d: %s %s %q, want ok", line, r.Status, r.Code, r.Message)
		}
	}
}

// waitSettled polls until every request the server has seen has its row in
// the result file and none arrived for quiet; it fails the test if the
// requests go on for 10 s.
func waitSettled(t *testing.T, p *proc, h *clienttest.Handler, out string, quiet time.Duration) {
	t.Helper()
	last, since := h.Stats().Requests, time.Now()
	p.waitFor(t, 10*time.Second, "the run to stop sending after SIGINT", func() bool {
		n := h.Stats().Requests
		if n != last {
			last, since = n, time.Now()
		}
		return int(n) == completeRows(out) && time.Since(since) >= quiet
	})
}

// testHangupWithStderrGone: an SSH session closes while tokenreg logs to a
// pipe (`tokenreg run … 2>&1 | tee log`): the pipe's reader dies, then
// SIGHUP arrives. The run still stops gracefully (exit 130, the rows in
// flight written, no torn line) instead of dying by SIGPIPE on its next
// message, and --resume finishes it.
func testHangupWithStderrGone(t *testing.T, bin string) {
	const rows = 400
	st, input := smsBatch(rows)
	s := clienttest.NewServer(st, clienttest.Options{Latency: 5 * time.Millisecond})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", input)
	out := filepath.Join(dir, "result.csv")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startTokenregTo(t, w, bin, s.URL, "run", in, "--out", out, "--rate", "200", "--progress", "never")
	w.Close()
	p.waitFor(t, 30*time.Second, "50 rows written", func() bool { return completeRows(out) >= 50 })
	r.Close() // the session's tee is gone
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after SIGHUP")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 130 {
		t.Fatalf("SIGHUP with stderr gone: exit %d (%v), want 130", code, p.cmd.ProcessState)
	}
	_, written, good, size, torn := countRows(t, out)
	if torn || good != size {
		t.Errorf("the file ends in a torn line: good %d of %d bytes", good, size)
	}
	if n := int(s.Stats().Requests); n != written {
		t.Errorf("%d requests but %d rows written: a row in flight was lost", n, written)
	}
	p = startTokenreg(t, bin, s.URL, "run", in, "--out", out, "--resume", "--rate", "0", "--progress", "never")
	if code := p.wait(t, 60*time.Second); code != exitOK {
		t.Fatalf("resume: exit %d. stderr:\n%s", code, p.stderr.String())
	}
	checkOneRowPerLine(t, out, rows)
	if n := s.Stats().Requests; n != rows {
		t.Errorf("%d requests for %d rows", n, rows)
	}
}
