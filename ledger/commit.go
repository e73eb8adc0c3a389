package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// Group commit of Records. Every Record of a run is an op queued to one
// committer goroutine, which takes the ops queued meanwhile, commits them
// in one transaction (multi-row upserts, statements prepared once on its
// own connection), makes them durable with one fsync of the WAL file, and
// only then lets their callers return. While RecordAsync's records stream
// in, a round starts at most every roundEvery (sooner once groupTarget
// Records wait), and at once after a round of one Record or for a Record
// whose caller waits: a busy run pays one
// transaction and one fsync for a few hundred rows — an fsync costs some
// 100 to 200 µs of CPU here, a transaction as much again — while a lone
// Record after a quiet spell is committed at once. The callers are not
// held up meanwhile: batch's record stage keeps going with the next rows
// while up to recordDepth (1,024) successes wait for their round.
//
// Durability: the connection runs with synchronous=NORMAL (a commit writes
// the WAL without fsync) and the committer fsyncs the WAL itself before a
// Record returns, so a success is on disk, and survives a power loss, before
// its result row is written (SPEC §5a), exactly as with synchronous=FULL.
// The intent journal (journal.go) is fsynced alongside, so every intent
// noted before a Record returned survives a power loss too.
//
// Intents and Forgets do not come here: they are appended to the journal.

// maxGroup bounds the Records of one transaction.
const maxGroup = 1024

// roundEvery is the least time from the start of one round to the next,
// and groupTarget the Records queued that start a round before that.
// batch lets 1024 successes wait for their records (recordDepth).
const (
	roundEvery  = 50 * time.Millisecond
	groupTarget = 512
)

// recordHead, recordRow and recordTail make the upsert of registrations.
// One recorded twice keeps the later date: a success after an earlier one
// means the earlier binding was undone, and imports of several result files
// may come in any order.
const (
	recordHead = `INSERT INTO registrations (username, token_type, token_sn, registered_at, run_id, lost) VALUES `
	recordRow  = `(?, ?, ?, ?, ?, ?)`
	recordTail = `
	ON CONFLICT (username, token_type, token_sn) DO UPDATE
	SET registered_at = excluded.registered_at, run_id = excluded.run_id, lost = excluded.lost
	WHERE excluded.registered_at > registrations.registered_at`
	recordArgs = 6
)

// recordSQL stores one registration.
const recordSQL = recordHead + recordRow + recordTail

// chunks are the row counts of the prepared multi-row upserts, largest
// first: a group of n Records takes about n/64 + 6 statements.
var chunks = [...]int{64, 16, 4, 1}

// dropResolvedSQL drops the intents of registrations that were recorded:
// their outcome is known.
const dropResolvedSQL = `DELETE FROM intents WHERE EXISTS (SELECT 1 FROM registrations r
	WHERE r.username = intents.username AND r.token_type = intents.token_type AND r.token_sn = intents.token_sn)`

// op is one queued Record. done receives the result of the commit that
// included it, once durable; or, if then is set, then is called with it.
type op struct {
	user    string
	t       client.TokenType
	sn      string
	at      string // registered_at, formatted
	atMilli int64  // for the in-memory key set
	lost    bool
	done    chan error
	then    func(error)
}

// committer owns the writing connection and its statements.
type committer struct {
	l     *Ledger
	conn  *sql.Conn
	ops   chan *op
	ended chan struct{}

	// closeMu guards ops against a send after close.
	closeMu sync.RWMutex
	closed  bool

	begin, end *sql.Stmt
	upsert     [len(chunks)]*sql.Stmt
	args       []any

	// wal is the WAL file the committer fsyncs.
	walPath string
	wal     *os.File

	// mu is held while a group commits, and by Import, which writes
	// through the same database.
	mu sync.Mutex
}

// startCommitter prepares the statements and starts the goroutine.
func (l *Ledger) startCommitter(ctx context.Context) error {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return err
	}
	c := &committer{
		l: l, conn: conn, ops: make(chan *op, maxGroup), ended: make(chan struct{}),
		walPath: l.abs + "-wal", args: make([]any, 0, chunks[0]*recordArgs),
	}
	// See the top of this file; the database's other connections (Import,
	// Export, the intent journal's settling) keep synchronous=FULL.
	if _, err = conn.ExecContext(ctx, "PRAGMA synchronous = NORMAL"); err != nil {
		conn.Close()
		return err
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = conn.PrepareContext(ctx, q)
		return st
	}
	c.begin = prep("BEGIN IMMEDIATE")
	c.end = prep("COMMIT")
	for i, n := range chunks {
		c.upsert[i] = prep(recordHead + strings.Repeat(recordRow+",", n-1) + recordRow + recordTail)
	}
	if err != nil {
		c.closeStmts()
		conn.Close()
		return err
	}
	l.com = c
	go c.loop()
	return nil
}

