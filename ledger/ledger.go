package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/internal/csvfile"
	"github.com/tokenreg/tokenreg/internal/safefile"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeout is how long a connection waits for a lock held by another
// connection (an export reading while the run checkpoints, say) before
// SQLite reports SQLITE_BUSY. Runs exclude each other with the lock file,
// not with this.
const busyTimeout = 10 * time.Second

// ErrReadOnly is returned by Record and Import on a Ledger opened with
// Options.ReadOnly.
var ErrReadOnly = errors.New("ledger opened read-only")

// Options configures Open. The zero value opens the ledger for writing,
// refuses at once if another run holds it, and names this run by the time
// and process id.
type Options struct {
	// RunID identifies this run in the rows it records. Default: the start
	// time and process id, such as "20261128T021500Z-4242".
	RunID string
	// Wait is how long Open waits for another run that holds the ledger
	// before refusing. 0 refuses at once.
	Wait time.Duration
	// ReadOnly opens the ledger for Lookup and Export only. It takes no
	// lock, so it can read a ledger while a run is writing it, and it
	// never creates or migrates the database.
	ReadOnly bool
	// ForgetOwnKeys keeps the keys this Ledger records out of the
	// in-memory set that answers Lookup (keys.go), so that it does not grow
	// with the run: about 40 bytes a recorded row, 40 MB over a fresh run
	// of a million. Lookup then finds what earlier runs and imports
	// recorded, and what this Ledger recorded before its first Lookup, but
	// not what it recorded since. For a caller that never looks up a key it
	// recorded itself: batch checks for a duplicate (tokenType, tokenSn)
	// before the ledger, so a key it recorded is never looked up again.
	ForgetOwnKeys bool
}

// Ledger is an open ledger database. It is safe for concurrent use: Lookup
// may run in one goroutine while Record runs in another. The caller must
// Close it, which releases the lock for the next run.
type Ledger struct {
	path      string // as the caller gave it, for messages
	abs       string
	runID     string
	readOnly  bool
	forgetOwn bool // Options.ForgetOwnKeys

	db     *sql.DB
	lookup *sql.Stmt      // read-only opens: Lookup queries the database
	com    *committer     // nil when read-only
	jrn    *journal       // the intent journal; nil when read-only
	lock   *safefile.Lock // nil when read-only

	// keys answers a writable ledger's Lookups from memory.
	keys *keySet

	// prior holds the keys of intents left by other runs (read at Open:
	// no other run writes while this one holds the lock), removed as this
	// run writes or drops its own intent of the key.
	priorMu sync.Mutex
	prior   map[string]struct{}

	closeOnce sync.Once
	closeErr  error
}

