package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// testWriteFailureShowsAnswers runs tokenreg with a file size limit
// (RLIMIT_FSIZE, as a full disk or a quota would stop it): the write fails
// after some rows; the answers already received are printed on stderr
// under a banner, the result is cut back to its last whole row, and once
// the operator appends the printed rows as the banner says, --resume sends
// nothing twice and every line has one row.
func testWriteFailureShowsAnswers(t *testing.T, bin string) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) not found: cannot limit the file size")
	}
	const rows = 400
	st, input := smsBatch(rows)
	s := clienttest.NewServer(st, clienttest.Options{Latency: 2 * time.Millisecond})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", input)
	out := filepath.Join(dir, "result.csv")
	// The header and about 40 rows fit.
	p := startTokenreg(t, prlimit, s.URL, "--fsize=3000", bin, "run", in, "--out", out, "--rate", "0", "--workers", "8", "--progress", "never")
	code := p.wait(t, 60*time.Second)
	stderr := p.stderr.String()
	if code != exitUsage || !strings.Contains(stderr, "file too large") {
		t.Fatalf("disk full: exit %d, want 2 naming the write error. stderr:\n%s", code, stderr)
	}
	_, written, good, size, torn := countRows(t, out)
	if torn || good != size {
		t.Errorf("after the failure the result ends in a torn line: good %d of %d bytes", good, size)
	}
	begin := strings.Index(stderr, unsavedBanner+"\n")
	end := strings.Index(stderr, unsavedEnd+"\n")
	if begin < 0 || end < begin {
		t.Fatalf("no banner with the unsaved rows on stderr:\n%s", stderr)
	}
	block := stderr[begin+len(unsavedBanner)+1 : end]
	rr, err := report.NewReader(strings.NewReader(block))
	if err != nil {
		t.Fatalf("the unsaved rows are not a result CSV: %v\n%s", err, block)
	}
	unsaved := 0
	for {
		if _, err := rr.Read(); err != nil {
			break
		}
		unsaved++
	}
	stats := s.Stats()
	t.Logf("disk full after %d rows: %d requests, %d answered rows shown under the banner", written, stats.Requests, unsaved)
	if int(stats.Requests) != written+unsaved {
		t.Errorf("%d requests, %d rows written and %d shown: an answer was lost", stats.Requests, written, unsaved)
	}
	// The operator appends the rows (without their header) and resumes.
	_, rowsOnly, _ := strings.Cut(block, "\n")
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(rowsOnly)
	f.Close()
	before := s.Stats().Requests
	p = startTokenreg(t, bin, s.URL, "run", in, "--out", out, "--resume", "--rate", "0", "--workers", "8", "--progress", "never")
	if code := p.wait(t, 60*time.Second); code != exitOK {
		t.Fatalf("resume: exit %d, want 0. stderr:\n%s", code, p.stderr.String())
	}
	got := checkOneRowPerLine(t, out, rows)
	for line, r := range got {
		if r.Status != report.StatusOK {
			t.Errorf("line %d = %s %s %q, want ok", line, r.Status, r.Code, r.Message)
		}
	}
	stats = s.Stats()
	if sent := stats.Requests - before; int(sent) != rows-written-unsaved {
		t.Errorf("resume sent %d requests, want %d: the shown rows must not be sent again", sent, rows-written-unsaved)
	}
	if len(stats.Registrations) != rows || len(stats.DoubleRegistrations()) > 0 {
		t.Errorf("server: %d registrations, doubles %v; want %d, none", len(stats.Registrations), stats.DoubleRegistrations(), rows)
	}
}
