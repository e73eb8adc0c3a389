package batch

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"sync"
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
// uses the same --workers goroutines throughout and the others sleep. It
// takes a fresh row only while holding a slot, so that rows go out in file
// order up to the concurrency (see slots).
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
			newIntent := false
			if p.cfg.Ledger != nil && ctx.Err() == nil {
				// Not cut short by a stop: a cancelled transaction would be
				// a run error; a row stopped after its intent forgets it.
				earlier, err := p.cfg.Ledger.Intent(send, j.row.Username, j.row.TokenType, j.row.TokenSn)
				if err != nil {
					return fmt.Errorf("ledger: %w", err)
				}
				j.unknown = j.unknown || earlier
				newIntent = !earlier
			}
			o, sent := p.registerSafely(ctx, send, h, j)
			if !sent {
				unsent.Add(1)
				if newIntent {
					// Never sent: the intent this worker noted must not make a
					// later run take a genuine conflict for a lost success.
					if err := p.cfg.Ledger.Forget(context.WithoutCancel(ctx), j.row.Username, j.row.TokenType, j.row.TokenSn); err != nil {
						return fmt.Errorf("ledger: %w", err)
					}
				}
				if j.resumed {
					p.carry(&j.row, prior{unknown: j.unknown})
				}
				continue
			}
			p.results <- o
		}
	}
}

