package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/internal/csvfile"
)

// batchLedger is batch.Ledger, copied so that this test does not import
// batch: *Ledger must satisfy it.
type batchLedger interface {
	Lookup(ctx context.Context, username string, t client.TokenType, tokenSn string) (at time.Time, found bool, err error)
	Record(ctx context.Context, username string, t client.TokenType, tokenSn string, at time.Time, lost bool) error
}

var _ batchLedger = (*Ledger)(nil)

// open opens a ledger that the test closes when it ends.
func open(t testing.TB, path string, opt Options) *Ledger {
	t.Helper()
	l, err := Open(context.Background(), path, opt)
	if err != nil {
		t.Fatalf("Open(%s, %+v) error = %v", path, opt, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// record records regs at their times, failing the test on error.
func record(t testing.TB, l *Ledger, regs ...reg) {
	t.Helper()
	for _, r := range regs {
		if err := l.Record(context.Background(), r.user, r.t, r.sn, r.at, false); err != nil {
			t.Fatalf("Record(%q, %v, %q) error = %v", r.user, r.t, r.sn, err)
		}
	}
}

// reg is one registration.
type reg struct {
	user string
	t    client.TokenType
	sn   string
	at   time.Time
}

// wantLookup checks one Lookup.
func wantLookup(t testing.TB, l *Ledger, user string, tt client.TokenType, sn string, wantFound bool, wantAt time.Time) {
	t.Helper()
	at, found, err := l.Lookup(context.Background(), user, tt, sn)
	if err != nil {
		t.Fatalf("Lookup(%q, %v, %q) error = %v", user, tt, sn, err)
	}
	if found != wantFound || !at.Equal(wantAt) {
		t.Errorf("Lookup(%q, %v, %q) = %v, %t, want %v, %t", user, tt, sn, at, found, wantAt, wantFound)
	}
}

var (
	t1 = time.Date(2026, 11, 28, 2, 15, 0, 123_000_000, time.UTC)
	t2 = t1.Add(24 * time.Hour)
)

func TestRecordLookup(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{RunID: "run-1"})
	record(t, l,
		reg{"alice", client.OTP, "OTP-0001", t1},
		reg{"alice", client.SMS, "+60123456789", t1},
		reg{"bob", client.SMS, "60111111111", t1.In(time.FixedZone("MYT", 8*3600))},
		reg{"carol", client.OTP, "OTP-0002", t2},
		reg{"carol", client.OTP, "OTP-0002", t1}, // earlier: the later time stays
		reg{"dave", client.OTP, "OTP-0003", t1},
		reg{"dave", client.OTP, "OTP-0003", t2}, // later: it replaces the earlier
	)
	tests := []struct {
		name      string
		user      string
		tt        client.TokenType
		sn        string
		wantFound bool
		wantAt    time.Time
	}{
		{"otp", "alice", client.OTP, "OTP-0001", true, t1},
		{"sms", "alice", client.SMS, "+60123456789", true, t1},
		{"other zone stored as UTC", "bob", client.SMS, "60111111111", true, t1},
		{"earlier record ignored", "carol", client.OTP, "OTP-0002", true, t2},
		{"later record kept", "dave", client.OTP, "OTP-0003", true, t2},
		{"miss", "erin", client.OTP, "OTP-9999", false, time.Time{}},
		{"username is exact", "Alice", client.OTP, "OTP-0001", false, time.Time{}},
		{"username not trimmed", "alice ", client.OTP, "OTP-0001", false, time.Time{}},
		{"serial is exact", "alice", client.OTP, "otp-0001", false, time.Time{}},
		{"type is part of the key", "alice", client.SMS, "OTP-0001", false, time.Time{}},
		{"serial of another user", "bob", client.OTP, "OTP-0001", false, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLookup(t, l, tt.user, tt.tt, tt.sn, tt.wantFound, tt.wantAt)
		})
	}
}

func TestRecordRejects(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	tests := []struct {
		name string
		user string
		tt   client.TokenType
		sn   string
	}{
		{"no type", "alice", 0, "OTP-1"},
		{"unknown type", "alice", 3, "OTP-1"},
		{"empty username", "", client.OTP, "OTP-1"},
		{"empty serial", "alice", client.OTP, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := l.Record(context.Background(), tt.user, tt.tt, tt.sn, t1, false); err == nil {
				t.Errorf("Record(%q, %d, %q) = nil, want error", tt.user, tt.tt, tt.sn)
			}
		})
	}
	if _, _, err := l.Lookup(context.Background(), "alice", 0, "OTP-1"); err == nil {
		t.Errorf("Lookup with token type 0 = nil error, want error")
	}
}

