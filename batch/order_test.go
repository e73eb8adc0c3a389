package batch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// inOrderServer is a Registrar that answers a request only once the
// request of every row above it in the file has reached it. A pipeline
// that sends rows in file order up to its concurrency never waits on it
// for long: the rows above a request are out already, or about to be. One
// that holds a row back while later ones go out stalls: after patience,
// the server notes the stall, answers, and stops waiting from then on.
type inOrderServer struct {
	pos      map[string]int // token serial -> position in the file
	patience time.Duration

	mu      sync.Mutex
	arrived []bool
	lowest  int           // the first position not arrived yet
	changed chan struct{} // closed at each arrival
	order   []int         // positions, in order of arrival
	stall   string        // the first stall; then the server waits no more
}

func newInOrderServer(serials []string, patience time.Duration) *inOrderServer {
	s := &inOrderServer{pos: map[string]int{}, patience: patience, arrived: make([]bool, len(serials)), changed: make(chan struct{})}
	for i, sn := range serials {
		s.pos[sn] = i
	}
	return s
}

func (s *inOrderServer) Register(ctx context.Context, r client.Registration) (client.Response, error) {
	s.mu.Lock()
	p := s.pos[r.TokenSn]
	s.arrived[p] = true
	s.order = append(s.order, p)
	for s.lowest < len(s.arrived) && s.arrived[s.lowest] {
		s.lowest++
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	timer := time.NewTimer(s.patience)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if s.lowest > p || s.stall != "" {
			s.mu.Unlock()
			return client.Response{Code: "0", Message: "Success"}, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			s.mu.Lock()
			if s.stall == "" {
				s.stall = fmt.Sprintf("row %d (request %d) waited %v for row %d, which had not reached the server; first requests (rows): %v",
					p+1, len(s.order), s.patience, s.lowest+1, plusOne(s.order[:min(12, len(s.order))]))
			}
			s.mu.Unlock()
		}
	}
}

func plusOne(xs []int) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = x + 1
	}
	return out
}

// TestRowsGoOutInFileOrder checks that, without retries, rows reach the
// server in file order up to the concurrency: the canary of --limit N sends
// the first N rows, and a stop leaves a prefix of the file done. Against a
// server that answers a request only once every row above it has arrived,
// a row may arrive at most W-1 places from its place in the file, with W
// requests in flight: the rows above it that have not arrived are out in
// the other W-1 slots, and each of those slots can send at most one row
// below it before it arrives (that row's answer waits for it).
func TestRowsGoOutInFileOrder(t *testing.T) {
	for _, workers := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			const rows = 200
			var b strings.Builder
			b.WriteString("username,tokenSn,tokenType\n")
			serials := make([]string, rows)
			for i := range rows {
				serials[i] = fmt.Sprintf("SN%04d", i)
				fmt.Fprintf(&b, "user%d,%s,OTP\n", i, serials[i])
			}
			srv := newInOrderServer(serials, 5*time.Second)
			got, err := runCSV(t, context.Background(), b.String(), Config{Registrar: srv, Workers: workers}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != rows || len(srv.order) != rows {
				t.Fatalf("%d result rows, %d requests; want %d of each", len(got), len(srv.order), rows)
			}
			if srv.stall != "" {
				t.Errorf("a row was held back while later rows went out: %s", srv.stall)
			}
			worst, worstAt := 0, 0
			for at, p := range srv.order {
				if d := abs(at - p); d > worst {
					worst, worstAt = d, at
				}
			}
			t.Logf("largest distance between a row's place in the file and its arrival: %d (row %d was request %d)", worst, srv.order[worstAt]+1, worstAt+1)
			if worst > workers-1 {
				t.Errorf("row %d was request %d: more than --workers-1 = %d places from its place in the file",
					srv.order[worstAt]+1, worstAt+1, workers-1)
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