// registerSafely is register with a panic turned into the row's error
// result: a bug met by one row must not take the run, and the result rows
// of the others, down with it.
func (p *pipeline) registerSafely(ctx, send context.Context, h *hold, j job) (o outcome, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			p.cfg.Logger.Error("internal error while registering a row; please report it", "line", j.row.Line, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			o = outcome{Result: j.row.Result(report.StatusError, fmt.Sprintf("internal error: %v", v)), tokenType: j.row.TokenType, unknown: true}
			o.FinishedAt = p.cfg.Now()
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
func (p *pipeline) register(ctx, send context.Context, h *hold, j job) (outcome, bool) {
	reg := client.Registration{Username: j.row.Username, TokenSn: j.row.TokenSn, TokenType: j.row.TokenType}
	unknown := j.unknown
	var start time.Time
	var v verdict
	attempts := 0
	for {
		t, err := p.acquire(ctx, h, j.row.Line)
		if err != nil {
			if attempts == 0 {
				return outcome{}, false
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
		if err != nil && p.cfg.Advice != nil {
			if a := p.cfg.Advice(err); a != "" {
				v.message += " (" + a + ")"
			}
		}
		// Once an attempt may have been applied, the row's outcome stays
		// unknown whatever later attempts answer (a 503, a 429), until a
		// verdict settles it.
		unknown = unknown || v.unknown
		if ae := p.timeouts.attempt(v.timeout, v.message); ae != nil {
			p.cfg.Logger.Error("circuit breaker open: stopping", "reason", ae.Reason)
			p.stop(ae)
		}
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
	o := outcome{
		Result:    j.row.Result(v.status, v.message),
		tokenType: j.row.TokenType,
		unknown:   v.unknown,
		lost:      v.lost,
	}
	o.Code = v.code
	o.Attempts = attempts
	o.FinishedAt = p.cfg.Now()
	o.Duration = o.FinishedAt.Sub(start)
	return o, true
}

// acquire takes a request slot for the row on line (unless h holds one),
// then the pace's token: in this order, so that only rows about to send
// hold tokens, and a stall cannot bank a burst of them.
func (p *pipeline) acquire(ctx context.Context, h *hold, line int) (ticket, error) {
	if err := h.acquire(ctx, line); err != nil {
		return 0, err
	}
	return p.pace.Wait(ctx)
}

// slots bounds the requests in flight (--workers), and chooses who gets a
// slot that frees up.
//
// Rows go out in file order up to the concurrency: a goroutine takes a
// fresh row from jobs (which the reader fills in file order) only while it
// holds a slot, and sends it at once. A goroutine never waits for a slot
// with a fresh row in hand. (It used to, after giving its slot up on an
// empty jobs: it then queued for a slot behind goroutines without a row,
// which took later rows from jobs once served, while the goroutines that
// kept a slot took later rows too; the first rows of a file went out after
// hundreds of later ones.)
//
// Only a row between two attempts waits for a slot with a row in hand
// (it gave its slot up to sleep before its retry): it goes before every
// goroutine without a row, the oldest line first, and a goroutine idle on
// an empty jobs holding a slot gives it up to it (wanted), since the
// reader may itself be waiting for that row's user.
type slots struct {
	mu    sync.Mutex
	free  int
	rows  rowWaiters    // waiters with a row to send, oldest line first
	nrows atomic.Int32  // len(rows), read without the lock by yield
	idle  []*slotWaiter // waiters without a row, first come first served
	// wanted gets a token for each row that waits for a slot: a goroutine
	// holding one idle on jobs wakes up and gives it away (yield).
	wanted chan struct{}
}

type slotWaiter struct {
	line  int // the row's line; 0 for a goroutine without a row
	index int // in rows
	ready chan struct{}
}

func newSlots(workers int) *slots {
	return &slots{free: workers, wanted: make(chan struct{}, rowsInProgress(workers))}
}

// acquire takes a slot for the row on line, or for a goroutine without a
// row (line 0). It fails, taking nothing, once ctx has ended: no request
// starts after a stop.
func (s *slots) acquire(ctx context.Context, line int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.free > 0 { // then nobody waits: a freed slot goes to a waiter
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{line: line, ready: make(chan struct{})}
	if line > 0 {
		heap.Push(&s.rows, w)
		s.nrows.Store(int32(len(s.rows)))
	} else {
		s.idle = append(s.idle, w)
	}
	s.mu.Unlock()
	if line > 0 {
		select {
		case s.wanted <- struct{}{}:
		default: // full of tokens already: enough holders will look
		}
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-w.ready:
		s.handOn() // granted as the run stopped: pass it on
	default:
		if line > 0 {
			heap.Remove(&s.rows, w.index)
			s.nrows.Store(int32(len(s.rows)))
		} else {
			s.idle = slices.DeleteFunc(s.idle, func(x *slotWaiter) bool { return x == w })
		}
	}
	return ctx.Err()
}

// release gives a slot back: to the oldest row waiting, else to the
// first goroutine waiting without a row.
func (s *slots) release() {
	s.mu.Lock()
	s.handOn()
	s.mu.Unlock()
}

func (s *slots) handOn() {
	switch {
	case len(s.rows) > 0:
		s.grantRow()
	case len(s.idle) > 0:
		w := s.idle[0]
		s.idle[0] = nil
		s.idle = s.idle[1:]
		close(w.ready)
	default:
		s.free++
	}
}

// yield gives the caller's slot to the oldest row waiting for one, if
// any, and reports whether it did.
func (s *slots) yield() bool {
	if s.nrows.Load() == 0 { // the common case, without the lock
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.rows) == 0 {
		return false
	}
	s.grantRow()
	return true
}

// grantRow gives a slot to the oldest row waiting; s.mu is held.
func (s *slots) grantRow() {
	close(heap.Pop(&s.rows).(*slotWaiter).ready)
	s.nrows.Store(int32(len(s.rows)))
}

// rowWaiters is a heap of waiters by line (container/heap).
type rowWaiters []*slotWaiter

func (q rowWaiters) Len() int           { return len(q) }
func (q rowWaiters) Less(i, j int) bool { return q[i].line < q[j].line }
func (q rowWaiters) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *rowWaiters) Push(x any) {
	w := x.(*slotWaiter)
	w.index = len(*q)
	*q = append(*q, w)
}
func (q *rowWaiters) Pop() any {
	old := *q
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return w
}

// hold is one work goroutine's hold on a request slot.
type hold struct {
	slots *slots
	held  bool
}

func (h *hold) acquire(ctx context.Context, line int) error {
	if h.held {
		return nil
	}
	if err := h.slots.acquire(ctx, line); err != nil {
		return err
	}
	h.held = true
	return nil
}

func (h *hold) release() {
	if h.held {
		h.slots.release()
		h.held = false
	}
}

// take returns the next row, false once jobs is closed. It takes a row
// only while holding a slot (see slots: that keeps rows in file order),
// and first gives the slot to a row waiting to retry, if one does. While
// jobs is empty, it gives its slot to such a row as soon as one waits: a
// slot must not sit idle behind a slow reader while a row that slept
// before its retry needs it (the reader may itself be waiting for that
// row's user). Once the run stops, it takes the rows left without a slot:
// they are not sent.
func (h *hold) take(ctx context.Context, jobs <-chan job) (job, bool) {
	for {
		if ctx.Err() != nil {
			h.release()
			j, ok := <-jobs
			return j, ok
		}
		if !h.held {
			if h.acquire(ctx, 0) != nil {
				continue
			}
		}
		if h.slots.yield() {
			h.held = false
			continue
		}
		select {
		case j, ok := <-jobs:
			return j, ok
		case <-h.slots.wanted:
		case <-ctx.Done():
		}
	}
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
// sleeping before a retry leave every slot busy, and bounded, since each
// holds a goroutine (a few KB). The sleepers a pace needs are its share of
// retried rows times their wait: 1% stray 429s with a Retry-After of a
// second at 12,000 rows/s keep 120 rows asleep, which 3 per slot (48 at
// --workers 16) capped at 4,800 rows/s, under half the pace; 16 per slot
// keep 256, twice what that needs.
func rowsInProgress(workers int) int {
	return workers + min(max(16*workers, 64), 1024)
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
