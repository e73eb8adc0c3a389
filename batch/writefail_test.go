package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// failAfter is a result file on a disk that fills up after n writes (the
// header is one).
type failAfter struct {
	buf bytes.Buffer
	n   int
}

var errDiskFull = errors.New("no space left on device")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errDiskFull
	}
	f.n--
	return f.buf.Write(p)
}

// TestWriteFailureKeepsAnswers: when the result cannot be written, the rows
// answered after the failure (and the one that failed) come back in
// Outcome.Unsaved, so that no answer the server gave is lost: the written
// rows and the unsaved ones together hold every request that was sent.
func TestWriteFailureKeepsAnswers(t *testing.T) {
	const rows = 200
	st, input := smsInventory(rows)
	s := clienttest.NewServer(st, clienttest.Options{Latency: time.Millisecond})
	defer s.Close()
	out := &failAfter{n: 1 + 20} // the header, then 20 rows
	w := report.NewWriter(out)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader("in.csv", strings.NewReader(input), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := Run(context.Background(), rd, w, report.NewSummary(time.Now()), Config{Registrar: newClient(t, s, time.Second, false), Workers: 8})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Run = %v, want the write error", err)
	}
	written := parseResults(t, out.buf.Bytes())
	if len(written) != 20 {
		t.Errorf("%d rows written, want 20", len(written))
	}
	seen := map[int]bool{}
	for line := range written {
		seen[line] = true
	}
	for _, r := range o.Unsaved {
		if seen[r.Line] {
			t.Errorf("line %d is both written and unsaved", r.Line)
		}
		seen[r.Line] = true
		if r.Status != report.StatusOK || r.Attempts != 1 {
			t.Errorf("unsaved line %d = %s after %d attempts, want ok after 1", r.Line, r.Status, r.Attempts)
		}
	}
	stats := s.Stats()
	if int(stats.Requests) != len(seen) {
		t.Errorf("server saw %d requests; %d rows written and %d unsaved: an answer was lost", stats.Requests, len(written), len(o.Unsaved))
	}
	if len(o.Unsaved) == 0 {
		t.Error("no unsaved rows: the failing write's own row must be among them")
	}
	t.Logf("%d rows, disk full after 20: %d requests, %d unsaved rows shown, %d never sent", rows, stats.Requests, len(o.Unsaved), o.Unsent)
}

// failingLedger records nothing: its disk is full.
type failingLedger struct {
	mu      sync.Mutex
	intents map[string]bool
}

func (l *failingLedger) Lookup(context.Context, string, client.TokenType, string) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

func (l *failingLedger) Intent(_ context.Context, u string, _ client.TokenType, sn string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.intents[u+"/"+sn] = true
	return false, nil
}

func (l *failingLedger) Record(context.Context, string, client.TokenType, string, time.Time, bool) error {
	return errors.New("database or disk is full")
}

func (l *failingLedger) Forget(_ context.Context, u string, _ client.TokenType, sn string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.intents, u+"/"+sn)
	return nil
}

// TestLedgerRecordFailureWritesNoOK: a success the ledger cannot record
// must not get its ok row (SPEC §5a: recorded before written), or the next
// nightly run would send it again; its answer is shown instead (Unsaved).
func TestLedgerRecordFailureWritesNoOK(t *testing.T) {
	st, input := smsInventory(30)
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	var buf bytes.Buffer
	lg := &failingLedger{intents: map[string]bool{}}
	rd, err := NewReader("in.csv", strings.NewReader(input), ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := report.NewWriter(&buf)
	w.WriteHeader()
	o, err := Run(context.Background(), rd, w, report.NewSummary(time.Now()), Config{Registrar: newClient(t, s, time.Second, false), Workers: 4, Ledger: lg})
	if err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("Run = %v, want the ledger's error", err)
	}
	for line, r := range parseResults(t, buf.Bytes()) {
		if r.Status == report.StatusOK {
			t.Errorf("line %d written ok although the ledger could not record it", line)
		}
	}
	if len(o.Unsaved) == 0 || o.Unsaved[0].Status != report.StatusOK {
		t.Errorf("Unsaved = %v, want the ok rows the ledger refused", o.Unsaved)
	}
	if n := int(s.Stats().Requests); n != len(o.Unsaved) {
		t.Errorf("%d requests, %d unsaved rows: an answer was lost", n, len(o.Unsaved))
	}
}

