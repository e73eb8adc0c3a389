package batch

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// phase is a stretch of answers shown to a control: n answers spread evenly
// over the phase's length, every each-th of them a 429 (0: none, 1: all),
// to requests sent in the current epoch or, if stale, in the one before.
type phase struct {
	n     int
	over  time.Duration
	each  int
	stale bool
}

// play shows the phases to c, from c.start on, and returns it with the
// time the last phase ended.
func play(c control, t time.Time, phases ...phase) (control, time.Time) {
	for _, ph := range phases {
		begin := t
		for i := 1; i <= ph.n; i++ {
			t = begin.Add(ph.over * time.Duration(i) / time.Duration(ph.n))
			sent := c.epoch
			if ph.stale {
				sent--
			}
			c = c.observe(t, sent, ph.each > 0 && i%ph.each == 0)
		}
		if ph.n == 0 {
			t = begin.Add(ph.over)
		}
	}
	return c, t
}

var t0 = time.Unix(1_800_000_000, 0)

func TestControl(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name      string
		rate      float64
		phases    []phase
		wantPace  float64
		wantCuts  uint64
		tolerance float64 // relative; 0 = exact
	}{
		{"no 429s: the configured rate stays", 100,
			[]phase{{n: 1000, over: 10 * time.Second}}, 100, 0, 0},
		{"no 429s, unlimited: stays unlimited", 0,
			[]phase{{n: 20000, over: 10 * time.Second}}, inf, 0, 0},
		{"a stray 1% of 429s is noise, at 1600/s", 0,
			[]phase{{n: 96000, over: 60 * time.Second, each: 100}}, inf, 0, 0},
		{"a stray 1% of 429s is noise, at 100/s", 100,
			[]phase{{n: 6000, over: 60 * time.Second, each: 100}}, 100, 0, 0},
		{"9 429s of 10 answers: not yet a limit (fewer than 10 at once, under a second)", 100,
			[]phase{{n: 1, over: time.Millisecond}, {n: 9, over: 90 * time.Millisecond, each: 1}}, 100, 0, 0},
		{"10 429s that are a quarter of 40 answers: cut at once", 100,
			// 30 answers, then 10 429s, over 400 ms: 100 sent a second, 75
			// accepted; the cut goes to 0.9 × 75.
			[]phase{{n: 30, over: 300 * time.Millisecond}, {n: 10, over: 100 * time.Millisecond, each: 1}}, 67.5, 1, 1e-9},
		{"10 429s of 41 answers: under a quarter, no cut within the second", 100,
			[]phase{{n: 31, over: 310 * time.Millisecond}, {n: 10, over: 100 * time.Millisecond, each: 1}}, 100, 0, 0},
		{"after a second, 5 429s that are 5% of the answers: cut", 100,
			// 100 answers over one second, the 20th, 40th, ... 100th a 429:
			// accepted 95 a second, cut to 0.9 × 95.
			[]phase{{n: 100, over: time.Second, each: 20}}, 85.5, 1, 1e-9},
		{"after a second, 5 429s that are under 5%: no cut", 100,
			[]phase{{n: 101, over: 101 * 10 * time.Millisecond, each: 21}}, 100, 0, 0},
		{"after a second, 4 429s that are 10%: not enough of them yet", 100,
			[]phase{{n: 40, over: 4 * time.Second, each: 10}}, 100, 0, 0},
		{"a cut is at most once per epoch: answers to requests sent before it do not count", 100,
			[]phase{
				{n: 30, over: 300 * time.Millisecond}, {n: 10, over: 100 * time.Millisecond, each: 1}, // cut to 67.5
				{n: 100, over: 100 * time.Millisecond, each: 1, stale: true}, // in flight before the cut
			}, 67.5, 1, 1e-9},
		{"a cut keeps at least a quarter of the pace", 0,
			// 1600 answers a second, then all 429s: 10 of 10 in 6 ms.
			[]phase{{n: 1600, over: time.Second}, {n: 10, over: 6250 * time.Microsecond, each: 1}}, 1600.0 / 4, 1, 0.01},
		{"unlimited, the first cut starts from the rate achieved", 0,
			// A clean second at 400 answers a second, then every other
			// answer a 429: the 10th comes 50 ms on, 200 accepted a second.
			[]phase{{n: 400, over: time.Second}, {n: 20, over: 50 * time.Millisecond, each: 2}}, 0.9 * 200, 1, 1e-9},
		{"never below the floor", 1,
			[]phase{
				{n: 5, over: 5 * time.Second, each: 1}, {n: 5, over: 5 * time.Second, each: 1},
				{n: 5, over: 5 * time.Second, each: 1}, {n: 5, over: 5 * time.Second, each: 1},
			}, minRate, 4, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := play(newControl(tt.rate, t0), t0, tt.phases...)
			if c.epoch != tt.wantCuts {
				t.Errorf("cuts = %d, want %d (pace %v)", c.epoch, tt.wantCuts, c.cur)
			}
			ok := c.cur == tt.wantPace || math.Abs(c.cur-tt.wantPace) <= tt.tolerance*tt.wantPace
			if !ok {
				t.Errorf("pace = %v, want %v", c.cur, tt.wantPace)
			}
		})
	}
}

