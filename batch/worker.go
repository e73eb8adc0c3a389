package batch

import (
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// work sends the rows it is given, and after each the next parked row of
// the same user, until jobs closes. unsent counts the rows it dropped
// because the run stopped before they were sent.
func (p *pipeline) work(ctx context.Context, sc *scheduler, jobs <-chan job, unsent *atomic.Int64) error {
	// A request in flight is let finish on a graceful stop: its answer
	// must reach the result file. The Registrar's own timeout bounds it.
	send := context.WithoutCancel(ctx)
	for j := range jobs {
		for ok := true; ok; j, ok = sc.next(userKey(j.row.Username)) {
			if p.cfg.Ledger != nil && ctx.Err() == nil {
				earlier, err := p.cfg.Ledger.Intent(ctx, j.row.Username, j.row.TokenType, j.row.TokenSn)
				if err != nil {
					return fmt.Errorf("ledger: %w", err)
				}
				j.unknown = j.unknown || earlier
			}
			if r, sent := p.registerSafely(ctx, send, j); sent {
				p.results <- r
			} else {
				unsent.Add(1)
			}
		}
	}
	return nil
}

// registerSafely is register with a panic turned into the row's error
// result: a bug met by one row must not take the run, and the result rows
// of the others, down with it.
func (p *pipeline) registerSafely(ctx, send context.Context, j job) (r report.Result, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			p.cfg.Logger.Error("internal error while registering a row; please report it", "line", j.row.Line, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			r = j.row.Result(report.StatusError, fmt.Sprintf("internal error: %v %s", v, unknownNote))
			r.FinishedAt = p.cfg.Now()
			ok = true
		}
	}()
	return p.register(ctx, send, j)
}

// register takes a row through its attempts, sending with send: ctx
// without its cancellation. It returns false when the run stopped before
// the row's first request: such a row gets no result.
//
// A request slot (one of --workers) is held only from the pace's token to
// the answer: a row sleeping before its retry (backoff, Retry-After) puts no
// load on the server and lets another row send meanwhile.
func (p *pipeline) register(ctx, send context.Context, j job) (report.Result, bool) {
	reg := client.Registration{Username: j.row.Username, TokenSn: j.row.TokenSn, TokenType: j.row.TokenType}
	unknown := j.unknown
	var start time.Time
	var v verdict
	attempts := 0
	for {
		t, err := p.acquire(ctx)
		if err != nil {
			if attempts == 0 {
				return report.Result{}, false
			}
			v = interrupted(v, attempts, unknown)
			break
		}
		if attempts == 0 {
			start = p.cfg.Now()
		}
		attempts++
		resp, err := p.send(send, reg)
		v = judge(resp, err, unknown)
		unknown = unknown || v.unknown
		if v.throttled || err == nil {
			p.pace.Observe(t, v.throttled)
		}
		if v.final {
			break
		}
		if attempts >= p.cfg.Attempts {
			v = exhausted(v, attempts, unknown)
			break
		}
		pause := p.cfg.Backoff.Pause(attempts, v.wait, jitter())
		if !sleep(ctx, pause) {
			v = interrupted(v, attempts, unknown)
			break
		}
	}
	r := j.row.Result(v.status, v.message)
	r.Code = v.code
	r.Attempts = attempts
	r.FinishedAt = p.cfg.Now()
	r.Duration = r.FinishedAt.Sub(start)
	return r, true
}

// acquire takes a request slot, then the pace's token: in this order, so
// that only rows about to send hold tokens, and a stall cannot bank a
// burst of them. On success the caller must release the slot.
func (p *pipeline) acquire(ctx context.Context) (ticket, error) {
	if err := p.slots.acquire(ctx); err != nil {
		return 0, err
	}
	t, err := p.pace.Wait(ctx)
	if err != nil {
		p.slots.release()
		return 0, err
	}
	return t, nil
}

// send makes one request in a slot taken by acquire, and frees the slot
// even if the Registrar panics (registerSafely turns that into the row's
// result; the other rows must still get a slot).
func (p *pipeline) send(ctx context.Context, reg client.Registration) (client.Response, error) {
	defer p.slots.release()
	return p.cfg.Registrar.Register(ctx, reg)
}

// slots bounds the requests in flight (--workers).
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

func (s slots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s slots) release() { <-s }

// DefaultWorkers is the number of requests in flight that suits a pace of
// rate requests per second (0 = unlimited): 16 when unlimited, which keeps
// a loopback or LAN server busy; otherwise enough to keep the pace through
// 200 ms answers (Little's law: rate × latency), from 4 to 64.
func DefaultWorkers(rate float64) int {
	if rate <= 0 {
		return 16
	}
	return int(min(max(math.Ceil(rate*0.2), 4), 64))
}

// rowsInProgress is how many rows may be between their first request and
// their result at once, for workers request slots: enough that the rows
// sleeping before a retry (a stray 429's Retry-After of a second) leave
// every slot busy, and bounded, since each holds a goroutine.
func rowsInProgress(workers int) int {
	return workers + min(max(3*workers, 16), 1024)
}

// interrupted is the outcome of a row whose retry was cut short by a stop.
func interrupted(v verdict, attempts int, unknown bool) verdict {
	msg := fmt.Sprintf("interrupted after %d attempt(s); last answer: %s", attempts, v.message)
	if v.code != "" {
		msg = fmt.Sprintf("interrupted after %d attempt(s); last answer: code %s %s", attempts, v.code, v.message)
	}
	if unknown {
		msg += " " + unknownNote
	}
	return verdict{final: true, status: report.StatusError, message: msg}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