// smsInventory is n SMS rows for n users the server knows.
func smsInventory(n int) (clienttest.State, string) {
	var st clienttest.State
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range n {
		u := fmt.Sprintf("user%d", i)
		st.Users = append(st.Users, u)
		fmt.Fprintf(&b, "%s,+6013%08d,SMS\n", u, i)
	}
	return st, b.String()
}

// TestStopForgetsUnsentIntents: on a graceful stop, the intents of rows
// that were never sent are dropped, so that a later run does not take a
// genuine conflict for a lost success; rows that were sent keep theirs
// until their outcome is recorded or refused.
func TestStopForgetsUnsentIntents(t *testing.T) {
	st, input := smsInventory(40)
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	lg := &memLedger{intents: map[string]bool{}, recorded: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &cancelAfter{Registrar: newClient(t, s, time.Second, false), n: 3, cancel: cancel}
	// A slow pace keeps workers waiting with their intent noted.
	got, err := runCSV(t, ctx, input, Config{Registrar: c, Workers: 4, Rate: 20, Ledger: lg}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	lg.mu.Lock()
	defer lg.mu.Unlock()
	if len(lg.intents) != 0 {
		t.Errorf("intents left after a graceful stop: %v (want none: every row was either answered or never sent)", lg.intents)
	}
	if len(lg.recorded) != len(got) || int(s.Stats().Requests) != len(got) {
		t.Errorf("%d recorded, %d written, %d requests: want equal", len(lg.recorded), len(got), s.Stats().Requests)
	}
}

// memLedger is a ledger in memory.
type memLedger struct {
	mu       sync.Mutex
	intents  map[string]bool
	recorded map[string]bool
	lost     map[string]bool
}

func (l *memLedger) Lookup(_ context.Context, u string, _ client.TokenType, sn string) (time.Time, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Time{}, l.recorded[u+"/"+sn], nil
}

func (l *memLedger) Intent(_ context.Context, u string, _ client.TokenType, sn string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.intents[u+"/"+sn] = true
	return false, nil
}

func (l *memLedger) Record(_ context.Context, u string, _ client.TokenType, sn string, _ time.Time, lost bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.intents, u+"/"+sn)
	l.recorded[u+"/"+sn] = true
	if lost {
		if l.lost == nil {
			l.lost = map[string]bool{}
		}
		l.lost[u+"/"+sn] = true
	}
	return nil
}

func (l *memLedger) Forget(_ context.Context, u string, _ client.TokenType, sn string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.intents, u+"/"+sn)
	return nil
}

// TestStoppedResumeKeepsEveryLine: a resume that stops before it has sent
// every error row again gives each such line its row back (one row per
// line at every moment a run is not writing), keeping what the earlier row
// knew: the request may have been applied.
func TestStoppedResumeKeepsEveryLine(t *testing.T) {
	const rows = 100
	st, input := smsInventory(rows)
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	// The earlier result: every row an error whose request may have been
	// applied.
	var prev bytes.Buffer
	w := report.NewWriter(&prev)
	w.WriteHeader()
	rd, _ := NewReader("in.csv", strings.NewReader(input), ReaderOptions{})
	for i := range rows {
		row, err := rd.Read()
		if err != nil {
			t.Fatal(err)
		}
		o := outcome{Result: row.Result(report.StatusError, "no valid answer after 5 attempt(s): read body: EOF"), unknown: true}
		o.Attempts = 5
		if err := w.Write(o.result()); err != nil {
			t.Fatal(i, err)
		}
	}
	// The resume's rewrite keeps none of them.
	rs, _, _, err := LoadResume("prev", bytes.NewReader(prev.Bytes()), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	c := &cancelAfter{Registrar: newClient(t, s, time.Second, false), n: 5, cancel: cancel}
	got, err := runCSV(t, ctx, input, Config{Registrar: c, Workers: 2, Resume: rs}, &out)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if len(got) != rows {
		t.Fatalf("%d rows after the stopped resume, want %d (one per line)", len(got), rows)
	}
	carried := 0
	for line, r := range got {
		switch {
		case r.Attempts > 0:
			// The earlier attempts were never applied on this server.
			if r.Status != report.StatusOK {
				t.Errorf("line %d = %s %q, want ok", line, r.Status, r.Message)
			}
		case r.Status == report.StatusError && strings.HasSuffix(r.Message, unknownNote):
			carried++
		default:
			t.Errorf("line %d = %s %q, want a carried error row that says the outcome is unknown", line, r.Status, r.Message)
		}
	}
	t.Logf("%d rows sent again before the stop, %d carried", rows-carried, carried)
}
