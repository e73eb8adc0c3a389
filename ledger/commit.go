package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// Group commit. Every write of a run (Intent, Record, Forget) is an op
// queued to one committer goroutine, which gathers the ops that arrive
// within gatherWait of the first (or maxGroup of them) and commits them in
// one transaction, with statements prepared once on its own connection.
//
// Durability is split so that no request waits for a disk flush:
//   - the committer's connection runs with synchronous=NORMAL: a commit
//     writes the transaction to the WAL file (the OS has it: it survives a
//     killed process) without fsync. An Intent returns once its group is
//     committed, so an intent is in the ledger before its request is sent
//     and survives a crash of tokenreg.
//   - a group that holds a Record is then handed to a syncer goroutine,
//     which fsyncs the WAL file (once for every group committed meanwhile)
//     and only then lets those Records return. So a success is on disk,
//     and survives a power loss, before its result row is written (SPEC
//     §5a), exactly as with synchronous=FULL — and the committer goes on
//     committing the next groups meanwhile.
// The one thing a power loss (not a crash) can take is an intent committed
// in the last milliseconds before it whose group held no Record: the rows
// of the result file written meanwhile are not fsynced either.

// gatherWait is how long the committer waits for more ops after the first
// of a group: long enough that the workers' intents and the writer's
// records of a busy run share a transaction, short next to a request.
const gatherWait = 300 * time.Microsecond

// maxGroup bounds the ops of one transaction, so that a flood of callers
// still sees commits every few milliseconds.
const maxGroup = 512

// recordSQL stores a registration. One recorded twice keeps the later date:
// a success after an earlier one means the earlier binding was undone, and
// imports of several result files may come in any order.
const recordSQL = `INSERT INTO registrations
	(username, token_type, token_sn, registered_at, run_id, lost) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (username, token_type, token_sn) DO UPDATE
	SET registered_at = excluded.registered_at, run_id = excluded.run_id, lost = excluded.lost
	WHERE excluded.registered_at > registrations.registered_at`

// dropResolvedSQL drops the intents of registrations that were recorded:
// their outcome is known.
const dropResolvedSQL = `DELETE FROM intents WHERE EXISTS (SELECT 1 FROM registrations r
	WHERE r.username = intents.username AND r.token_type = intents.token_type AND r.token_sn = intents.token_sn)`

type opKind uint8

const (
	opIntent opKind = iota
	opRecord
	opForget
)

// op is one queued write. done, if not nil, receives the result of the
// commit that included it.
type op struct {
	kind    opKind
	user    string
	t       client.TokenType
	sn      string
	at      string // formatted; opIntent: sent_at, opRecord: registered_at
	atMilli int64  // opRecord: for the in-memory key set
	lost    bool
	done    chan error
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

	upsertIntent, record, dropIntent *sql.Stmt

	// walPath is the WAL file the syncer fsyncs; syncs carries the
	// committed groups that hold Records to it.
	walPath string
	syncs   chan []*op
	synced  chan struct{}

	// mu is held while a group commits, and by Import, which writes
	// through the same connection.
	mu sync.Mutex

	// asyncErr is the first failure of an op nobody waited for (Forget):
	// the next op, or Close, reports it.
	errMu    sync.Mutex
	asyncErr error
}

// startCommitter prepares the statements and starts the goroutine.
func (l *Ledger) startCommitter(ctx context.Context) error {
	conn, err := l.db.Conn(ctx)
	if err != nil {
		return err
	}
	c := &committer{
		l: l, conn: conn, ops: make(chan *op, maxGroup), ended: make(chan struct{}),
		walPath: l.abs + "-wal", syncs: make(chan []*op, 64), synced: make(chan struct{}),
	}
	// See the top of this file; the database's other connections (Import,
	// Export) keep synchronous=FULL.
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
	c.upsertIntent = prep(`INSERT INTO intents (username, token_type, token_sn, sent_at, run_id) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (username, token_type, token_sn) DO UPDATE SET sent_at = excluded.sent_at, run_id = excluded.run_id`)
	c.record = prep(recordSQL)
	c.dropIntent = prep(`DELETE FROM intents WHERE username = ? AND token_type = ? AND token_sn = ?`)
	if err != nil {
		c.closeStmts()
		conn.Close()
		return err
	}
	l.com = c
	go c.loop()
	go c.syncLoop()
	return nil
}

