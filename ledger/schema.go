package ledger

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// applicationID marks the SQLite file as a tokenreg ledger ("tkrg"), so
// that `file` and Open can tell it from another program's database.
const applicationID = 0x746b7267

// migrations[i] takes the schema from version i to version i+1; the
// database's PRAGMA user_version is the number applied. Never edit an entry
// once released: append a new one.
var migrations = []string{
	// 0 -> 1. WITHOUT ROWID: the table is its primary-key index, so a
	// Lookup is one B-tree search.
	`CREATE TABLE registrations (
		username      TEXT    NOT NULL,
		token_type    INTEGER NOT NULL CHECK (token_type IN (1, 2)),
		token_sn      TEXT    NOT NULL,
		registered_at TEXT    NOT NULL,
		run_id        TEXT    NOT NULL,
		PRIMARY KEY (username, token_type, token_sn)
	) WITHOUT ROWID`,
	// 1 -> 2. An intent is written before a registration is first sent and
	// removed once the server answered; one left behind by another run
	// means that run crashed with the request's outcome unknown.
	`CREATE TABLE intents (
		username   TEXT    NOT NULL,
		token_type INTEGER NOT NULL CHECK (token_type IN (1, 2)),
		token_sn   TEXT    NOT NULL,
		sent_at    TEXT    NOT NULL,
		run_id     TEXT    NOT NULL,
		PRIMARY KEY (username, token_type, token_sn)
	) WITHOUT ROWID`,
	// 2 -> 3. lost = 1: the success was inferred, not answered — a
	// 29004/29008/29017 after an attempt whose answer was lost (SPEC §5a:
	// "recorded too, flagged as such").
	`ALTER TABLE registrations ADD COLUMN lost INTEGER NOT NULL DEFAULT 0 CHECK (lost IN (0, 1))`,
}

// schemaVersion is the version this code reads and writes.
var schemaVersion = len(migrations)

// migrate checks the schema and, unless read-only, brings it up to
// schemaVersion in one transaction.
func (l *Ledger) migrate(ctx context.Context) error {
	if l.readOnly {
		ver, err := l.readVersion(ctx, l.db)
		if err != nil {
			return err
		}
		if ver < schemaVersion {
			return fmt.Errorf("ledger %s has schema version %d, and a read-only open cannot upgrade it to %d: open it once for writing first (a run or an import with it), which upgrades it", l.path, ver, schemaVersion)
		}
		return nil
	}

	tx, err := l.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsn
	if err != nil {
		return l.openError(err)
	}
	defer tx.Rollback()
	ver, err := l.readVersion(ctx, tx)
	if err != nil {
		return err
	}
	if ver == schemaVersion {
		return nil
	}
	if ver == 0 {
		// Schema version 0 is a new, empty file; tables in it belong to
		// someone else.
		var tables int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
			return l.openError(err)
		}
		if tables > 0 {
			return fmt.Errorf("%s is an SQLite database but not a tokenreg ledger (it has %d tables and no ledger schema): use another ledger file", l.path, tables)
		}
	}
	for v := ver; v < schemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("upgrade ledger %s to schema version %d: %w", l.path, v+1, err)
		}
	}
	// PRAGMA takes no parameters; both values are integers of ours.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
		return l.openError(err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return l.openError(err)
	}
	if err := tx.Commit(); err != nil {
		return l.openError(err)
	}
	return nil
}

// readVersion reads the schema version through q (the database, or the
// migration's transaction), refusing another program's database and a
// newer schema.
func (l *Ledger) readVersion(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (int, error) {
	var app, ver int
	if err := q.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return 0, l.openError(err)
	}
	if err := q.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return 0, l.openError(err)
	}
	if app != 0 && app != applicationID {
		return 0, fmt.Errorf("%s is an SQLite database of another program (application_id %#x), not a tokenreg ledger: use another ledger file", l.path, app)
	}
	if ver > schemaVersion {
		return 0, fmt.Errorf("ledger %s has schema version %d, newer than this tokenreg understands (%d): it was written by a newer tokenreg; upgrade tokenreg, or use another ledger file", l.path, ver, schemaVersion)
	}
	return ver, nil
}

// openError wraps a failure to read the database, saying plainly when the
// file is not SQLite at all.
func (l *Ledger) openError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return fmt.Errorf("%s is not a tokenreg ledger (not an SQLite database): use another ledger file: %w", l.path, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("open ledger %s: %w", l.path, err)
}