// Open opens the ledger at path, creating it (mode 0600: it names users and
// their phone numbers) and its schema if need be. Unless opt.ReadOnly, it
// first takes the lock file path+".lock" for the Ledger's lifetime; if
// another run holds it, Open retries until opt.Wait has passed and then
// returns an error that matches ErrInUse. A database written by a newer
// tokenreg (a higher schema version) or a file that is not a tokenreg
// ledger is refused.
//
// The ledger must be on a local file system: SQLite's WAL mode shares
// memory between the connections, which a network file system cannot do.
func Open(ctx context.Context, path string, opt Options) (_ *Ledger, err error) {
	if path == "" {
		return nil, errors.New("open ledger: no file name given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	l := &Ledger{path: path, abs: abs, runID: opt.RunID, readOnly: opt.ReadOnly, forgetOwn: opt.ForgetOwnKeys}
	if l.runID == "" {
		l.runID = defaultRunID(time.Now(), os.Getpid())
	}
	// A failure from here on releases what was taken.
	defer func() {
		if err != nil {
			l.Close()
		}
	}()

	if opt.ReadOnly {
		// SQLite would report only "unable to open database file".
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("open ledger: %w", err)
		}
	} else {
		if l.lock, err = acquire(ctx, path, opt.Wait, l.runID); err != nil {
			return nil, err
		}
		// The database and SQLite's files beside it obey the lock file's
		// rules (see acquire): no links, regular, the effective user's.
		f, err := openOwned(abs)
		if err != nil {
			return nil, fmt.Errorf("open ledger: %w", err)
		}
		f.Close()
		for _, side := range []string{abs + "-wal", abs + "-shm", journalPath(abs)} {
			if err := checkSidecar(side); err != nil {
				return nil, fmt.Errorf("open ledger: %w", err)
			}
		}
	}

	if l.db, err = sql.Open("sqlite", dsn(abs, opt.ReadOnly)); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	// One connection for the reader goroutine's Lookups, one for the
	// writer's Records, a spare for Export; kept open so that each keeps
	// its prepared statements.
	l.db.SetMaxOpenConns(4)
	l.db.SetMaxIdleConns(4)
	l.db.SetConnMaxLifetime(0)
	l.db.SetConnMaxIdleTime(0)

	if err := l.migrate(ctx); err != nil {
		return nil, err
	}
	if opt.ReadOnly {
		if l.lookup, err = l.db.PrepareContext(ctx, `SELECT registered_at FROM registrations
			WHERE username = ? AND token_type = ? AND token_sn = ?`); err != nil {
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
		return l, nil
	}
	l.keys = newKeySet()
	// The intents a crashed run left in its journal join the others.
	if err := settleJournal(ctx, l.db, journalPath(abs)); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	l.jrn = &journal{path: journalPath(abs), runID: l.runID}
	if err := l.loadPrior(ctx); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	if err := l.startCommitter(ctx); err != nil {
		return nil, fmt.Errorf("open ledger %s: %w", path, err)
	}
	return l, nil
}

// journalPath is the intent journal of the ledger at abs.
func journalPath(abs string) string { return abs + "-intents" }

// loadPrior reads the intents other runs left behind (settleJournal has
// dropped those whose registration was recorded).
func (l *Ledger) loadPrior(ctx context.Context) error {
	rows, err := l.db.QueryContext(ctx, `SELECT username, token_type, token_sn FROM intents WHERE run_id <> ?`, l.runID)
	if err != nil {
		return err
	}
	defer rows.Close()
	l.prior = make(map[string]struct{})
	for rows.Next() {
		var user, sn string
		var t int
		if err := rows.Scan(&user, &t, &sn); err != nil {
			return err
		}
		l.prior[intentKey(user, client.TokenType(t), sn)] = struct{}{}
	}
	return rows.Err()
}

// intentKey is the exact key of prior.
func intentKey(user string, t client.TokenType, sn string) string {
	return user + "\x00" + strconv.Itoa(int(t)) + "\x00" + sn
}

// dropPrior removes a key from prior and reports whether it was there.
func (l *Ledger) dropPrior(user string, t client.TokenType, sn string) bool {
	l.priorMu.Lock()
	defer l.priorMu.Unlock()
	if len(l.prior) == 0 {
		return false
	}
	k := intentKey(user, t, sn)
	_, ok := l.prior[k]
	delete(l.prior, k)
	return ok
}

// dsn is the driver's name for the database at abs. Every connection of the
// pool runs its pragmas.
//
// Durability: journal_mode=WAL with synchronous=FULL on every connection
// of the pool (Import, Export, migrations). A run's writes go through the
// committer's own connection instead (commit.go), which commits with
// synchronous=NORMAL and fsyncs the WAL itself before a Record returns: a
// Record that returned survives a power loss or kernel panic, not only a
// killed process, as SPEC §5a needs (with the last commits rolled back
// after a power loss while the result row, written later but flushed by the
// OS, survived, the next nightly run would send that registration again).
func dsn(abs string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	if readOnly {
		q.Set("mode", "ro")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(FULL)")
		// Take the write lock at BEGIN, so a transaction never fails
		// half-way when upgrading a read lock.
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	if filepath.VolumeName(abs) != "" {
		u.Path = "/" + u.Path // file:///C:/x/ledger.db
	}
	return u.String()
}

// defaultRunID names a run by its start time and process id.
func defaultRunID(now time.Time, pid int) string {
	return now.UTC().Format("20060102T150405Z") + "-" + strconv.Itoa(pid)
}

// Lookup reports whether the registration of tokenSn (of type t) to
// username was recorded, and when (to the millisecond). The key is exact:
// no case folding or trimming. It is safe to call concurrently with Record,
// and sees every Record that has returned.
//
// On a writable ledger the first Lookup reads every key once into memory
// (see keys.go: 16 bytes a registration), and Lookups are then answered
// from there. A read-only ledger queries the database each time, so that
// it sees what a run writing the ledger meanwhile records.
func (l *Ledger) Lookup(ctx context.Context, username string, t client.TokenType, tokenSn string) (at time.Time, found bool, err error) {
	if !t.Valid() {
		return time.Time{}, false, fmt.Errorf("ledger lookup: invalid token type %d", int(t))
	}
	if l.keys != nil {
		if err := l.keys.load(ctx, l.db); err != nil {
			return time.Time{}, false, fmt.Errorf("ledger lookup: %w", err)
		}
		ms, found := l.keys.lookup(l.keys.fingerprint(username, t, tokenSn))
		if !found {
			return time.Time{}, false, nil
		}
		return time.UnixMilli(ms).UTC(), true, nil
	}
	// A lookup takes microseconds: checking ctx first is enough, and a
	// cancellable ctx would cost database/sql a goroutine per query.
	if err := ctx.Err(); err != nil {
		return time.Time{}, false, fmt.Errorf("ledger lookup: %w", err)
	}
	var s string
	err = l.lookup.QueryRowContext(context.WithoutCancel(ctx), username, int(t), tokenSn).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("ledger lookup: %w", err)
	}
	at, err = parseStored(s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("ledger lookup: %w", err)
	}
	return at, true, nil
}

// Record stores the registration of tokenSn (of type t) to username at the
// time at (now if zero), with this run's RunID, and drops its intent.
// lost says the success was inferred rather than answered: the server said
// 29004, 29008 or 29017 ("probably registered to this user") after an
// attempt whose answer was lost (SPEC §5a). Such a registration is skipped
// by later runs like any other, and `ledger export` shows the flag.
//
// When Record returns nil the registration is durable (see Open): it was
// committed in a group with the other writes queued meanwhile (group
// commit, see commit.go), so concurrent callers share one transaction and
// one fsync. A registration already recorded keeps the later of the two
// times. It is safe to call concurrently with Lookup, Intent and itself.
func (l *Ledger) Record(ctx context.Context, username string, t client.TokenType, tokenSn string, at time.Time, lost bool) error {
	o, err := l.recordOp(username, t, tokenSn, at, lost)
	if err != nil {
		return err
	}
	o.done = make(chan error, 1)
	if err := l.com.submit(ctx, o); err != nil {
		return fmt.Errorf("ledger record: %w", err)
	}
	return nil
}

// RecordAsync is Record without waiting: it queues the registration and
// returns, and done is called once with what Record would have returned,
// when the registration is durable (from the ledger's own goroutine: done
// must not call Record or Close, nor wait for anything that does) or at
// once if it cannot be queued. batch's record stage uses it so that no
// goroutine waits for each success.
func (l *Ledger) RecordAsync(ctx context.Context, username string, t client.TokenType, tokenSn string, at time.Time, lost bool, done func(error)) {
	o, err := l.recordOp(username, t, tokenSn, at, lost)
	if err != nil {
		done(err)
		return
	}
	o.then = func(err error) {
		if err != nil {
			err = fmt.Errorf("ledger record: %w", err)
		}
		done(err)
	}
	if err := l.com.submit(ctx, o); err != nil {
		done(fmt.Errorf("ledger record: %w", err))
	}
}

// recordOp checks a registration and makes its op.
func (l *Ledger) recordOp(username string, t client.TokenType, tokenSn string, at time.Time, lost bool) (*op, error) {
	if l.readOnly {
		return nil, ErrReadOnly
	}
	if err := checkKey(username, t, tokenSn); err != nil {
		return nil, fmt.Errorf("ledger record: %w", err)
	}
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC().Truncate(time.Millisecond)
	l.dropPrior(username, t, tokenSn)
	return &op{user: username, t: t, sn: tokenSn, at: formatTime(at), atMilli: at.UnixMilli(), lost: lost}, nil
}

// Intent notes that the registration is about to be sent, and reports
// whether another run had noted it and never learnt the outcome (it
// crashed, or every attempt went unanswered): the server may have applied
// it, so a 29004, 29008 or 29017 now most likely meets that earlier
// success. It returns once the intent is written to the intent journal
// (journal.go): it survives a killed process from then on, and a power
// loss once a later Record has returned.
func (l *Ledger) Intent(ctx context.Context, username string, t client.TokenType, tokenSn string) (earlier bool, err error) {
	if l.readOnly {
		return false, ErrReadOnly
	}
	if err := checkKey(username, t, tokenSn); err != nil {
		return false, fmt.Errorf("ledger intent: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("ledger intent: %w", err)
	}
	earlier = l.dropPrior(username, t, tokenSn)
	if err := l.jrn.intent(username, t, tokenSn, time.Now()); err != nil {
		return false, fmt.Errorf("ledger intent: %w", err)
	}
	return earlier, nil
}

// Forget removes the intent of a registration the server answered with a
// failure (its outcome is known, and it was not applied) or that was never
// sent. Like Intent it is one write to the intent journal.
func (l *Ledger) Forget(ctx context.Context, username string, t client.TokenType, tokenSn string) error {
	if l.readOnly {
		return ErrReadOnly
	}
	l.dropPrior(username, t, tokenSn)
	if err := l.jrn.forget(username, t, tokenSn); err != nil {
		return fmt.Errorf("ledger forget: %w", err)
	}
	return nil
}

// RunID returns the name this run's rows are recorded with.
func (l *Ledger) RunID() string { return l.runID }

// Close commits the Records queued, moves the intents left open into the
// database (see journal.go), closes the database (checkpointing its WAL
// into the main file) and releases the lock. Calling it again returns the
// first call's result.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		if l.com != nil {
			errs = append(errs, l.com.close())
		}
		if l.jrn != nil {
			errs = append(errs, l.jrn.closeFile())
			// On failure the journal stays, and the next Open settles it.
			errs = append(errs, settleJournal(context.Background(), l.db, l.jrn.path))
		}
		if l.lookup != nil {
			errs = append(errs, l.lookup.Close())
		}
		if l.db != nil {
			errs = append(errs, l.db.Close())
		}
		if l.lock != nil {
			errs = append(errs, l.lock.Unlock())
		}
		if err := errors.Join(errs...); err != nil {
			l.closeErr = fmt.Errorf("close ledger %s: %w", l.path, err)
		}
	})
	return l.closeErr
}