// submit queues o and, if o.done is set, waits for its commit. Once queued
// an op is committed even if ctx ends meanwhile: the wait is a few
// milliseconds, and a caller told "cancelled" must not find its write done
// anyway.
func (c *committer) submit(ctx context.Context, o *op) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.pending(); err != nil {
		return err
	}
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return errors.New("ledger closed")
	}
	c.ops <- o // the loop drains ops until close
	c.closeMu.RUnlock()
	if o.done == nil {
		return nil
	}
	return <-o.done
}

// pending returns the error of an earlier op nobody waited for.
func (c *committer) pending() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.asyncErr
}

// loop commits groups until ops is closed, then commits what is left.
func (c *committer) loop() {
	defer func() {
		close(c.syncs)
		<-c.synced
		close(c.ended)
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for o := range c.ops {
		group := []*op{o}
		timer.Reset(gatherWait)
	gather:
		for len(group) < maxGroup {
			select {
			case o, ok := <-c.ops:
				if !ok {
					break gather
				}
				group = append(group, o)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		err := c.commit(group)
		var records []*op
		for _, o := range group {
			switch {
			case err == nil && o.kind == opRecord:
				records = append(records, o)
			case o.done != nil:
				o.done <- err
			case err != nil:
				c.fail(err)
			}
		}
		if len(records) > 0 {
			c.syncs <- records
		}
	}
}

// syncLoop makes the committed Records durable: one fsync of the WAL file
// for every group committed since the last one, then their callers return.
func (c *committer) syncLoop() {
	defer close(c.synced)
	var wal *os.File
	for records := range c.syncs {
	more:
		for {
			select {
			case rs, ok := <-c.syncs:
				if !ok {
					break more
				}
				records = append(records, rs...)
			default:
				break more
			}
		}
		var err error
		if wal == nil {
			// It exists: the committer has committed into it.
			wal, err = os.OpenFile(c.walPath, os.O_RDWR, 0)
		}
		if err == nil {
			err = wal.Sync()
		}
		if err != nil {
			err = fmt.Errorf("sync %s: %w", c.walPath, err)
		}
		for _, o := range records {
			if err == nil {
				// Visible to Lookup once durable, before its caller returns.
				c.l.keys.add(o.user, o.t, o.sn, o.atMilli)
			}
			o.done <- err
		}
	}
	if wal != nil {
		wal.Close()
	}
}

// fail keeps the first error of an op nobody waits for.
func (c *committer) fail(err error) {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	if c.asyncErr == nil {
		c.asyncErr = err
	}
}

// commit writes one group in one transaction. The context is not the
// callers': their writes must land whatever they do next.
func (c *committer) commit(group []*op) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx := context.Background()
	if _, err := c.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			c.conn.ExecContext(ctx, "ROLLBACK")
		}
	}()
	for _, o := range group {
		switch o.kind {
		case opIntent:
			_, err = c.upsertIntent.ExecContext(ctx, o.user, int(o.t), o.sn, o.at, c.l.runID)
		case opRecord:
			// Its intent is dropped by Close, or by the next Open after a
			// crash (dropResolved): one statement less per row.
			_, err = c.record.ExecContext(ctx, o.user, int(o.t), o.sn, o.at, c.l.runID, boolInt(o.lost))
		case opForget:
			_, err = c.dropIntent.ExecContext(ctx, o.user, int(o.t), o.sn)
		}
		if err != nil {
			return err
		}
	}
	if _, err = c.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// close commits what is queued, stops the goroutine and frees the
// connection. It returns the error of an op nobody waited for.
func (c *committer) close() error {
	c.closeMu.Lock()
	c.closed = true
	close(c.ops)
	c.closeMu.Unlock()
	<-c.ended
	c.closeStmts()
	_, err := c.conn.ExecContext(context.Background(), dropResolvedSQL)
	return errors.Join(c.pending(), err, c.conn.Close())
}

func (c *committer) closeStmts() {
	for _, st := range []*sql.Stmt{c.upsertIntent, c.record, c.dropIntent} {
		if st != nil {
			st.Close()
		}
	}
}