// submit queues o and, unless o.then is set, waits until it is durable.
// Once queued an op is committed even if ctx ends meanwhile: the wait is a
// few milliseconds, and a caller told "cancelled" must not find its write
// done anyway.
func (c *committer) submit(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return errors.New("ledger closed")
	}
	c.ops <- o // the loop drains ops until close
	c.closeMu.RUnlock()
	if o.then != nil {
		return nil
	}
	return <-o.done
}

// loop commits groups until ops is closed and drained.
func (c *committer) loop() {
	defer close(c.ended)
	group := make([]*op, 0, maxGroup)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var last time.Time // the start of the last round
	lastSize := 0
	for o := range c.ops {
		group = append(group[:0], o)
		// A stream of RecordAsync waits for its round. A Record whose
		// caller waits goes at once with what is queued (a few callers
		// each waiting would otherwise get a few rows a round), and so
		// does a lone one after a lone one (a paced run).
		wait := time.Duration(0)
		if lastSize > 1 && o.then != nil {
			wait = roundEvery - time.Since(last)
		}
		if wait > 0 {
			timer.Reset(wait)
		}
	gather:
		for len(group) < maxGroup {
			if wait <= 0 || len(group) >= groupTarget {
				// Time to go: take only what is queued already.
				select {
				case o, ok := <-c.ops:
					if !ok {
						break gather
					}
					group = append(group, o)
					continue
				default:
					break gather
				}
			}
			select {
			case o, ok := <-c.ops:
				if !ok {
					break gather
				}
				group = append(group, o)
				if o.then == nil {
					wait = 0
				}
			case <-timer.C:
				wait = 0
			}
		}
		timer.Stop()
		last, lastSize = time.Now(), len(group)
		err := c.commit(group)
		if err == nil {
			err = c.sync()
		}
		for _, o := range group {
			if err == nil && !c.l.forgetOwn {
				// Visible to Lookup once durable, before its caller returns.
				c.l.keys.add(o.user, o.t, o.sn, o.atMilli)
			}
			if o.then != nil {
				o.then(err)
			} else {
				o.done <- err
			}
		}
		if err == nil {
			// Their intents are resolved. Only a shortcut for reading the
			// journal back (Close drops every resolved intent anyway): a
			// failure shows at the next Intent.
			c.l.jrn.resolved(group)
		}
		clear(group)
	}
}

// sync makes the committed groups durable: one fsync of the WAL file, and
// of the intent journal beside it if it grew.
func (c *committer) sync() error {
	var jerr error
	var wg sync.WaitGroup
	if c.l.jrn.dirty() {
		wg.Go(func() { jerr = c.l.jrn.sync() })
	}
	var err error
	if c.wal == nil {
		// It exists: the committer has committed into it.
		c.wal, err = os.OpenFile(c.walPath, os.O_RDWR, 0)
	}
	if err == nil {
		err = datasync(c.wal)
	}
	if err != nil {
		err = fmt.Errorf("sync %s: %w", c.walPath, err)
	}
	wg.Wait()
	return errors.Join(err, jerr)
}

// commit writes one group in one transaction. The context is not the
// callers': their writes must land whatever they do next.
func (c *committer) commit(group []*op) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx := context.Background()
	if _, err := c.begin.ExecContext(ctx); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			c.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	for rest := group; len(rest) > 0; {
		i := 0
		for chunks[i] > len(rest) {
			i++
		}
		n := chunks[i]
		args := c.args[:0]
		for _, o := range rest[:n] {
			args = append(args, o.user, int64(o.t), o.sn, o.at, c.l.runID, int64(boolInt(o.lost)))
		}
		_, err = c.upsert[i].ExecContext(ctx, args...)
		clear(args)
		if err != nil {
			return err
		}
		rest = rest[n:]
	}
	if _, err = c.end.ExecContext(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// close commits what is queued, stops the goroutine and frees the
// connection.
func (c *committer) close() error {
	c.closeMu.Lock()
	c.closed = true
	close(c.ops)
	c.closeMu.Unlock()
	<-c.ended
	c.closeStmts()
	var err error
	if c.wal != nil {
		err = c.wal.Close()
	}
	return errors.Join(err, c.conn.Close())
}

func (c *committer) closeStmts() {
	for _, st := range append([]*sql.Stmt{c.begin, c.end}, c.upsert[:]...) {
		if st != nil {
			st.Close()
		}
	}
}
