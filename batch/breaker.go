package batch

import (
	"fmt"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// breaker is the circuit breaker of SPEC §5. It trips
//   - when the first n answered rows all failed with one code (wrong
//     credentials or wrong server look like that);
//   - when 2.5×n sent rows in a row ended in error (the server is down);
//   - when timeoutLimit sent rows in a row ended in error with every attempt
//     timed out: a server that answers nothing in time may still apply every
//     request, so each further row risks --attempts registrations nobody
//     sees; at the defaults (5 attempts of 15 s) that is the first rows to
//     end, about 80 s into the run.
//
// Owned by the writer.
type breaker struct {
	first        int // answered rows to watch; 0 = disabled
	errLimit     int
	timeoutLimit int
	answered     int
	code         string
	same         bool
	errRun       int
	timeoutRun   int
	tripped      bool
}

func newBreaker(n int) *breaker {
	return &breaker{first: n, errLimit: (n*5 + 1) / 2, timeoutLimit: min(n, 3), same: true}
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
		b.errRun, b.timeoutRun = 0, 0
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
		if o.timedOut {
			b.timeoutRun++
		} else {
			b.timeoutRun = 0
		}
		if b.timeoutRun >= b.timeoutLimit {
			b.tripped = true
			return fmt.Sprintf("%d rows in a row got no answer within the request timeout on any of their %d attempt(s) (last: %s): the server answers nothing in time and may still apply each request; check it (or allow a longer timeout), then run again with --resume", b.timeoutRun, o.Attempts, o.Message)
		}
		if b.errRun >= b.errLimit {
			b.tripped = true
			return fmt.Sprintf("%d rows in a row ended in error (last: %s): is the server reachable? Fix it, then run again with --resume", b.errRun, o.Message)
		}
	}
	return ""
}