func TestRecordZeroTimeIsNow(t *testing.T) {
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	before := time.Now().Truncate(time.Millisecond)
	record(t, l, reg{"alice", client.OTP, "OTP-1", time.Time{}})
	at, found, err := l.Lookup(context.Background(), "alice", client.OTP, "OTP-1")
	if err != nil || !found {
		t.Fatalf("Lookup = %v, %t, %v, want found", at, found, err)
	}
	if at.Before(before) || at.After(time.Now()) {
		t.Errorf("Lookup = %v, want the time of Record (after %v)", at, before)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(context.Background(), path, Options{RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, reg{"alice", client.OTP, "OTP-1", t1})
	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close() = %v, want nil", err)
	}

	l2 := open(t, path, Options{RunID: "run-2"})
	wantLookup(t, l2, "alice", client.OTP, "OTP-1", true, t1)
	record(t, l2, reg{"bob", client.SMS, "60111111111", t2})
	var b strings.Builder
	if _, err := l2.Export(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	want := "username,tokenSn,tokenType,registered_at,run_id,lost\n" +
		"alice,OTP-1,OTP,2026-11-28T02:15:00.123Z,run-1,false\n" +
		"bob,60111111111,SMS,2026-11-29T02:15:00.123Z,run-2,false\n"
	if b.String() != want {
		t.Errorf("Export after reopen =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, path, Options{})
	record(t, l, reg{"alice", client.OTP, "OTP-1", t1}) // the WAL exists now
	for _, name := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s mode = %v, want no access for group and others", filepath.Base(name), perm)
		}
	}
}

// TestRecordIsDurableBeforeClose checks what a crash would leave: a Record
// that returned is in the database files before the Ledger is closed, seen
// by a fresh read-only connection and by a copy of the files taken at that
// moment (as if the process had been killed).
func TestRecordIsDurableBeforeClose(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	l := open(t, path, Options{})
	record(t, l, reg{"alice", client.OTP, "OTP-1", t1})

	ro := open(t, path, Options{ReadOnly: true})
	wantLookup(t, ro, "alice", client.OTP, "OTP-1", true, t1)

	// Record after the reader opened: it sees that too.
	record(t, l, reg{"bob", client.OTP, "OTP-2", t2})
	wantLookup(t, ro, "bob", client.OTP, "OTP-2", true, t2)

	// The crash: copy the database and its WAL, not the shared-memory
	// index (which a crash may leave stale) nor the lock file.
	crash := filepath.Join(t.TempDir(), "ledger.db")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(crash+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := open(t, crash, Options{})
	wantLookup(t, c, "alice", client.OTP, "OTP-1", true, t1)
	wantLookup(t, c, "bob", client.OTP, "OTP-2", true, t2)
}

func TestOpenInUse(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	first, err := Open(ctx, path, Options{RunID: "nightly-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	t.Run("refuses at once", func(t *testing.T) {
		l, err := Open(ctx, path, Options{})
		if err == nil {
			l.Close()
			t.Fatal("second Open = nil error, want ErrInUse")
		}
		if !errors.Is(err, ErrInUse) {
			t.Errorf("second Open error = %v, want ErrInUse", err)
		}
		for _, want := range []string{
			"ledger " + path + " is in use by another tokenreg run",
			"pid " + strconv.Itoa(os.Getpid()),
			"started ",
			"run nightly-1",
			"wait for it to finish, or use another ledger file",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("second Open error = %q, want it to contain %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "waiting") {
			t.Errorf("second Open error = %q, says it waited with Wait 0", err)
		}
	})

	t.Run("refuses after waiting", func(t *testing.T) {
		l, err := Open(ctx, path, Options{Wait: 3 * pollInterval / 2})
		if err == nil {
			l.Close()
			t.Fatal("second Open = nil error, want ErrInUse")
		}
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "still after waiting 150ms") {
			t.Errorf("second Open error = %v, want ErrInUse after waiting 150ms", err)
		}
	})

	t.Run("cancelled while waiting", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		l, err := Open(ctx, path, Options{Wait: time.Hour})
		if err == nil {
			l.Close()
			t.Fatal("second Open = nil error, want context.Canceled")
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("second Open error = %v, want context.Canceled", err)
		}
	})

	t.Run("read-only needs no lock", func(t *testing.T) {
		ro := open(t, path, Options{ReadOnly: true})
		if _, err := ro.Export(ctx, io.Discard); err != nil {
			t.Errorf("Export while another run holds the ledger: %v", err)
		}
	})

	t.Run("succeeds when the first closes", func(t *testing.T) {
		type result struct {
			l   *Ledger
			err error
		}
		done := make(chan result)
		go func() {
			l, err := Open(ctx, path, Options{Wait: time.Minute})
			done <- result{l, err}
		}()
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		r := <-done
		if r.err != nil {
			t.Fatalf("waiting Open error = %v, want success once the first closed", r.err)
		}
		r.l.Close()
	})
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		opt     Options
		want    string
	}{
		{
			name: "newer schema",
			prepare: func(t *testing.T, path string) {
				setPragma(t, path, "user_version", 99)
			},
			want: fmt.Sprintf("has schema version 99, newer than this tokenreg understands (%d)", schemaVersion),
		},
		{
			name: "newer schema read-only",
			prepare: func(t *testing.T, path string) {
				setPragma(t, path, "user_version", schemaVersion+1)
			},
			opt:  Options{ReadOnly: true},
			want: fmt.Sprintf("has schema version %d, newer than this tokenreg understands (%d)", schemaVersion+1, schemaVersion),
		},
		{
			name: "another program's database",
			prepare: func(t *testing.T, path string) {
				setPragma(t, path, "application_id", 42)
			},
			want: "an SQLite database of another program",
		},
		{
			name: "tables but no schema version",
			prepare: func(t *testing.T, path string) {
				execRaw(t, path, "CREATE TABLE users (name TEXT)")
			},
			want: "not a tokenreg ledger (it has 1 tables",
		},
		{
			name: "not SQLite",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte(strings.Repeat("username,tokenSn\n", 100)), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: "is not a tokenreg ledger (not an SQLite database)",
		},
		{
			name:    "read-only of a missing file",
			prepare: func(t *testing.T, path string) {},
			opt:     Options{ReadOnly: true},
			want:    "no such file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			tt.prepare(t, path)
			l, err := Open(ctx, path, tt.opt)
			if err == nil {
				l.Close()
				t.Fatalf("Open = nil error, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error = %q, want it to contain %q", err, tt.want)
			}
		})
	}

	t.Run("lock released after a refusal", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ledger.db")
		setPragma(t, path, "user_version", 99)
		if _, err := Open(ctx, path, Options{}); err == nil {
			t.Fatal("Open = nil error, want refusal")
		}
		setPragma(t, path, "user_version", schemaVersion)
		open(t, path, Options{})
	})
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, reg{"alice", client.OTP, "OTP-1", t1})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	ro := open(t, path, Options{ReadOnly: true})
	wantLookup(t, ro, "alice", client.OTP, "OTP-1", true, t1)
	if err := ro.Record(ctx, "bob", client.OTP, "OTP-2", t1, false); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Record on a read-only ledger = %v, want ErrReadOnly", err)
	}
	if _, _, err := ro.Import(ctx, strings.NewReader("username,tokenSn,tokenType,registered_at\n"), ""); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Import on a read-only ledger = %v, want ErrReadOnly", err)
	}
	// The connection itself is read-only, not only the methods.
	if _, err := ro.db.ExecContext(ctx, "DELETE FROM registrations"); err == nil {
		t.Errorf("DELETE on a read-only ledger's connection = nil error, want error")
	}
	wantLookup(t, ro, "alice", client.OTP, "OTP-1", true, t1)
	if _, err := os.Stat(path + ".lock"); err != nil {
		t.Fatalf("lock file: %v", err)
	}
}

