package batch

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// fakeClock is a pacer's clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// step is one event of a pacer script: advance the clock, then throttle
// (a 429) or answer (any other answer), then expect a limit.
type step struct {
	after     time.Duration
	throttled bool
	want      rate.Limit
}

func runSteps(t *testing.T, p *pacer, clk *fakeClock, steps []step) {
	t.Helper()
	for i, s := range steps {
		clk.advance(s.after)
		what := "Answered"
		if s.throttled {
			what = "Throttled"
			p.Throttled()
		} else {
			p.Answered()
		}
		got := p.Limit()
		if math.Abs(float64(got-s.want)) > 1e-9 {
			t.Fatalf("step %d (+%v %s): Limit() = %v, want %v", i, s.after, what, got, s.want)
		}
		if lim := p.lim.Limit(); math.Abs(float64(lim-got*margin)) > 1e-9 {
			t.Fatalf("step %d: the limiter runs at %v, want %v × the pacer's %v", i, lim, margin, got)
		}
	}
}

func TestPacerAIMD(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		steps []step
	}{
		{"answers at full rate change nothing", 100, []step{
			{0, false, 100}, {time.Second, false, 100}, {time.Hour, false, 100},
		}},
		{"429 cuts by 0.8", 100, []step{
			{0, true, 80},
		}},
		{"at most one cut per second", 100, []step{
			{0, true, 80},
			{0, true, 80},
			{500 * time.Millisecond, true, 80},
			{499 * time.Millisecond, true, 80},
			{time.Millisecond, true, 64}, // one second after the first cut
			{999 * time.Millisecond, true, 64},
			{time.Millisecond, true, 51.2},
		}},
		{"raise 2% of the configured rate per second", 100, []step{
			{0, true, 80},
			{500 * time.Millisecond, false, 80}, // under a second since the cut
			{500 * time.Millisecond, false, 82},
			{0, false, 82},
			{999 * time.Millisecond, false, 82},
			{time.Millisecond, false, 84},
			{3 * time.Second, false, 90}, // three whole seconds at once
		}},
		{"the raise is 2% of the configured rate, not of the current one", 200, []step{
			{0, true, 160}, {time.Second, true, 128}, {time.Second, true, 102.4},
			{time.Second, false, 106.4},
		}},
		{"never above the configured rate", 100, []step{
			{0, true, 80},
			{9 * time.Second, false, 98},
			{time.Second, false, 100},
			{time.Second, false, 100},
			{time.Hour, false, 100},
			{0, true, 80}, // and a new cut starts from it
		}},
		{"a long quiet spell returns to the configured rate at once", 50, []step{
			{0, true, 40}, {time.Hour, false, 50},
		}},
		{"a cut also restarts the raise clock", 100, []step{
			{0, true, 80},
			{time.Second, false, 82},
			{0, true, 65.6},
			{500 * time.Millisecond, false, 65.6}, // under a second since the cut
			{499 * time.Millisecond, false, 65.6},
			{time.Millisecond, false, 67.6},
		}},
		{"never below the floor", 1, []step{
			{0, true, 0.8}, {time.Second, true, 0.64}, {time.Second, true, 0.512},
			{time.Second, true, minRate}, {time.Second, true, minRate},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			p := newPacer(tt.rate, 1, clk.now)
			runSteps(t, p, clk, tt.steps)
		})
	}
}

// waitAt lets n requests through an unlimited pacer, every gap apart.
func waitAt(t *testing.T, p *pacer, clk *fakeClock, n int, gap time.Duration) {
	t.Helper()
	for range n {
		if err := p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.advance(gap)
	}
}

