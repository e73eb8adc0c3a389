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
//
// There are more of these goroutines than request slots (rowsInProgress):
// a row sleeping before its retry gives its slot up, and a goroutine
// waiting for a slot takes the next row. A goroutine keeps its slot from
// one row to the next while rows are ready, so that a run without retries
// uses the same --workers goroutines throughout and the others sleep.
func (p *pipeline) work(ctx context.Context, sc *scheduler, jobs <-chan job, unsent *atomic.Int64) error {
	// A request in flight is let finish on a graceful stop: its answer
	// must reach the result file. The Registrar's own timeout bounds it.
	send := context.WithoutCancel(ctx)
	h := &hold{slots: p.slots}
	defer h.release()
	for {
		j, ok := h.take(ctx, jobs)
		if !ok {
			return nil
		}
		for ok := true; ok; j, ok = sc.next(userKey(j.row.Username)) {
			if p.cfg.Ledger != nil && ctx.Err() == nil {
				earlier, err := p.cfg.Ledger.Intent(ctx, j.row.Username, j.row.TokenType, j.row.TokenSn)
				if err != nil {
					return fmt.Errorf("ledger: %w", err)
				}
				j.unknown = j.unknown || earlier
			}
			if r, sent := p.registerSafely(ctx, send, h, j); sent {
				p.results <- r
			} else {
				unsent.Add(1)
			}
		}
	}
}

// registerSafely is register with a panic turned into the row's error
// result: a bug met by one row must not take the run, and the result rows
// of the others, down with it.
func (p *pipeline) registerSafely(ctx, send context.Context, h *hold, j job) (r report.Result, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			p.cfg.Logger.Error("internal error while registering a row; please report it", "line", j.row.Line, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			r = j.row.Result(report.StatusError, fmt.Sprintf("internal error: %v %s", v, unknownNote))
			r.FinishedAt = p.cfg.Now()
			ok = true
		}
	}()
	return p.register(ctx, send, h, j)
}

// register takes a row through its attempts, sending with send: ctx
// without its cancellation, in a request slot held by h. It returns false
// when the run stopped before the row's first request: such a row gets no
// result.
//
// A row sleeping before its retry (backoff, Retry-After) puts no load on
// the server: it gives its slot up for another row to send meanwhile, and
// takes one again for the retry.
func (p *pipeline) register(ctx, send context.Context, h *hold, j job) (report.Result, bool) {
	reg := client.Registration{Username: j.row.Username, TokenSn: j.row.TokenSn, TokenType: j.row.TokenType}
	unknown := j.unknown
	var start time.Time
	var v verdict
	attempts := 0
	for {
		t, err := p.acquire(ctx, h)
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
		resp, err := p.cfg.Registrar.Register(send, reg)
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
		h.release()
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

// acquire takes a request slot (unless h holds one), then the pace's
// token: in this order, so that only rows about to send hold tokens, and a
// stall cannot bank a burst of them.
func (p *pipeline) acquire(ctx context.Context, h *hold) (ticket, error) {
	if err := h.acquire(ctx); err != nil {
		return 0, err
	}
	return p.pace.Wait(ctx)
}

// slots bounds the requests in flight (--workers).
type slots chan struct{}

func newSlots(n int) slots { return make(slots, n) }

// hold is one work goroutine's hold on a request slot.
type hold struct {
	slots slots
	held  bool
}

func (h *hold) acquire(ctx context.Context) error {
	if h.held {
		return nil
	}
	select {
	case h.slots <- struct{}{}:
		h.held = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *hold) release() {
	if h.held {
		<-h.slots
		h.held = false
	}
}

// take returns the next row, false once jobs is closed. A goroutine
// without a slot waits for one first, holding no row, so that rows are
// taken only as fast as slots free up. One with a slot keeps it while a row
// is ready at once, and gives it up to wait for one: a slot must not sit
// idle behind a slow reader while a row that slept before its retry needs
// it (the reader may itself be waiting for that row's user).
func (h *hold) take(ctx context.Context, jobs <-chan job) (job, bool) {
	if !h.held && ctx.Err() == nil {
		// An error means the run is stopping: the row taken next finds
		// that out and is left unsent.
		_ = h.acquire(ctx)
	}
	if h.held {
		select {
		case j, ok := <-jobs:
			return j, ok
		default:
		}
		h.release()
	}
	j, ok := <-jobs
	return j, ok
}

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