// setPragma sets an integer pragma in a database, bypassing Open: a ledger
// is created first so that the pragma lands on a real one.
func setPragma(t *testing.T, path, name string, v int) {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		l, err := Open(context.Background(), path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	execRaw(t, path, fmt.Sprintf("PRAGMA %s = %d", name, v))
}

// execRaw runs one statement on the database at path.
func execRaw(t *testing.T, path, stmt string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func TestConcurrentLookupRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("-short (make check): 300 synced writes; make test runs it")
	}
	ctx := context.Background()
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	const n = 60 // each Record waits for an fsync
	sn := func(i int) string { return fmt.Sprintf("OTP-%04d", i) }

	// The writer records in order and publishes how far it got; the
	// reader, like batch's, looks up concurrently until the writer is done
	// and must see every record that returned before its lookup began.
	var (
		mu       sync.Mutex
		recorded = -1
		wg       sync.WaitGroup
		done     = make(chan struct{})
		errs     = make(chan error, 2)
	)
	wg.Go(func() {
		defer close(done)
		for i := range n {
			if err := l.Record(ctx, "alice", client.OTP, sn(i), t1, false); err != nil {
				errs <- err
				return
			}
			mu.Lock()
			recorded = i
			mu.Unlock()
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			mu.Lock()
			last := recorded
			mu.Unlock()
			_, found, err := l.Lookup(ctx, "alice", client.OTP, sn(max(last, 0)))
			if err != nil {
				errs <- err
				return
			}
			if last >= 0 && !found {
				errs <- fmt.Errorf("Lookup(%s) after its Record returned: not found", sn(last))
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		wantLookup(t, l, "alice", client.OTP, sn(i), true, t1)
	}
}

func TestOddPath(t *testing.T) {
	// The path goes into a file: URI; these must not cut or redirect it.
	dir := filepath.Join(t.TempDir(), "a b#c?d%e&f=g")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ledger.db")
	l, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, reg{"alice", client.OTP, "OTP-1", t1})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got, want := strings.Join(names, " "), "ledger.db ledger.db.lock"; got != want {
		t.Errorf("files in %s = %s, want %s", dir, got, want)
	}
	ro := open(t, path, Options{ReadOnly: true})
	wantLookup(t, ro, "alice", client.OTP, "OTP-1", true, t1)
}

func TestDurabilitySettings(t *testing.T) {
	// Open's promise rests on these; see dsn.
	l := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
	ctx := context.Background()
	// Hold two connections at once so that both are checked.
	c1, err := l.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := l.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for i, c := range []*sql.Conn{c1, c2} {
		var mode string
		var sync, busy int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 2 || busy != int(busyTimeout.Milliseconds()) {
			t.Errorf("connection %d: journal_mode %s, synchronous %d, busy_timeout %d; want wal, 2 (FULL), %d", i, mode, sync, busy, busyTimeout.Milliseconds())
		}
	}
}

func TestIntent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	// Run 1 notes its intent and "crashes" before the answer.
	l1 := open(t, path, Options{RunID: "run-1"})
	if earlier, err := l1.Intent(ctx, "alice", client.OTP, "OTP1"); err != nil || earlier {
		t.Fatalf("first Intent = %v, %v; want false, nil", earlier, err)
	}
	if earlier, err := l1.Intent(ctx, "bob", client.OTP, "OTP2"); err != nil || earlier {
		t.Fatalf("Intent = %v, %v", earlier, err)
	}
	if err := l1.Forget(ctx, "bob", client.OTP, "OTP2"); err != nil {
		t.Fatal(err)
	}
	l1.Close()

	l2 := open(t, path, Options{RunID: "run-2"})
	if earlier, err := l2.Intent(ctx, "alice", client.OTP, "OTP1"); err != nil || !earlier {
		t.Errorf("Intent after a crashed run = %v, %v; want true, nil", earlier, err)
	}
	if earlier, err := l2.Intent(ctx, "bob", client.OTP, "OTP2"); err != nil || earlier {
		t.Errorf("Intent after Forget = %v, %v; want false, nil", earlier, err)
	}
	if err := l2.Record(ctx, "alice", client.OTP, "OTP1", time.Now(), false); err != nil {
		t.Fatal(err)
	}
	if _, found, err := l2.Lookup(ctx, "alice", client.OTP, "OTP1"); err != nil || !found {
		t.Errorf("Lookup after Record = %v, %v", found, err)
	}
	// The recorded row's intent is dropped at Close (or, after a crash, by
	// the next Open); bob's, never answered in run 2, stays.
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var left []string
	rows, err := db.QueryContext(ctx, "SELECT username FROM intents ORDER BY username")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u string
		rows.Scan(&u)
		left = append(left, u)
	}
	if len(left) != 1 || left[0] != "bob" {
		t.Errorf("intents left after Record and Close = %q, want [bob]", left)
	}
}