func TestPacerUnlimitedBecomesFiniteOn429(t *testing.T) {
	clk := newFakeClock()
	p := newPacer(0, 1, clk.now)
	startPacer(t, p)
	if p.Limit() != rate.Inf {
		t.Fatalf("rate 0: Limit() = %v, want unlimited", p.Limit())
	}
	p.Answered() // nothing to raise
	if p.Limit() != rate.Inf {
		t.Fatalf("after Answered: Limit() = %v, want unlimited", p.Limit())
	}
	// Two seconds at 250 requests per second, then the server's first 429.
	waitAt(t, p, clk, 500, 4*time.Millisecond)
	p.Throttled()
	const want = 0.8 * 250
	if got := float64(p.Limit()); math.Abs(got-want) > 0.05*want {
		t.Fatalf("first 429 after 250/s: Limit() = %v, want about %v (0.8 × the achieved rate)", got, want)
	}
	if lim := p.lim.Limit(); math.Abs(float64(lim-p.Limit()*margin)) > 1e-9 {
		t.Fatalf("the limiter runs at %v, the pacer says %v", lim, p.Limit())
	}
	// From there, AIMD as usual: one cut per second, and the raise never
	// makes it unlimited again.
	cut := p.Limit()
	clk.advance(500 * time.Millisecond)
	p.Throttled()
	if p.Limit() != cut {
		t.Errorf("second 429 within a second: Limit() = %v, want %v", p.Limit(), cut)
	}
	clk.advance(time.Hour)
	p.Answered()
	if got := p.Limit(); got == rate.Inf || got <= cut {
		t.Errorf("an hour after the cut: Limit() = %v, want finite and above %v", got, cut)
	}
}

// TestPacerUnlimitedFirst429EarlyInTheRun is the common case of --rate 0
// against a rate-limited server: the first 429 comes within the run's first
// second, before a whole window was counted. The cut must still start from
// the achieved rate, not from the number of requests so far.
func TestPacerUnlimitedFirst429EarlyInTheRun(t *testing.T) {
	clk := newFakeClock()
	p := newPacer(0, 1, clk.now)
	startPacer(t, p)
	// 100 ms at 500 requests per second, then the first 429.
	waitAt(t, p, clk, 50, 2*time.Millisecond)
	p.Throttled()
	const want = 0.8 * 500
	if got := float64(p.Limit()); math.Abs(got-want) > 0.1*want {
		t.Errorf("first 429 after 100 ms at 500/s: Limit() = %v, want about %v (0.8 × the achieved rate); "+
			"recovering from %v at +2%% a second would take minutes", got, want, got)
	}
}

// TestRunSettlesUnderServerLimit runs a job configured at twice the
// server's limit: the AIMD pace must keep the 429s to a small share of the
// requests, and every row must still end ok.
func TestRunSettlesUnderServerLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 6s: 500 rows at the server's 100/s")
	}
	const rows = 500
	st := clienttest.State{}
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range rows {
		u := fmt.Sprintf("u%04d", i)
		st.Users = append(st.Users, u)
		fmt.Fprintf(&b, "%s,+6012%08d,SMS\n", u, i)
	}
	s := clienttest.NewServer(st, clienttest.Options{RateLimit: 100})
	defer s.Close()
	got, err := runCSV(t, context.Background(), b.String(), Config{
		Registrar: newClient(t, s, 5*time.Second, false),
		Rate:      200, Burst: 1, Workers: 8, Attempts: 10, AbortAfter: 0,
		Backoff: Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond},
	}, nil)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(got) != rows {
		t.Errorf("%d result rows, want %d", len(got), rows)
	}
	for line, r := range got {
		if r.Status != report.StatusOK {
			t.Errorf("line %d: %s %s %s after %d attempts, want ok", line, r.Status, r.Code, r.Message, r.Attempts)
		}
	}
	stats := s.Stats()
	throttled := stats.HTTPStatus[429]
	share := float64(throttled) / float64(stats.Requests)
	elapsed := stats.LastRequest.Sub(stats.FirstRequest)
	t.Logf("%d requests for %d rows, %d answered 429 (%.1f%%); %.0f requests/s over %v",
		stats.Requests, rows, throttled, 100*share, stats.Rate, elapsed.Round(time.Millisecond))
	if share > 0.10 {
		t.Errorf("429 share = %.1f%% (%d of %d requests), want ≤ 10%%: the pace does not back off", 100*share, throttled, stats.Requests)
	}
	if double := stats.DoubleRegistrations(); len(double) > 0 {
		t.Errorf("registered twice: %v", double)
	}
}

// startPacer runs p's token loop for the test's lifetime: a pacer that
// turns finite hands its tokens out from it.
func startPacer(t *testing.T, p *pacer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}
