package batch

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"iter"
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// Registrar sends one registration; *client.Client implements it. It must
// be safe for concurrent use.
type Registrar interface {
	Register(ctx context.Context, r client.Registration) (client.Response, error)
}

// Ledger remembers the registrations that succeeded in earlier runs
// (SPEC §5a). It is called from the reader (Lookup), the workers (Intent)
// and the writer (Record, Forget) at once: it must be safe for concurrent
// use.
type Ledger interface {
	// Lookup reports when the registration succeeded, if it did.
	Lookup(ctx context.Context, username string, t client.TokenType, tokenSn string) (at time.Time, found bool, err error)
	// Intent notes durably that the registration is about to be sent, and
	// reports whether an earlier run sent it without learning the outcome
	// (it crashed between the request and the record).
	Intent(ctx context.Context, username string, t client.TokenType, tokenSn string) (earlier bool, err error)
	// Record stores a success durably before its result row is written,
	// and drops the intent. lost says the success was inferred (a
	// 29004/29008/29017 after an attempt whose answer was lost), not
	// answered.
	Record(ctx context.Context, username string, t client.TokenType, tokenSn string, at time.Time, lost bool) error
	// Forget drops the intent of a registration the server refused, or
	// that was never sent.
	Forget(ctx context.Context, username string, t client.TokenType, tokenSn string) error
}

