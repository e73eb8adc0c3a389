package batch

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// asyncLedger is a Ledger that can record a success without a goroutine
// waiting for it (ledger.Ledger): done is called once, with what Record
// would return, once the record is durable.
type asyncLedger interface {
	RecordAsync(ctx context.Context, username string, t client.TokenType, tokenSn string, at time.Time, lost bool, done func(error))
}

// syncLedger gives a Ledger without RecordAsync one: Record in a goroutine
// of its own.
type syncLedger struct{ Ledger }

func (l syncLedger) RecordAsync(ctx context.Context, username string, t client.TokenType, tokenSn string, at time.Time, lost bool, done func(error)) {
	go func() { done(l.Record(ctx, username, t, tokenSn, at, lost)) }()
}

// recordDepth is how many successes may wait for their record at a time.
// The ledger commits the records queued meanwhile in rounds at most every
// 50 ms, each one transaction and one fsync (ledger/commit.go), so the
// depth must hold what a run at full speed answers in a round and its
// fsync (about 8,000 rows/s × 60 ms here), or the run waits on the disk.
// A kill loses the result rows of those waiting; --resume finds them in
// the ledger, or meets their lost success.
const recordDepth = 1024

// ahead is an answered row on its way to the writer, with the outcome of
// its ledger record if it needed one.
type ahead struct {
	o         outcome
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
// ledger must not queue behind the fsync of the 1% it sends. At most
// recordDepth successes wait at a time; a crash loses their result rows,
// but each has its intent (or, once committed, its record) in the ledger,
// so a resume skips it or meets its own lost success. Without a ledger it
// adds nothing: no goroutine, no channel.
func (p *pipeline) recordAhead(in <-chan outcome) iter.Seq[ahead] {
	if p.cfg.Ledger == nil {
		return func(yield func(ahead) bool) {
			for o := range in {
				if !yield(ahead{o: o}) {
					return
				}
			}
		}
	}
	al, ok := p.cfg.Ledger.(asyncLedger)
	if !ok {
		al = syncLedger{p.cfg.Ledger}
	}
	out := make(chan ahead, recordDepth)
	go func() {
		var wg sync.WaitGroup
		defer func() {
			wg.Wait()
			close(out)
		}()
		slots := make(chan struct{}, recordDepth)
		for o := range in {
			// A success, or a row that most likely met its own lost
			// success (recorded flagged lost).
			if !o.sent() || (o.Status != report.StatusOK && !o.lost) {
				out <- ahead{o: o}
				continue
			}
			slots <- struct{}{}
			wg.Add(1)
			// The run's context may be cancelled by now; the ledger must
			// still learn the outcome.
			al.RecordAsync(context.Background(), o.Username, o.tokenType, o.TokenSn, o.FinishedAt, o.lost, func(err error) {
				// The writer drains out to the end (see write).
				out <- ahead{o: o, recorded: true, recordErr: err}
				<-slots
				wg.Done()
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
