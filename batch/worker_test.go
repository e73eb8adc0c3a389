package batch

import (
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

// call is one request as a callLog saw it.
type call struct {
	user, sn   string
	begin, end int // positions in the log's sequence of events
	throttled  bool
}

// callLog is a Registrar that passes each request on and records, in one
// sequence of events, when it began and ended and whether it was a 429.
type callLog struct {
	next Registrar

	mu       sync.Mutex
	seq      int
	calls    []call
	inFlight int
	maxIn    int
}

func (l *callLog) Register(ctx context.Context, r client.Registration) (client.Response, error) {
	l.mu.Lock()
	l.seq++
	i := len(l.calls)
	l.calls = append(l.calls, call{user: r.Username, sn: r.TokenSn, begin: l.seq})
	l.inFlight++
	l.maxIn = max(l.maxIn, l.inFlight)
	l.mu.Unlock()
	resp, err := l.next.Register(ctx, r)
	var te *client.TransportError
	l.mu.Lock()
	l.seq++
	l.calls[i].end = l.seq
	l.calls[i].throttled = errors.As(err, &te) && te.StatusCode == 429
	l.inFlight--
	l.mu.Unlock()
	return resp, err
}

// TestRowSleepingBeforeRetryHoldsNoSlot runs with one request slot against
// a server that answers 429 with Retry-After: 1 to a fifth of the
// requests: while a throttled row sleeps, the other rows must use the slot.
// With the slot held through the sleep, nothing would be sent meanwhile.
// Rows of one user (whatever the case of the name) must still never be in
// flight together and go out in file order, retries included.
func TestRowSleepingBeforeRetryHoldsNoSlot(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds of real waits); make test runs it")
	}
	const rows = 40
	var st clienttest.State
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	// 20 users of two rows each, some spelt in two cases; the server
	// knows every spelling.
	for i := range rows {
		u := fmt.Sprintf("u%d", i%(rows/2))
		if i%3 == 0 {
			u = strings.ToUpper(u)
		}
		st.Users = append(st.Users, u)
		fmt.Fprintf(&b, "%s,+6013%08d,SMS\n", u, i)
	}
	s := clienttest.NewServer(st, clienttest.Options{Faults: []clienttest.Fault{clienttest.Fault429}, FaultRate: 0.2, Seed: 3})
	defer s.Close()
	log := &callLog{next: newClient(t, s, 5*time.Second, false)}
	got, err := runCSV(t, context.Background(), b.String(), Config{
		Registrar: log, Workers: 1, Attempts: 20, AbortAfter: 0,
		Backoff: Backoff{Base: time.Millisecond, Max: time.Millisecond},
	}, nil)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	for line := 2; line < 2+rows; line++ {
		if r := got[line]; r.Status != report.StatusOK {
			t.Errorf("line %d: %s %s %q, want ok", line, r.Status, r.Code, r.Message)
		}
	}
	if log.maxIn > 1 {
		t.Errorf("%d requests in flight at once, want at most --workers 1", log.maxIn)
	}
	// Requests sent by other rows while a throttled row waited for its
	// retry.
	throttled, overtaken := 0, 0
	for i, c := range log.calls {
		if !c.throttled {
			continue
		}
		throttled++
		for _, d := range log.calls[i+1:] {
			if d.sn == c.sn {
				break // the retry
			}
			overtaken++
		}
	}
	t.Logf("%d requests for %d rows, %d answered 429; %d requests of other rows went out while throttled rows slept", len(log.calls), rows, throttled, overtaken)
	if throttled == 0 {
		t.Fatal("no request was answered 429: the test proves nothing")
	}
	if overtaken == 0 {
		t.Errorf("no request went out while a throttled row slept: the sleeping row holds the only request slot")
	}
	checkUserOrder(t, log.calls, b.String())
}

// checkUserOrder checks that the calls of each user, names compared
// without case, never overlap and follow the input's order: a row's
// retries come before the next row of its user is first sent.
func checkUserOrder(t *testing.T, calls []call, input string) {
	t.Helper()
	line := map[string]int{} // serial -> position in the input
	for i, l := range strings.Split(input, "\n") {
		if f := strings.Split(l, ","); len(f) == 3 {
			line[f[1]] = i
		}
	}
	last := map[string]call{}
	for _, c := range calls {
		u := strings.ToLower(c.user)
		prev, seen := last[u]
		last[u] = c
		if !seen {
			continue
		}
		if c.begin < prev.end {
			t.Errorf("user %s: %s sent while %s was in flight", u, c.sn, prev.sn)
		}
		if line[c.sn] < line[prev.sn] {
			t.Errorf("user %s: %s (input line %d) sent after %s (line %d), want file order", u, c.sn, line[c.sn]+1, prev.sn, line[prev.sn]+1)
		}
	}
}

func TestDefaultWorkers(t *testing.T) {
	tests := []struct {
		rate float64
		want int
	}{
		{0, 16}, {1, 4}, {10, 4}, {20, 4}, {21, 5}, {100, 20}, {320, 64}, {5000, 64},
	}
	for _, tt := range tests {
		if got := DefaultWorkers(tt.rate); got != tt.want {
			t.Errorf("DefaultWorkers(%v) = %d, want %d", tt.rate, got, tt.want)
		}
	}
}
