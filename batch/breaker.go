package batch

import (
	"fmt"
	"sync/atomic"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// breaker is the circuit breaker of SPEC §5. It trips
//   - when the first n answered rows all failed with one code (wrong
//     credentials or wrong server look like that);
//   - when 2.5×n sent rows in a row ended in error (the server is down).
//
// Owned by the writer. The third rule, a server that answers nothing in
// time, watches attempts rather than rows: see timeouts.
type breaker struct {
	first    int // answered rows to watch; 0 = disabled
	errLimit int
	answered int
	code     string
	same     bool
	errRun   int
	tripped  bool
}

func newBreaker(n int) *breaker {
	return &breaker{first: n, errLimit: (n*5 + 1) / 2, same: true}
}

// observe returns a reason to stop, once.
func (b *breaker) observe(o *outcome) string {
	// A row that most likely met its own lost success says nothing about
	// the credentials or the server: after a crash, the first answers of a
	// resumed run are such rows.
	if b.first <= 0 || b.tripped || !o.sent() || o.lost {
		return ""
	}
	switch o.Status {
	case report.StatusOK, report.StatusFailed:
		b.errRun = 0
		if b.answered < b.first {
			b.answered++
			// A needs-action code (29004, 29008, 29017) proves the server
			// and the credentials work: an inventory already registered
			// answers nothing else, and must finish with exit 1, not 3.
			if o.Status == report.StatusOK || client.Classify(o.Code) == client.NeedsAction || (b.code != "" && o.Code != b.code) {
				b.same = false
			}
			b.code = o.Code
			if b.answered == b.first && b.same {
				b.tripped = true
				return fmt.Sprintf("the first %d answered rows all failed with code %s (%s): wrong credentials or wrong server? Check CENTAGATE_URL, CENTAGATE_ADMIN and the secrets, then run again with --resume", b.first, o.Code, o.Message)
			}
		}
	case report.StatusError:
		b.errRun++
		if b.errRun >= b.errLimit {
			b.tripped = true
			return fmt.Sprintf("%d rows in a row ended in error (last: %s): is the server reachable? Fix it, then run again with --resume", b.errRun, o.Message)
		}
	}
	return ""
}

// timeouts is the breaker's rule for a server that answers nothing in time
// (SPEC §5): it trips when limit attempts in a row, over all rows and
// workers, ended in a timeout. Such a server may still apply every request
// it receives, so each further attempt risks a registration nobody sees; a
// row-level count would take --attempts × --timeout per row (and longer
// while rows share the request slots). limit is twice the request slots
// (at least 6): two rounds of --timeout, about 30 s at the defaults, 90 s
// at most. Any other end of an attempt (an answer, an HTTP error, a refused
// connection) starts the count again. Safe for concurrent use.
type timeouts struct {
	limit   int64 // 0 = disabled
	run     atomic.Int64
	tripped atomic.Bool
}

func newTimeouts(abortAfter, workers int) *timeouts {
	t := &timeouts{}
	if abortAfter > 0 {
		t.limit = int64(max(2*workers, 6))
	}
	return t
}

// attempt notes how an attempt ended, and returns a reason to stop, once.
func (t *timeouts) attempt(timedOut bool, message string) string {
	if t.limit == 0 {
		return ""
	}
	if !timedOut {
		t.run.Store(0)
		return ""
	}
	if n := t.run.Add(1); n >= t.limit && t.tripped.CompareAndSwap(false, true) {
		return fmt.Sprintf("%d requests in a row got no answer within the request timeout (last: %s): the server answers nothing in time, and may still apply what it receives; check it (or allow a longer timeout), then run again with --resume", n, message)
	}
	return ""
}