// TestControlRecovery follows the pace after a cut: back quickly to the
// rate the server accepted, then up by 2% of --rate a second, never above it.
func TestControlRecovery(t *testing.T) {
	c := newControl(100, t0)
	// A second of 100 answers, every other one a 429: at 50% the cut comes
	// with the 10th 429 (the 20th answer, 200 ms in), to 0.9 × 50 accepted
	// a second, and the server's 50 a second is the rate to recover to.
	c, at := play(c, t0, phase{n: 20, over: 200 * time.Millisecond, each: 2})
	if c.epoch != 1 || math.Abs(c.cur-45) > 1e-9 || math.Abs(c.good-50) > 1e-9 {
		t.Fatalf("after 50%% of 429s: epoch %d, pace %v, good %v; want 1, 45, 50", c.epoch, c.cur, c.good)
	}
	// Clean seconds at the pace: the first is within 5% of 50 after one
	// halving (47.5), then 2% of 50 a second, twice that the next second,
	// and so on; past 50, 2% of the pace.
	want := []float64{47.5, 48.5, 50.5, 50.5 + 0.02*50.5*3}
	for i, w := range want {
		c, at = play(c, at, phase{n: int(c.cur), over: time.Second})
		if math.Abs(c.cur-w) > 0.1 {
			t.Fatalf("clean second %d: pace %v, want %v", i+1, c.cur, w)
		}
	}
	// A pace the workers do not use is not raised.
	before := c.cur
	c, at = play(c, at, phase{n: 10, over: time.Second})
	if c.cur != before {
		t.Errorf("a second of 10 answers at a pace of %v: raised to %v, want unchanged", before, c.cur)
	}
	// Never above --rate, however long it runs clean.
	for range 40 {
		c, at = play(c, at, phase{n: int(c.cur), over: time.Second})
	}
	if c.cur != 100 {
		t.Errorf("after 40 clean seconds: pace %v, want the configured 100", c.cur)
	}
}

// TestControlSettlesUnderLimit drives the control against a simulated
// server limit: a token bucket of 100 a second answering 429 beyond it, the
// requests sent at the pace. Within a few seconds the pace must sit under
// the limit, and the 429s must be a small share of the answers.
func TestControlSettlesUnderLimit(t *testing.T) {
	for _, rate := range []float64{0, 200, 1000} {
		t.Run(fmt.Sprint("rate ", rate), func(t *testing.T) {
			const limit = 100.0
			c := newControl(rate, t0)
			bucket, at := limit/10, t0
			var throttled, answered int
			var late []float64
			for at.Before(t0.Add(60 * time.Second)) {
				pace := min(c.cur, 1600) // --rate 0: what 16 workers reach
				gap := time.Duration(float64(time.Second) / pace)
				at = at.Add(gap)
				bucket = min(bucket+limit*gap.Seconds(), limit/10)
				is429 := bucket < 1
				if !is429 {
					bucket--
				}
				answered++
				if is429 {
					throttled++
				}
				c = c.observe(at, c.epoch, is429)
				if at.After(t0.Add(10 * time.Second)) {
					late = append(late, c.cur)
				}
			}
			share := float64(throttled) / float64(answered)
			t.Logf("%d answers, %d 429s (%.1f%%), %d cuts, pace at the end %.1f", answered, throttled, 100*share, c.epoch, c.cur)
			if share > 0.05 {
				t.Errorf("429 share = %.1f%%, want ≤ 5%% over a minute", 100*share)
			}
			lo, hi := slices.Min(late), slices.Max(late)
			if lo < 0.7*limit || hi > 1.25*limit {
				t.Errorf("after 10 s the pace ranged %.1f..%.1f, want within 70..125 (the server's limit is %v)", lo, hi, limit)
			}
		})
	}
}

// TestPacerLetsBurstThrough checks the token bucket's edge: --burst B lets
// exactly B requests through at once, and the next one waits for the pace.
func TestPacerLetsBurstThrough(t *testing.T) {
	for _, burst := range []int{1, 3} {
		t.Run(fmt.Sprint("burst ", burst), func(t *testing.T) {
			// One request an hour: after the burst nothing else can pass
			// while the test runs, however slow the machine.
			p := newPacer(1.0/3600, burst, time.Now)
			startPacer(t, p)
			for i := range burst {
				if _, err := p.Wait(context.Background()); err != nil {
					t.Fatalf("request %d of the burst: %v", i+1, err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := p.Wait(ctx); err == nil {
				t.Errorf("request %d passed at once, want it to wait: --burst %d lets %d through", burst+1, burst, burst)
			}
		})
	}
}

// currentPace is p's pace in requests per second, +Inf while unlimited.
func currentPace(p *pacer) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.c.cur
}

func TestPacerUnlimitedBecomesFiniteOnLimit(t *testing.T) {
	now := t0
	p := newPacer(0, 1, func() time.Time { return now })
	startPacer(t, p)
	if cur := currentPace(p); !math.IsInf(cur, 1) || !p.unpaced.Load() {
		t.Fatalf("rate 0: pace = %v, want unlimited", cur)
	}
	// 100 ms at 2,000 answers a second, the server throttling half from
	// 50 ms on.
	var tk ticket
	for i := range 200 {
		now = now.Add(500 * time.Microsecond)
		var err error
		if tk, err = p.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		p.Observe(tk, i >= 100 && i%2 == 0)
	}
	got := currentPace(p)
	if math.IsInf(got, 1) || p.unpaced.Load() {
		t.Fatalf("after half 429s: pace = %v, want finite", got)
	}
	if want := 0.9 * 1500.0; math.Abs(got-want) > 0.05*want {
		t.Errorf("pace = %v, want about %v (0.9 × the rate accepted)", got, want)
	}
	if lim := p.lim.Limit(); math.Abs(float64(lim)-got*margin) > 1e-6 {
		t.Errorf("the limiter runs at %v, want %v × the pace %v", lim, margin, got)
	}
	if next, _ := p.Wait(context.Background()); next != 1 {
		t.Errorf("Wait after the cut returns epoch %d, want 1: answers to requests sent before it would count", next)
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
