package batch

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer is the run's single rate limiter with additive-increase,
// multiplicative-decrease on HTTP 429, so that a job configured above the
// server's limit settles just under it. Safe for concurrent use.
type pacer struct {
	lim    *rate.Limiter // runs at cur·margin
	max    rate.Limit    // the configured --rate; rate.Inf for unlimited
	now    func() time.Time
	tokens chan struct{}

	mu        sync.Mutex
	cur       rate.Limit
	lastCut   time.Time // last multiplicative decrease
	lastRaise time.Time // last additive increase
	// window counts the requests let through in the current second, to know
	// the achieved rate when an unlimited run meets its first 429.
	winStart time.Time
	winCount int
	lastRate float64
}

const (
	cutFactor = 0.8             // multiplicative decrease on 429
	cutEvery  = time.Second     // at most one decrease per this period
	raiseStep = 0.02            // additive increase per second, as a share of the starting rate
	minRate   = rate.Limit(0.5) // never slower than one request per two seconds
)

// margin is how far under the target the limiter runs: the server sees
// requests after a variable delay (scheduling, the network), and a request
// that comes late lets the next window hold one more than the pace; 1% of
// room keeps every window within rate + burst while the achieved rate stays
// within the 2% that SPEC §7 allows.
const margin = 0.99

func newPacer(perSecond float64, burst int, now func() time.Time) *pacer {
	lim := rate.Limit(perSecond)
	if perSecond <= 0 {
		lim = rate.Inf
	}
	if burst < 1 {
		burst = 1
	}
	return &pacer{lim: rate.NewLimiter(lim*margin, burst), max: lim, cur: lim, now: now, tokens: make(chan struct{})}
}

// run hands out the pace's tokens one at a time until ctx ends; the owner
// starts it once and waits for it to return. A token waits for a worker
// (the channel is unbuffered), so after a stall the workers cannot fire a
// queue of reserved slots at once, as they would waiting on rate.Limiter
// each; and the limiter counts the time a token waits toward the next one,
// so the pace loses nothing to the hand-off.
func (p *pacer) run(ctx context.Context) {
	for {
		if err := p.lim.Wait(ctx); err != nil {
			return
		}
		select {
		case p.tokens <- struct{}{}:
		case <-ctx.Done():
			return
		}
	}
}

// Wait blocks until the pace lets one more request go, or ctx ends.
func (p *pacer) Wait(ctx context.Context) error {
	if p.lim.Limit() != rate.Inf {
		select {
		case <-p.tokens:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	t := p.now()
	if t.Sub(p.winStart) >= time.Second {
		if !p.winStart.IsZero() {
			p.lastRate = float64(p.winCount) / t.Sub(p.winStart).Seconds()
		}
		p.winStart, p.winCount = t, 0
	}
	p.winCount++
	p.mu.Unlock()
	return nil
}

// Throttled slows the pace after an HTTP 429.
func (p *pacer) Throttled() {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := p.now()
	if t.Sub(p.lastCut) < cutEvery {
		return
	}
	cur := p.cur
	if cur == rate.Inf {
		// Unlimited so far: start from what was achieved, over the last
		// full second or the current one, whichever was faster.
		obs := p.lastRate
		if el := t.Sub(p.winStart).Seconds(); el > 0 && !p.winStart.IsZero() {
			obs = math.Max(obs, float64(p.winCount)/math.Max(el, 0.01))
		}
		cur = rate.Limit(obs)
	}
	cur = max(cur*cutFactor, minRate)
	p.cur, p.lastCut, p.lastRaise = cur, t, t
	p.lim.SetLimitAt(t, cur*margin)
}

// Answered lets the pace creep back up after a request that was not
// throttled: +2% of the configured rate per second since the last change.
func (p *pacer) Answered() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == p.max {
		return
	}
	t := p.now()
	secs := t.Sub(p.lastRaise).Seconds()
	if secs < 1 {
		return
	}
	step := float64(p.max) * raiseStep
	if p.max == rate.Inf {
		step = math.Max(1, float64(p.cur)*raiseStep)
	}
	cur := p.cur + rate.Limit(step*math.Floor(secs))
	if cur >= p.max {
		cur = p.max
	}
	p.cur, p.lastRaise = cur, t
	p.lim.SetLimitAt(t, cur*margin)
}

// Limit returns the current pace.
func (p *pacer) Limit() rate.Limit {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}
