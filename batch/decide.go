package batch

import (
	"fmt"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// facts is what the reader knows about a row when it decides what to do
// with it; decide turns them into an action without any side effect.
type facts struct {
	resumed bool  // an earlier result has a row for this line
	prior   prior // that row, if resumed
	dupOf   int   // an earlier line with the same (tokenType, tokenSn); 0 if none
	owned   bool  // the row belongs to this shard
	// ledger is set when a ledger is in use; checked once it was asked,
	// and then inLedger and at are its answer.
	ledger, checked, inLedger bool
	at                        time.Time
	dryRun                    bool
	shard                     Shard
}

// action is what the reader does with a row.
type action int

const (
	send   action = iota // hand it to the workers
	emit                 // write the decision's result row now
	drop                 // decided by the earlier run: nothing to write
	lookup               // ask the ledger, then decide again
)

// decision is decide's answer: for emit, the row's status and message.
type decision struct {
	act     action
	status  report.Status
	message string
}

// decide is the one place that decides, in order, what happens to a row
// before it is sent (SPEC §4, §5, §5a): a row of another shard is skipped
// (invalid and duplicate rows too: each row is reported by exactly one
// shard), a row the earlier result decided is left alone, an invalid row
// is reported, a duplicate skipped, a row in the ledger skipped, and in a
// dry run a valid row reported as valid. Everything else is sent.
func decide(row *Row, f facts) decision {
	final := f.resumed && f.prior.final
	switch {
	case final:
		return decision{act: drop}
	case !f.owned:
		return decision{act: emit, status: report.StatusSkipped, message: placeholder(f.shard)}
	case row.Problem != "":
		return decision{act: emit, status: report.StatusInvalid, message: row.Problem}
	case f.dupOf > 0:
		// Exactly SPEC §5's message; a conflict between two users is a
		// warning on the log (validate's in-file conflicts).
		return decision{act: emit, status: report.StatusSkipped, message: fmt.Sprintf("duplicate of line %d", f.dupOf)}
	case f.ledger && !f.checked:
		return decision{act: lookup}
	case f.ledger && f.inLedger:
		return decision{act: emit, status: report.StatusSkipped, message: fmt.Sprintf("registered on %s (ledger)", f.at.UTC().Format("2006-01-02 15:04:05Z"))}
	case f.dryRun:
		return decision{act: emit, status: report.StatusValid}
	}
	return decision{act: send}
}

func noun(t client.TokenType) string {
	if t == client.SMS {
		return "number"
	}
	return "serial"
}