// TestFormatTime: the fast formatter writes what time.Format writes with
// csvfile.TimeLayout, which Export and parseStored rely on.
func TestFormatTime(t *testing.T) {
	loc := time.FixedZone("X", 5*3600+1800)
	for _, tm := range []time.Time{
		t1, t2, time.Unix(0, 0), time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, loc), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Now(),
	} {
		want := tm.UTC().Format(csvfile.TimeLayout)
		if got := formatTime(tm); got != want {
			t.Errorf("formatTime(%v) = %q, want %q", tm, got, want)
		}
	}
}

// crash leaves l as a killed process would: the intent journal on disk,
// unsettled, and the lock free. Every Record made has returned, so it is
// durable either way.
func crash(t *testing.T, l *Ledger) {
	t.Helper()
	l.closeOnce.Do(func() {
		if err := l.com.close(); err != nil {
			t.Fatal(err)
		}
		l.jrn.closeFile()
		l.db.Close()
		l.lock.Unlock()
	})
}

// intentsTable returns the intents table as "user/type/sn run" lines.
func intentsTable(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT username, token_type, token_sn, run_id, sent_at FROM intents ORDER BY username")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var u, sn, run, at string
		var tt int
		if err := rows.Scan(&u, &tt, &sn, &run, &at); err != nil {
			t.Fatal(err)
		}
		if _, err := parseStored(at); err != nil {
			t.Errorf("intent of %s: sent_at %q: %v", u, at, err)
		}
		got = append(got, fmt.Sprintf("%s/%d/%s %s", u, tt, sn, run))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestIntentJournalAfterCrash: the intents a killed run noted in its
// journal, neither forgotten nor recorded, are the next run's earlier
// intents; the journal is settled into the database and removed.
func TestIntentJournalAfterCrash(t *testing.T) { bothWriters(t, testIntentJournalAfterCrash) }

func testIntentJournalAfterCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l1 := open(t, path, Options{RunID: "run-1"})
	for _, u := range []string{"ann", "bob", "cid", "dan"} {
		if _, err := l1.Intent(ctx, u, client.OTP, "OTP-"+u); err != nil {
			t.Fatal(err)
		}
	}
	if err := l1.Forget(ctx, "bob", client.OTP, "OTP-bob"); err != nil {
		t.Fatal(err)
	}
	if err := l1.Record(ctx, "cid", client.OTP, "OTP-cid", t1, false); err != nil {
		t.Fatal(err)
	}
	// dan is sent again and left unanswered: the later intent counts.
	if _, err := l1.Intent(ctx, "dan", client.OTP, "OTP-dan"); err != nil {
		t.Fatal(err)
	}
	crash(t, l1)
	if _, err := os.Stat(journalPath(path)); err != nil {
		t.Fatalf("journal after a crash: %v", err)
	}

	l2 := open(t, path, Options{RunID: "run-2"})
	if _, err := os.Stat(journalPath(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal after Open settled it: %v, want it removed", err)
	}
	if got, want := intentsTable(t, path), []string{"ann/2/OTP-ann run-1", "dan/2/OTP-dan run-1"}; !slices.Equal(got, want) {
		t.Errorf("intents table after Open = %q, want %q", got, want)
	}
	for _, c := range []struct {
		user    string
		earlier bool
	}{{"ann", true}, {"bob", false}, {"cid", false}, {"dan", true}} {
		if earlier, err := l2.Intent(ctx, c.user, client.OTP, "OTP-"+c.user); err != nil || earlier != c.earlier {
			t.Errorf("Intent(%s) after the crash = %t, %v; want %t", c.user, earlier, err, c.earlier)
		}
	}
	wantLookup(t, l2, "cid", client.OTP, "OTP-cid", true, t1)
}

// TestIntentJournalTornTail: a journal whose end was cut short or garbled
// (a power loss before the fsync) keeps the intents before the damage.
func TestIntentJournalTornTail(t *testing.T) {
	ctx := context.Background()
	for _, tail := range []struct {
		name string
		cut  func(b []byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)-3] }},
		{"checksum", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"zeros", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }},
	} {
		t.Run(tail.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			l1 := open(t, path, Options{RunID: "run-1"})
			for _, u := range []string{"ann", "bob"} {
				if _, err := l1.Intent(ctx, u, client.SMS, "+6012345678"+u[:1]); err != nil {
					t.Fatal(err)
				}
			}
			crash(t, l1)
			j, err := os.ReadFile(journalPath(path))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(journalPath(path), tail.cut(j), 0o600); err != nil {
				t.Fatal(err)
			}
			open(t, path, Options{RunID: "run-2"})
			want := []string{"ann/1/+6012345678a run-1"}
			if tail.name == "zeros" {
				want = append(want, "bob/1/+6012345678b run-1")
			}
			if got := intentsTable(t, path); !slices.Equal(got, want) {
				t.Errorf("intents after a torn journal = %q, want %q", got, want)
			}
		})
	}
}

