package batch

import (
	"fmt"
	"strings"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// breaker is the circuit breaker of SPEC §5. Owned by the writer.
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
func (b *breaker) observe(r report.Result) string {
	// A row that most likely met its own lost success says nothing about
	// the credentials or the server: after a crash, the first answers of a
	// resumed run are such rows.
	if b.first <= 0 || b.tripped || r.Attempts == 0 || strings.HasSuffix(r.Message, lostNote) {
		return ""
	}
	switch r.Status {
	case report.StatusOK, report.StatusFailed:
		b.errRun = 0
		if b.answered < b.first {
			b.answered++
			// A needs-action code (29004, 29008, 29017) proves the server
			// and the credentials work: an inventory already registered
			// answers nothing else, and must finish with exit 1, not 3.
			if r.Status == report.StatusOK || client.Classify(r.Code) == client.NeedsAction || (b.code != "" && r.Code != b.code) {
				b.same = false
			}
			b.code = r.Code
			if b.answered == b.first && b.same {
				b.tripped = true
				return fmt.Sprintf("the first %d answered rows all failed with code %s (%s): wrong credentials or wrong server? Check CENTAGATE_URL, CENTAGATE_ADMIN and the secrets, then run again with --resume", b.first, r.Code, r.Message)
			}
		}
	case report.StatusError:
		b.errRun++
		if b.errRun >= b.errLimit {
			b.tripped = true
			return fmt.Sprintf("%d rows in a row ended in error (last: %s): is the server reachable? Fix it, then run again with --resume", b.errRun, r.Message)
		}
	}
	return ""
}
