// Package ledger is the reconciliation ledger of SPEC §5a: an embedded SQLite
// database (modernc.org/sqlite, pure Go, no cgo) of every registration that
// succeeded — username, token type, serial, when, and which run — so that a
// nightly run over the whole inventory skips what earlier runs registered.
//
// A Ledger is opened for one run and held exclusively for its lifetime
// through an advisory lock file beside the database (path + ".lock"); a
// second run refuses, or waits up to Options.Wait, with a message naming the
// holder. Record commits each success durably (group commit, then an fsync
// of the WAL; commit.go) before it returns, so the caller can write the
// result row after it. Intent and Forget append to an intent journal beside
// the database (journal.go), settled into its intents table when the run
// ends or, after a crash, when the next run opens the ledger. Export and
// Import move the ledger to and from CSV, so an operator can seed it from
// earlier result files.
//
// ledger must not import batch or cmd: batch depends on it through a small
// interface it declares, and cmd wires the two together. It reads result
// files and guards exported cells with report's formula guard (SPEC §5).
package ledger
