package batch

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// The pace's control law (SPEC §3: on 429 the pace backs off, then comes
// back up to --rate). It is a pure value, advanced by the answers it is
// shown, so that it is table-tested without a clock.
//
// Answers are counted over an epoch. A stray 429 is noise (a WAF or a shared
// gateway throttles about 1% of requests whatever the pace); a real limit
// shows as a large share of them. So the pace is cut only when the epoch's
// share of 429s is large:
//
//   - at once, when at least fastMinThrottled answers were 429 and they are
//     at least fastShare of the epoch's answers (a pace far above the limit
//     must not keep hammering it for a whole second);
//   - after epochMin, when at least cutMinThrottled were 429 and they are at
//     least cutShare of the answers.
//
// A cut starts a new epoch, and the answers to requests sent before it are
// not counted in the next: like TCP's once per window, the pace backs off at
// most once for what one pace did. The cut goes to cutBeta × the rate the
// server accepted in the epoch (its answers that were not 429), but never
// below maxCut × the pace it cuts: the acceptance rate over a short epoch
// is a noisy estimate.
//
// An epoch of at least epochMin and epochMinAnswers answers whose share of
// 429s is below cutShare closes clean and raises the pace: quickly (half the
// distance at a time) while it is far below the rate the server last
// accepted, then additively, by raiseStep of that rate (or of the pace, once
// above it) per second — a step that grows with each clean epoch in a row,
// so that near the limit the pace probes gently, and after an outage that
// cut it to the floor it is back within half a minute. Never above --rate.
// A pace that is not what holds the run back (the workers sent less than
// half of it) is not raised: an unused pace proves nothing about the server.
type control struct {
	max  float64 // the configured --rate; +Inf for unlimited
	cur  float64 // the pace; +Inf while unlimited and never cut
	good float64 // the rate the server accepted when the pace was last cut

	epoch     uint64    // numbers the cuts; a request carries the epoch it was sent in
	start     time.Time // of the epoch's counting
	answered  int       // answers counted in the epoch, 429s included
	throttled int       // of which HTTP 429
	streak    int       // clean epochs of additive increase since the last cut
}

const (
	epochMin         = time.Second
	epochMinAnswers  = 10
	cutShare         = 0.05 // a 429 share this large over epochMin is a limit
	cutMinThrottled  = 5
	fastShare        = 0.25 // a 429 share this large is a limit at once
	fastMinThrottled = 10
	cutBeta          = 0.9  // cut to this share of the rate the server accepted
	maxCut           = 0.25 // a cut keeps at least this share of the pace
	recoverNear      = 0.95 // fast recovery until this close to the good rate
	raiseStep        = 0.02 // additive increase per second and clean epoch, as a share of the good rate
	minRate          = 0.5  // never slower than one request per two seconds
)

func newControl(perSecond float64, start time.Time) control {
	m := perSecond
	if m <= 0 {
		m = math.Inf(1)
	}
	return control{max: m, cur: m, good: m, start: start}
}

// observe counts one answer, at now, to a request sent in epoch sent, and
// returns the control with the pace it leads to.
func (c control) observe(now time.Time, sent uint64, throttled bool) control {
	if sent != c.epoch {
		// Sent at the pace before the last cut: its answer says nothing
		// about the current one.
		return c
	}
	c.answered++
	if throttled {
		c.throttled++
	}
	el := now.Sub(c.start)
	k, n := float64(c.throttled), float64(c.answered)
	switch {
	case c.throttled >= fastMinThrottled && k >= fastShare*n,
		el >= epochMin && c.throttled >= cutMinThrottled && k >= cutShare*n:
		return c.cut(now, el)
	case el >= epochMin && c.answered >= epochMinAnswers && k < cutShare*n:
		return c.raise(now, el)
	}
	return c
}

// cut lowers the pace after an epoch that showed the server's limit.
func (c control) cut(now time.Time, el time.Duration) control {
	secs := max(el.Seconds(), 1e-3)
	sentRate := float64(c.answered) / secs
	okRate := float64(c.answered-c.throttled) / secs
	base := min(c.cur, sentRate)
	c.cur = max(min(base, okRate)*cutBeta, base*maxCut, minRate)
	c.good = max(min(okRate, base), c.cur)
	c.epoch, c.streak = c.epoch+1, 0
	c.start, c.answered, c.throttled = now, 0, 0
	return c
}

// raise closes an epoch without a limit shown, and raises the pace if it
// is below --rate and was in use.
func (c control) raise(now time.Time, el time.Duration) control {
	used := float64(c.answered) / el.Seconds()
	c.start, c.answered, c.throttled = now, 0, 0
	if c.cur >= c.max || used < c.cur/2 {
		return c
	}
	if c.cur < recoverNear*c.good {
		c.cur += (c.good - c.cur) / 2
	} else {
		c.streak++
		c.cur += raiseStep * max(c.good, c.cur) * float64(c.streak) * el.Seconds()
	}
	c.cur = min(c.cur, c.max)
	return c
}

// pacer is the run's single rate limiter, driven by control. Safe for
// concurrent use. While the pace is unlimited (--rate 0 and no limit shown
// yet), Wait costs one atomic load.
type pacer struct {
	lim     *rate.Limiter // runs at cur·margin
	now     func() time.Time
	tokens  chan struct{}
	unpaced atomic.Bool   // the pace is unlimited: Wait takes no token
	epoch   atomic.Uint64 // c.epoch, for Wait

	mu sync.Mutex
	c  control
}

// margin is how far under the target the limiter runs: the server sees
// requests after a variable delay (scheduling, the network), and a request
// that comes late lets the next window hold one more than the pace; 1% of
// room keeps every window within rate + burst while the achieved rate stays
// within the 2% that SPEC §7 allows.
const margin = 0.99

func newPacer(perSecond float64, burst int, now func() time.Time) *pacer {
	c := newControl(perSecond, now())
	if burst < 1 {
		burst = 1
	}
	p := &pacer{lim: rate.NewLimiter(limit(c.cur), burst), now: now, tokens: make(chan struct{}), c: c}
	p.unpaced.Store(math.IsInf(c.cur, 1))
	return p
}

// limit is the limiter's setting for a pace.
func limit(pace float64) rate.Limit {
	if math.IsInf(pace, 1) {
		return rate.Inf
	}
	return rate.Limit(pace * margin)
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

// ticket is what a request carries from Wait to its answer: the epoch it
// was sent in.
type ticket uint64

// Wait blocks until the pace lets one more request go, or ctx ends. The
// request's answer goes to Observe with the ticket.
func (p *pacer) Wait(ctx context.Context) (ticket, error) {
	if !p.unpaced.Load() {
		select {
		case <-p.tokens:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return ticket(p.epoch.Load()), nil
}

// Observe adjusts the pace to an answer from the server: throttled for
// HTTP 429, false for any other answer. A request that got no answer
// (network failure, timeout) says nothing about the pace.
func (p *pacer) Observe(t ticket, throttled bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	before := p.c.cur
	p.c = p.c.observe(now, uint64(t), throttled)
	if p.c.cur != before {
		p.lim.SetLimitAt(now, limit(p.c.cur))
		p.unpaced.Store(math.IsInf(p.c.cur, 1))
	}
	p.epoch.Store(p.c.epoch)
}
