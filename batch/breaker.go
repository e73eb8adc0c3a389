package batch

import (
	"fmt"
	"sync/atomic"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// AbortRule names the circuit breaker's rule that stopped a run (SPEC §5),
// so that the caller can say what to do about it.
type AbortRule int

const (
	// AbortSameCode: the first AbortAfter answered rows all failed with one
	// code (wrong credentials or wrong server look like that).
	AbortSameCode AbortRule = iota + 1
	// AbortErrors: 2.5×AbortAfter sent rows in a row ended in error (the
	// server is unreachable).
	AbortErrors
	// AbortTimeouts: a run of requests in a row got no answer in time
	// (see timeoutLimit).
	AbortTimeouts
)

// AbortError is returned when the circuit breaker stopped the run. Reason
// says what the breaker saw, in batch's words; it names no command-line
// flag: the caller adds what to do (Rule tells it which advice fits).
type AbortError struct {
	Rule   AbortRule
	Reason string
}

func (e *AbortError) Error() string { return "aborted: " + e.Reason }

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

// observe returns why the run must stop, once; nil otherwise.
func (b *breaker) observe(o *outcome) *AbortError {
	// A row that most likely met its own lost success says nothing about
	// the credentials or the server: after a crash, the first answers of a
	// resumed run are such rows.
	if b.first <= 0 || b.tripped || !o.sent() || o.lost {
		return nil
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
				return &AbortError{Rule: AbortSameCode, Reason: fmt.Sprintf("the first %d answered rows all failed with code %s (%s): wrong credentials or wrong server?", b.first, o.Code, o.Message)}
			}
		}
	case report.StatusError:
		b.errRun++
		if b.errRun >= b.errLimit {
			b.tripped = true
			return &AbortError{Rule: AbortErrors, Reason: fmt.Sprintf("%d rows in a row ended in error (last: %s): is the server reachable?", b.errRun, o.Message)}
		}
	}
	return nil
}

// timeouts is the breaker's rule for a server that answers nothing in time
// (SPEC §5): it trips when limit attempts in a row, over all rows and
// workers, ended in a timeout. Such a server may still apply every request
// it receives, so each further attempt risks a registration nobody sees; a
// row-level count would take attempts × timeout per row (and longer while
// rows share the request slots). Any other end of an attempt (an answer, an
// HTTP error, a refused connection) starts the count again. Safe for
// concurrent use.
type timeouts struct {
	limit   int64 // 0 = disabled
	run     atomic.Int64
	tripped atomic.Bool
}

func newTimeouts(abortAfter, workers int) *timeouts {
	return &timeouts{limit: int64(timeoutLimit(abortAfter, workers))}
}

// timeoutLimit is how many attempts in a row must time out to stop the
// run: ⌈abortAfter/10⌉ rounds of the request slots (at least 3 a round),
// so 2×workers, at least 6, at the default abortAfter of 20. A round is
// every slot timing out once, about one request timeout of wall time. The
// breaker's other rules scale with abortAfter; so does this one. 0
// (disabled) when abortAfter is 0.
func timeoutLimit(abortAfter, workers int) int {
	if abortAfter <= 0 {
		return 0
	}
	rounds := (abortAfter + 9) / 10
	return rounds * max(workers, 3)
}

// attempt notes how an attempt ended, and returns why the run must stop,
// once; nil otherwise.
func (t *timeouts) attempt(timedOut bool, message string) *AbortError {
	if t.limit == 0 {
		return nil
	}
	if !timedOut {
		t.run.Store(0)
		return nil
	}
	if n := t.run.Add(1); n >= t.limit && t.tripped.CompareAndSwap(false, true) {
		return &AbortError{Rule: AbortTimeouts, Reason: fmt.Sprintf("%d requests in a row got no answer within the request timeout (last: %s): the server answers nothing in time, and may still apply what it receives", n, message)}
	}
	return nil
}