// Config is one run's policy. The zero value of each field is its
// documented default unless said otherwise.
type Config struct {
	// Registrar sends the requests; required unless DryRun.
	Registrar Registrar
	// Rate is requests per second over all workers; 0 = unlimited.
	Rate float64
	// Burst is the limiter's burst; default 1.
	Burst int
	// Workers is the number of requests in flight at once; default
	// DefaultWorkers(Rate).
	Workers int
	// Attempts is the most requests a row may take; default 5.
	Attempts int
	// Backoff schedules the retries.
	Backoff Backoff
	// AbortAfter trips the circuit breaker (SPEC §5): if the first
	// AbortAfter answered rows all failed with one code, or 2.5×AbortAfter
	// sent rows in a row ended in error, or ⌈AbortAfter/10⌉ rounds of the
	// Workers' requests in a row timed out (see timeoutLimit). 0 disables
	// all three.
	AbortAfter int
	// DryRun checks the rows without sending anything: valid rows get
	// status "valid".
	DryRun bool
	// Rows is the number of input rows, if known (a pre-pass counted
	// them): the duplicate index is made to that size.
	Rows int
	// Shard keeps only this machine's rows; the others are skipped.
	Shard Shard
	// Resume skips the lines an earlier result already decided.
	Resume *Resume
	// Ledger skips the registrations recorded by earlier runs; optional.
	Ledger Ledger
	// Select, if set, drops the rows it returns false for: they get no
	// result row (retry's --status and --codes filters).
	Select func(*Row) bool
	// Limit, if positive, is the most rows handed to the workers (a
	// canary, --limit): at the next row to send, reading stops, the rows
	// out finish, and Run returns ErrLimit. Undecided rows get no result
	// row, so --resume sends them.
	Limit int
	// Advice, if set, says what the operator does about a failed request
	// (a server certificate from an unknown authority, say), in the
	// caller's words: batch and client name no command-line flag. A
	// non-empty answer is added to the row's message in parentheses.
	Advice func(error) string
	// Logger receives warnings and, with Verbose, a debug line per row.
	Logger  *slog.Logger
	Verbose bool
	// OnResult is called by the writer goroutine after each row is
	// written (progress display).
	OnResult func(report.Result)
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// ErrLimit is returned when Config.Limit rows were sent and rows remain.
var ErrLimit = errors.New("stopped at the row limit")

// Outcome says how a run ended, beyond its error.
type Outcome struct {
	// Unsent is the number of rows read but left undecided because the run
	// stopped early (interrupt or abort); --resume sends them.
	Unsent int
	// Unsaved are the rows that were sent and answered but could not be
	// recorded or written after a write or ledger failure: the caller must
	// show them, or their answers are lost.
	Unsaved []report.Result
	// LedgerFailed says the ledger could not record a success: some of
	// the Unsaved rows that succeeded are not in it.
	LedgerFailed bool
}

type job struct {
	row     Row
	unknown bool // an earlier run's attempt may have applied it
	// resumed: the earlier result had an error row for the line, which
	// the resume's rewrite dropped to send the row again.
	resumed bool
}

type pipeline struct {
	cfg      Config
	pace     *pacer
	slots    *slots
	timeouts *timeouts
	stop     context.CancelCauseFunc // stops the run, with the reason
	out      *report.Writer
	sum      *report.Summary
	results  chan outcome
	// decided carries the rows the reader decides itself (invalid,
	// skipped, valid) to the writer in batches: one hand-off per batch, not
	// per row. free gives the batches back for reuse; pending is the batch
	// the reader is filling.
	decided chan []outcome
	free    chan []outcome
	pending []outcome
	limited bool // read stopped at cfg.Limit; set by read before g.Wait returns
	// ledgerFailed: a Record failed; set by write before it returns.
	ledgerFailed bool
}

// decidedBatches is the number of batches of decidedBatch rows between the
// reader and the writer: the reader fills one while the writer writes
// another.
const (
	decidedBatches = 4
	decidedBatch   = 256
)

// Run reads every row from rd and writes exactly one result per decided row
// to out, counting it in sum. Cancelling ctx is a graceful stop: reading
// ends, rows in flight finish their current attempt (bounded by the Registrar's timeout)
// and are written, and Run returns ctx's error. Rows never decided get no
// result row, so that --resume sends them.
//
// The error is nil when every row was decided, an *InputError for an
// unusable input (or one an earlier result does not belong to), an
// *AbortError from the circuit breaker, ctx's error on interruption,
// ErrLimit when Config.Limit stopped it, or a write or ledger error; after
// the last, Outcome.Unsaved holds the answered rows that were not written.
func Run(ctx context.Context, rd *Reader, out *report.Writer, sum *report.Summary, cfg Config) (Outcome, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers(cfg.Rate)
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registrar == nil && !cfg.DryRun {
		return Outcome{}, errors.New("batch: no Registrar")
	}
	p := &pipeline{
		cfg:  cfg,
		pace: newPacer(cfg.Rate, cfg.Burst, cfg.Now),
		out:  out,
		sum:  sum,
		// Unbuffered: an answered row waits in its worker, not in a queue,
		// so a crash loses no more than the rows in flight (SPEC §5).
		results:  make(chan outcome),
		decided:  make(chan []outcome, decidedBatches),
		free:     make(chan []outcome, decidedBatches),
		slots:    newSlots(cfg.Workers),
		timeouts: newTimeouts(cfg.AbortAfter, cfg.Workers),
	}

	for range decidedBatches {
		p.free <- make([]outcome, 0, decidedBatch)
	}

	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	p.stop = stop

	// The writer drains results until the producers are done, whatever
	// happens: a producer never blocks on it, and every decided row is
	// written even while the run is stopping.
	var unsaved []report.Result
	written := make(chan error, 1)
	go func() {
		var err error
		unsaved, err = p.write(stop)
		written <- err
	}()

	paceCtx, stopPace := context.WithCancel(runCtx)
	paced := make(chan struct{})
	go func() { defer close(paced); p.pace.run(paceCtx) }()
	defer func() { stopPace(); <-paced }()

	g, gctx := errgroup.WithContext(runCtx)
	jobs := make(chan job, cfg.Workers)
	sc := newScheduler(4*cfg.Workers + 64)
	var unsent atomic.Int64
	g.Go(func() error { return p.read(gctx, rd, sc, jobs) })
	for range rowsInProgress(cfg.Workers) {
		g.Go(func() error { return p.work(gctx, sc, jobs, &unsent) })
	}
	gerr := g.Wait()
	close(p.results)
	werr := <-written

	o := Outcome{Unsent: int(unsent.Load()), Unsaved: unsaved, LedgerFailed: p.ledgerFailed}
	if werr != nil {
		return o, werr
	}
	if gerr != nil && !errors.Is(gerr, context.Canceled) {
		return o, gerr
	}
	// A ledger call cut short by the breaker's stop reports
	// context.Canceled: the abort is the news.
	var ae *AbortError
	if cause := context.Cause(runCtx); errors.As(cause, &ae) {
		return o, ae
	}
	if gerr != nil {
		return o, gerr
	}
	if err := ctx.Err(); err != nil {
		return o, err
	}
	if p.limited {
		return o, ErrLimit
	}
	return o, nil
}

// read validates the rows in file order and hands the sendable ones to the
// workers through the scheduler; the others go to the writer in batches. It
// owns jobs and decided. What happens to each row is decide's choice.
func (p *pipeline) read(ctx context.Context, rd *Reader, sc *scheduler, jobs chan<- job) error {
	defer close(jobs)
	defer func() {
		p.flush()
		close(p.decided)
	}()
	dd := newDedup(p.cfg.Rows)
	in := newReadAhead(rd, dd)
	// otpUsers finds a user's second OTP row for validate's warning; only a
	// dry run pays for it.
	var otpUsers map[uint64]uint32
	if p.cfg.DryRun {
		otpUsers = make(map[uint64]uint32)
	}
	matched := 0  // lines of the earlier result met in the input
	lastLine := 0 // the last row's line
	submitted := 0
	for ctx.Err() == nil {
		row, err := in.Read()
		if errors.Is(err, io.EOF) {
			if err := p.cfg.Resume.complete(matched, lastLine); err != nil {
				return &InputError{Name: rd.name, Err: err}
			}
			return nil
		}
		if err != nil {
			return err
		}
		lastLine = row.Line
		prior, resumed, err := p.cfg.Resume.check(&row)
		if err != nil {
			return &InputError{Name: rd.name, Line: row.Line, Err: err}
		}
		if resumed {
			matched++
		}
		if p.cfg.Select != nil && !p.selected(row) {
			continue
		}
		if row.Warning != "" {
			p.cfg.Logger.Warn("input", "line", row.Line, "warning", row.Warning)
		}
		f := facts{
			resumed: resumed, prior: prior,
			owned:  p.cfg.Shard.Owns(row.Username),
			ledger: p.cfg.Ledger != nil, dryRun: p.cfg.DryRun, shard: p.cfg.Shard,
		}
		var seen seen
		if row.Problem == "" {
			// The index sees every valid row, whatever its shard or earlier
			// result, so that a duplicate is found wherever its first is.
			seen = dd.check(row.TokenType, row.TokenSn, row.Username, row.Line)
			f.dupOf = seen.first
			if f.dupOf > 0 && seen.otherUser && f.owned && !(resumed && prior.final) {
				p.cfg.Logger.Warn("in-file conflict", "line", row.Line, "first_line", f.dupOf, "username", row.Username, "problem", "the same "+row.TokenType.String()+" "+noun(row.TokenType)+" given to two users")
			}
		}
		d := decide(&row, f)
		if d.act == lookup {
			f.at, f.inLedger, err = p.cfg.Ledger.Lookup(ctx, row.Username, row.TokenType, row.TokenSn)
			if err != nil {
				return fmt.Errorf("ledger: %w", err)
			}
			f.checked = true
			d = decide(&row, f)
		}
		switch d.act {
		case drop:
			if p.cfg.Ledger != nil && prior.bound != 0 && !p.cfg.DryRun {
				if err := p.keepRecorded(ctx, &row, prior); err != nil {
					return err
				}
			}
		case emit:
			msg := d.message
			if d.status == report.StatusValid {
				msg = p.conflict(&row, seen, dd, otpUsers)
			}
			o := outcome{Result: row.Result(d.status, msg), tokenType: row.TokenType}
			o.FinishedAt = p.cfg.Now()
			p.emit(o)
		case send:
			// An error row of an earlier result (--resume, or retry's
			// input) may say its request reached the server unanswered.
			_, retryUnknown, _ := parseNotes(report.Status(row.Status), row.Message)
			// The rows decided so far are written while this one waits
			// for a worker.
			p.flush()
			// Two ways to stop here: the canary's limit, or a stop while
			// waiting for the workers. Either way the row is not sent.
			limited := p.cfg.Limit > 0 && submitted == p.cfg.Limit
			if limited || !sc.submit(ctx, jobs, job{row: row, unknown: prior.unknown || retryUnknown, resumed: resumed}) {
				p.limited = limited
				if resumed {
					p.carry(&row, prior)
				}
				return p.carryOver(in)
			}
			submitted++
		}
	}
	return p.carryOver(in)
}

// selected asks Config.Select about a copy of row: a pointer given to a
// function value escapes, and row would be allocated on the heap for every
// row of every run.
func (p *pipeline) selected(row Row) bool { return p.cfg.Select(&row) }

// emit queues a row the reader decided for the writer: nothing is in
// flight for it and --resume decides it again, so it may wait for the rest
// of its batch. It waits for a free batch when the writer is behind.
func (p *pipeline) emit(o outcome) {
	if p.pending == nil {
		p.pending = <-p.free
	}
	p.pending = append(p.pending, o)
	if len(p.pending) == cap(p.pending) {
		p.flush()
	}
}

// flush hands the batch of decided rows to the writer.
func (p *pipeline) flush() {
	if len(p.pending) > 0 {
		p.decided <- p.pending
		p.pending = nil
	}
}

// keepRecorded records in the ledger a success that the earlier result
// keeps (a resumed line ok, or failed after meeting its own lost success)
// if the ledger does not hold it: the earlier part ran without this ledger,
// or its ledger could not be written (a full disk) and the operator
// appended the answers shown then. The ledger holds what tokenreg bound.
func (p *pipeline) keepRecorded(ctx context.Context, row *Row, prior prior) error {
	_, found, err := p.cfg.Ledger.Lookup(ctx, row.Username, row.TokenType, row.TokenSn)
	if err == nil && !found {
		err = p.cfg.Ledger.Record(context.Background(), row.Username, row.TokenType, row.TokenSn, time.Unix(int64(prior.bound), 0), prior.lost)
	}
	if err != nil {
		return fmt.Errorf("ledger: %w", err)
	}
	return nil
}

// conflict is validate's warning for a valid row that an earlier line of
// the file conflicts with (a second OTP token for its user, its phone
// number written another way, which check saw), logged too; "" if none.
// otpUsers maps a user's hash to the line of its first OTP row.
func (p *pipeline) conflict(row *Row, seen seen, dd *dedup, otpUsers map[uint64]uint32) string {
	if row.TokenType == client.OTP {
		k := maphash.String(dd.seed, userKey(row.Username))
		first, ok := otpUsers[k]
		if !ok {
			otpUsers[k] = uint32(row.Line)
			return ""
		}
		p.cfg.Logger.Warn("in-file conflict", "line", row.Line, "first_line", first, "username", row.Username, "problem", "second OTP token for a user")
		return fmt.Sprintf("warning: line %d already gives this user an OTP token; the server will answer 29008 (one OTP token per user)", first)
	}
	w := phoneVariant(seen)
	if w != "" {
		p.cfg.Logger.Warn("in-file conflict", "line", row.Line, "username", row.Username, "problem", w)
	}
	return w
}

// carry gives back its row to a line whose earlier error row the resume's
// rewrite dropped, when the run stops before sending it again: the line
// keeps one row, and the next resume learns what this one knew (a request
// that may have been applied).
func (p *pipeline) carry(row *Row, prior prior) {
	o := outcome{Result: row.Result(report.StatusError, "not sent again: the run stopped first"), tokenType: row.TokenType, unknown: prior.unknown}
	o.FinishedAt = p.cfg.Now()
	p.results <- o
}

// carryOver reads the rest of the input after a stop, to carry the lines
// of the earlier result that the run did not reach (see carry). It reads
// only when the earlier result had rows to send again.
func (p *pipeline) carryOver(in *readAhead) error {
	rs := p.cfg.Resume
	if rs == nil || rs.Final == rs.Rows {
		return nil
	}
	_, _, err := rs.walk(in, func(row *Row, prior prior) {
		if !prior.final {
			p.carry(row, prior)
		}
	})
	return err
}

// incoming yields the rows to write, in the order they come, until the
// reader and the workers are done: the reader's batches of decided rows,
// and the rows the workers answered, through recordAhead (which records the
// successes in the ledger first). A batch is given back once yielded.
func (p *pipeline) incoming() iter.Seq[ahead] {
	return func(yield func(ahead) bool) {
		results := p.results
		var answered chan ahead
		if p.cfg.Ledger != nil {
			// recordAhead consumes the results; its rows come through
			// answered.
			results, answered = nil, make(chan ahead)
			go func() {
				defer close(answered)
				for a := range p.recordAhead(p.results) {
					answered <- a
				}
			}()
		}
		decided := p.decided
		for decided != nil || results != nil || answered != nil {
			var a ahead
			select {
			case batch, ok := <-decided:
				if !ok {
					decided = nil
					continue
				}
				for _, o := range batch {
					if !yield(ahead{o: o}) {
						return
					}
				}
				clear(batch)
				p.free <- batch[:0]
				continue
			case o, ok := <-results:
				if !ok {
					results = nil
					continue
				}
				a = ahead{o: o}
			case x, ok := <-answered:
				if !ok {
					answered = nil
					continue
				}
				a = x
			}
			if !yield(a) {
				return
			}
		}
	}
}

// write owns the result writer, the summary and the circuit breaker. It
// drains results until the channel closes, even after a failure, so that no
// producer ever blocks on it. After a failure to record or write, the rows
// that were sent are kept in unsaved: their answers must not be lost.
func (p *pipeline) write(stop context.CancelCauseFunc) (unsaved []report.Result, werr error) {
	p.out.BufferUnsent() // unsent rows reach the file in batches; flushed below
	defer func() {
		if err := p.out.Flush(); err != nil && werr == nil {
			werr = fmt.Errorf("write result: %w", err)
		}
	}()
	br := newBreaker(p.cfg.AbortAfter)
	for a := range p.incoming() {
		o := a.o
		r := o.result()
		if werr != nil {
			if o.sent() {
				unsaved = append(unsaved, r)
			}
			continue
		}
		fail := func(err error) {
			werr = err
			if o.sent() {
				unsaved = append(unsaved, r)
			}
			stop(werr)
		}
		// A success (or a lost one) was stored before its row is written
		// (SPEC §5a), so that no later run sends it again.
		if a.recorded && a.recordErr != nil {
			p.ledgerFailed = true
			fail(fmt.Errorf("ledger: %w", a.recordErr))
			continue
		}
		if err := p.out.Write(r); err != nil {
			fail(fmt.Errorf("write result: %w", err))
			continue
		}
		if p.cfg.Ledger != nil && o.sent() && o.Status != report.StatusOK && !o.lost && !o.unknown {
			// The server refused it: drop the intent, once its row is
			// written (until then a crash must leave it for the next run).
			// A row whose request may have been applied keeps its intent.
			if err := p.cfg.Ledger.Forget(context.Background(), o.Username, o.tokenType, o.TokenSn); err != nil {
				werr = fmt.Errorf("ledger: %w", err)
				stop(werr)
				continue
			}
		}
		p.sum.Add(r)
		if p.cfg.OnResult != nil {
			p.cfg.OnResult(r)
		}
		if p.cfg.Verbose {
			p.cfg.Logger.Debug("row", "line", r.Line, "username", r.Username, "token_type", r.TokenType, "token_sn", r.TokenSn,
				"status", string(r.Status), "code", r.Code, "message", r.Message, "attempts", r.Attempts, "duration_ms", r.Duration.Milliseconds())
		}
		if ae := br.observe(&o); ae != nil {
			p.cfg.Logger.Error("circuit breaker open: stopping", "reason", ae.Reason)
			stop(ae)
		}
	}
	return unsaved, werr
}
