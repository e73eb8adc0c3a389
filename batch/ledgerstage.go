package batch

import (
	"iter"
	"sync"

	"github.com/tokenreg/tokenreg/report"
)

// ahead is an answered row on its way to the writer, with the outcome of
// its ledger record if it needed one.
type ahead struct {
	r         report.Result
	recorded  bool // a Record was made for it
	recordErr error
}

// recordAhead records each success in the ledger as soon as it is answered,
// several at once, and hands every row on to the writer once its record is
// durable (SPEC §5a: a success is in the ledger before its result row is
// written). The ledger commits concurrent records together (one transaction
// and one fsync for all the successes answered meanwhile), so the run pays
// one commit per group rather than one per row.
//
// The other rows (skipped, invalid, failed) go on at once, past the
// successes still waiting for their commit: results are written in
// completion order anyway, and a nightly run's 99% of rows found in the
// ledger must not queue behind the fsync of the 1% it sends. At most depth
// successes wait at a time; a crash loses their result rows, but each has
// its intent (or, once committed, its record) in the ledger. Without a
// ledger it adds nothing: no goroutine, no channel.
func (p *pipeline) recordAhead(in <-chan report.Result, depth int) iter.Seq[ahead] {
	if p.cfg.Ledger == nil {
		return func(yield func(ahead) bool) {
			for r := range in {
				if !yield(ahead{r: r}) {
					return
				}
			}
		}
	}
	out := make(chan ahead, depth)
	go func() {
		var wg sync.WaitGroup
		defer func() {
			wg.Wait()
			close(out)
		}()
		slots := make(chan struct{}, depth)
		for r := range in {
			if p.cfg.Ledger == nil || r.Attempts == 0 || r.Status != report.StatusOK {
				out <- ahead{r: r}
				continue
			}
			slots <- struct{}{}
			wg.Go(func() {
				err := p.record(r)
				out <- ahead{r: r, recorded: true, recordErr: err}
				<-slots
			})
		}
	}()
	return func(yield func(ahead) bool) {
		for a := range out {
			if !yield(a) {
				return
			}
		}
	}
}