// TestIntentJournalForeign: a file of someone else's where the journal
// goes is refused, not read or removed.
func TestIntentJournalForeign(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	open(t, path, Options{}).Close()
	if err := os.WriteFile(journalPath(path), []byte("not ours\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a tokenreg intent journal") {
		t.Fatalf("Open with a foreign file at %s = %v, want a refusal", journalPath(path), err)
	}
	if b, _ := os.ReadFile(journalPath(path)); string(b) != "not ours\n" {
		t.Errorf("the foreign file now holds %q", b)
	}
}

// TestIntentsCloseSettles: a clean Close moves the intents left open (sent,
// never answered) into the database with this run's id and removes the
// journal; resolved ones are gone.
func TestIntentsCloseSettles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, path, Options{RunID: "run-1"})
	for i := range 300 {
		u := fmt.Sprintf("user%03d", i)
		if _, err := l.Intent(ctx, u, client.OTP, "OTP-"+u); err != nil {
			t.Fatal(err)
		}
		switch {
		case i%3 == 0:
			if err := l.Record(ctx, u, client.OTP, "OTP-"+u, t1, false); err != nil {
				t.Fatal(err)
			}
		case i%3 == 1:
			if err := l.Forget(ctx, u, client.OTP, "OTP-"+u); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(journalPath(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("journal after Close: %v, want it removed", err)
	}
	got := intentsTable(t, path)
	if len(got) != 100 {
		t.Fatalf("%d intents left after Close, want 100: %q", len(got), got)
	}
	for _, g := range got {
		var i int
		if _, err := fmt.Sscanf(g, "user%03d", &i); err != nil || i%3 != 2 || !strings.HasSuffix(g, " run-1") {
			t.Errorf("intent left after Close: %q", g)
		}
	}
}

// TestIntentsOfEarlierVersion: a ledger whose intents table an earlier
// tokenreg wrote row by row (no journal) opens with this one, and its
// intents count as earlier ones until recorded or forgotten.
func TestIntentsOfEarlierVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	open(t, path, Options{}).Close()
	execRaw(t, path, `INSERT INTO intents (username, token_type, token_sn, sent_at, run_id) VALUES
		('ann', 2, 'OTP-ann', '2026-11-28T02:15:00.000Z', 'old'),
		('bob', 2, 'OTP-bob', '2026-11-28T02:15:00.000Z', 'old')`)
	l := open(t, path, Options{RunID: "new"})
	if earlier, err := l.Intent(ctx, "ann", client.OTP, "OTP-ann"); err != nil || !earlier {
		t.Errorf("Intent(ann) = %t, %v; want true (the old run's intent)", earlier, err)
	}
	if err := l.Record(ctx, "ann", client.OTP, "OTP-ann", t1, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := intentsTable(t, path), []string{"bob/2/OTP-bob old"}; !slices.Equal(got, want) {
		t.Errorf("intents after the new run = %q, want %q", got, want)
	}
}

// bothWriters runs f with the journal written through a mapping (where
// the system allows) and with write(2).
func bothWriters(t *testing.T, f func(t *testing.T)) {
	for _, mapped := range []bool{true, false} {
		t.Run(fmt.Sprintf("mapped=%t", mapped), func(t *testing.T) {
			defer func(v bool) { mapJournal = v }(mapJournal)
			mapJournal = mapped
			f(t)
		})
	}
}

// TestReadJournal: the open intents are the last word on each key.
func TestReadJournal(t *testing.T) { bothWriters(t, testReadJournal) }

func testReadJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := &journal{path: path, runID: "run-9"}
	at := time.UnixMilli(1_800_000_000_123)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.intent("a", client.OTP, "1", at))
	must(j.intent("b", client.OTP, "2", at))
	must(j.intent("c", client.SMS, "3", at))
	must(j.resolved([]*op{{user: "a", t: client.OTP, sn: "1"}}))
	must(j.forget("b", client.OTP, "2"))
	must(j.intent("a", client.OTP, "1", at.Add(time.Second))) // sent again
	must(j.intent("é\x00,\n", client.OTP, "x\"y", at))
	must(j.closeFile())
	run, open, err := readJournal(path)
	if err != nil || run != "run-9" {
		t.Fatalf("readJournal = %q, %v", run, err)
	}
	want := map[string]openIntent{
		"a": {user: "a", t: client.OTP, sn: "1", at: at.Add(time.Second).UnixMilli()},
		"c": {user: "c", t: client.SMS, sn: "3", at: at.UnixMilli()},
		"é": {user: "é\x00,\n", t: client.OTP, sn: "x\"y", at: at.UnixMilli()},
	}
	if len(open) != len(want) {
		t.Errorf("open intents = %v, want %v", open, want)
	}
	for _, in := range open {
		w, ok := want[string([]rune(in.user)[:1])]
		if !ok || w != in {
			t.Errorf("open intent %+v, want %+v", in, w)
		}
	}
}

