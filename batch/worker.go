package batch

import (
	"context"
	"fmt"
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
	for j := range jobs {
		for ok := true; ok; j, ok = sc.next(userKey(j.row.Username)) {
			newIntent := false
			if p.cfg.Ledger != nil && ctx.Err() == nil {
				earlier, err := p.cfg.Ledger.Intent(ctx, j.row.Username, j.row.TokenType, j.row.TokenSn)
				if err != nil {
					return fmt.Errorf("ledger: %w", err)
				}
				j.unknown = j.unknown || earlier
				newIntent = !earlier
			}
			o, sent := p.registerSafely(ctx, j)
			if !sent {
				unsent.Add(1)
				if newIntent {
					// Never sent: the intent this worker noted must not make a
					// later run take a genuine conflict for a lost success.
					if err := p.cfg.Ledger.Forget(context.WithoutCancel(ctx), j.row.Username, j.row.TokenType, j.row.TokenSn); err != nil {
						return fmt.Errorf("ledger: %w", err)
					}
				}
				continue
			}
			p.results <- o
		}
	}
	return nil
}

// registerSafely is register with a panic turned into the row's error
// result: a bug met by one row must not take the run, and the result rows
// of the others, down with it.
func (p *pipeline) registerSafely(ctx context.Context, j job) (o outcome, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			p.cfg.Logger.Error("internal error while registering a row; please report it", "line", j.row.Line, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			o = outcome{Result: j.row.Result(report.StatusError, fmt.Sprintf("internal error: %v", v)), tokenType: j.row.TokenType, unknown: true}
			o.FinishedAt = p.cfg.Now()
			ok = true
		}
	}()
	return p.register(ctx, j)
}

// register takes a row through its attempts. It returns false when the run
// stopped before the row's first request: such a row gets no result.
func (p *pipeline) register(ctx context.Context, j job) (outcome, bool) {
	reg := client.Registration{Username: j.row.Username, TokenSn: j.row.TokenSn, TokenType: j.row.TokenType}
	unknown := j.unknown
	var start time.Time
	var v verdict
	attempts := 0
	for {
		if err := p.pace.Wait(ctx); err != nil {
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
		// A request in flight is let finish on a graceful stop: its answer
		// must reach the result file. The Registrar's own timeout bounds it.
		resp, err := p.cfg.Registrar.Register(context.WithoutCancel(ctx), reg)
		v = judge(resp, err, unknown)
		// Once an attempt may have been applied, the row's outcome stays
		// unknown whatever later attempts answer (a 503, a 429), until a
		// verdict settles it.
		unknown = unknown || v.unknown
		if reason := p.timeouts.attempt(v.timeout, v.message); reason != "" {
			p.cfg.Logger.Error("circuit breaker open: stopping", "reason", reason)
			p.stop(&AbortError{Reason: reason})
		}
		if v.throttled {
			p.pace.Throttled()
		} else if err == nil {
			p.pace.Answered()
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

// interrupted is the outcome of a row whose retry was cut short by a stop.
func interrupted(v verdict, attempts int, unknown bool) verdict {
	msg := fmt.Sprintf("interrupted after %d attempt(s); last answer: %s", attempts, v.message)
	if v.code != "" {
		msg = fmt.Sprintf("interrupted after %d attempt(s); last answer: code %s %s", attempts, v.code, v.message)
	}
	return verdict{final: true, status: report.StatusError, message: msg, unknown: unknown}
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
