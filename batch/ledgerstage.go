package batch

import "github.com/tokenreg/tokenreg/report"

// ahead is an answered row on its way to the writer, with the outcome of
// its ledger record if it needs one (nil channel: it does not).
type ahead struct {
	r   report.Result
	rec <-chan error
}

// recordAhead starts the ledger record of each success as soon as it is
// answered, and hands the rows on to the writer in the order they came. The
// ledger commits concurrent records together (one transaction, one fsync,
// for all the successes answered meanwhile), so the run pays one commit per
// group instead of one per row, while the writer still writes a success's
// row only once its record is durable (SPEC §5a): it waits on rec. At most
// depth rows wait between the two; a crash loses their result rows, but
// each has its intent (or, once committed, its record) in the ledger.
// Without a ledger it is a plain hand-off.
func (p *pipeline) recordAhead(in <-chan report.Result, depth int) <-chan ahead {
	out := make(chan ahead, depth)
	go func() {
		defer close(out)
		for r := range in {
			var rec chan error
			if p.cfg.Ledger != nil && r.Attempts > 0 && r.Status == report.StatusOK {
				rec = make(chan error, 1)
				go func() { rec <- p.record(r) }()
			}
			out <- ahead{r: r, rec: rec}
		}
	}()
	return out
}