// checkKey rejects a registration that could not have been sent.
func checkKey(username string, t client.TokenType, tokenSn string) error {
	switch {
	case !t.Valid():
		return fmt.Errorf("invalid token type %d", int(t))
	case username == "":
		return errors.New("empty username")
	case tokenSn == "":
		return errors.New("empty tokenSn")
	}
	return nil
}

// boolInt is b as SQLite stores it.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// formatTime formats t as registered_at is stored: csvfile.TimeLayout in
// UTC, such as 2026-11-28T02:15:00.123Z. Years 0 to 9999 are written
// digit by digit (time.Format costs a Record several µs); others by Format.
func formatTime(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(csvfile.TimeLayout)
	}
	hour, minute, sec := t.Clock()
	ms := t.Nanosecond() / 1e6
	var b [24]byte
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			b[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, year, 4)
	b[4] = '-'
	put(5, int(month), 2)
	b[7] = '-'
	put(8, day, 2)
	b[10] = 'T'
	put(11, hour, 2)
	b[13] = ':'
	put(14, minute, 2)
	b[16] = ':'
	put(17, sec, 2)
	b[19] = '.'
	put(20, ms, 3)
	b[23] = 'Z'
	return string(b[:])
}

// parseStored parses a stored registered_at. RFC3339Nano also accepts
// values written without fractional seconds (by hand, say).
func parseStored(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored registered_at %q is not an RFC 3339 time", s)
	}
	return t.UTC(), nil
}