// TestIntentJournalLong: a journal longer than what is mapped at a time
// (the mapping moves on) reads back whole, after a crash and after Close.
func TestIntentJournalLong(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds of real waits); make test runs it")
	}
	bothWriters(t, func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "ledger.db")
		l := open(t, path, Options{RunID: "run-1"})
		const n = 6_000 // entries of some 230 bytes: about 2 MB
		long := strings.Repeat("x", 200)
		for i := range n {
			u := fmt.Sprintf("%s-%06d", long, i)
			if _, err := l.Intent(ctx, u, client.SMS, "+60123456789"); err != nil {
				t.Fatal(err)
			}
			if i%2 == 0 {
				if err := l.Forget(ctx, u, client.SMS, "+60123456789"); err != nil {
					t.Fatal(err)
				}
			}
		}
		crash(t, l)
		if fi, err := os.Stat(journalPath(path)); err != nil || fi.Size() < 1<<20 {
			t.Fatalf("journal after %d intents: %v, %v; want over 1 MiB", n, fi, err)
		}
		l2 := open(t, path, Options{RunID: "run-2"})
		if got := len(intentsTable(t, path)); got != n/2 {
			t.Errorf("%d intents settled after a crash, want %d", got, n/2)
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRecordAsync: done is called once per registration, after it is
// durable (Lookup sees it), and at once with the error of one that cannot
// be queued.
func TestRecordAsync(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, path, Options{})
	const n = 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	calls := map[string]int{}
	for i := range n {
		u := fmt.Sprintf("user%03d", i)
		wg.Add(1)
		l.RecordAsync(ctx, u, client.OTP, "OTP-"+u, t1, i%2 == 0, func(err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("RecordAsync(%s) done(%v)", u, err)
			}
			// Durable, and visible, before done.
			if _, found, err := l.Lookup(ctx, u, client.OTP, "OTP-"+u); err != nil || !found {
				t.Errorf("Lookup(%s) in done = %t, %v", u, found, err)
			}
			mu.Lock()
			calls[u]++
			mu.Unlock()
		})
	}
	wg.Wait()
	for i := range n {
		if u := fmt.Sprintf("user%03d", i); calls[u] != 1 {
			t.Errorf("done of %s called %d times, want once", u, calls[u])
		}
	}
	var got error
	l.RecordAsync(ctx, "", client.OTP, "x", t1, false, func(err error) { got = err })
	if got == nil || !strings.Contains(got.Error(), "empty username") {
		t.Errorf("RecordAsync of an empty username: done(%v), want the refusal at once", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got = nil
	l.RecordAsync(ctx, "late", client.OTP, "x", t1, false, func(err error) { got = err })
	if got == nil {
		t.Error("RecordAsync after Close: done(nil), want an error")
	}
	ro := open(t, path, Options{ReadOnly: true})
	got = nil
	ro.RecordAsync(ctx, "ro", client.OTP, "x", t1, false, func(err error) { got = err })
	if !errors.Is(got, ErrReadOnly) {
		t.Errorf("RecordAsync on a read-only ledger: done(%v), want ErrReadOnly", got)
	}
	n2 := 0
	ro2, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro2.Close()
	for i := range n {
		u := fmt.Sprintf("user%03d", i)
		if _, found, _ := ro2.Lookup(ctx, u, client.OTP, "OTP-"+u); found {
			n2++
		}
	}
	if n2 != n {
		t.Errorf("%d of %d async records found after reopening", n2, n)
	}
}
