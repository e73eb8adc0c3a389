package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/tokenreg/tokenreg/internal/safefile"
	"github.com/tokenreg/tokenreg/ledger"
)

// ledgerWait is how long a run (or import) waits for another run that
// holds the ledger before refusing; tests shorten it.
var ledgerWait atomic.Int64

func init() { ledgerWait.Store(int64(5 * time.Second)) }

// openLedger opens the ledger for a run, waiting a little for another run
// that holds it. A run never looks up a key it recorded itself (its
// duplicate check comes first), so its keys stay out of the memory that
// answers lookups.
func openLedger(ctx context.Context, path string, logger *slog.Logger) (*ledger.Ledger, error) {
	lg, err := ledger.Open(ctx, path, ledger.Options{Wait: time.Duration(ledgerWait.Load()), ForgetOwnKeys: true})
	if err != nil {
		return nil, usagef("--ledger: %v", err)
	}
	logger.Debug("ledger open", "file", path)
	return lg, nil
}

const ledgerUsage = `Usage:
  tokenreg ledger export --ledger FILE [--out LEDGER.csv [--force]]
  tokenreg ledger import --ledger FILE RESULT.csv [RESULT2.csv ...]

The ledger (--ledger FILE on run and retry) remembers every registration that
succeeded, so a nightly run over the whole inventory sends only what is new.
export writes it as CSV (username,tokenSn,tokenType,registered_at,run_id,lost;
lost=true marks a success inferred after a lost answer), to stdout without
--out; an existing --out is replaced only with --force. import seeds it from
earlier result files (their ok rows, and their failed rows that most likely
met their own lost success, flagged lost) or from an exported CSV.

Examples:
  tokenreg ledger import --ledger /var/lib/tokenreg/ledger.db 2026-q3.result.csv
  tokenreg ledger export --ledger /var/lib/tokenreg/ledger.db --out ledger.csv

Flags:
`

func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("tokenreg ledger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("ledger", "", "the ledger database `FILE`")
	out := fs.String("out", "", "export: write to `FILE` instead of stdout")
	force := fs.Bool("force", false, "export: replace an existing --out file")
	fs.Usage = func() { fmt.Fprint(stderr, ledgerUsage); fs.PrintDefaults() }
	if len(args) == 0 {
		fs.Usage()
		return exitUsage, usagef("ledger needs a subcommand: export or import")
	}
	sub := args[0]
	if isHelpFlag(sub) {
		fs.Usage()
		return exitOK, errHelp
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitUsage, err
	}
	if *path == "" {
		return exitUsage, usagef("ledger %s: --ledger FILE is required", sub)
	}
	switch sub {
	case "export":
		if len(pos) != 0 {
			return exitUsage, usagef("ledger export takes no arguments")
		}
		if _, err := os.Stat(*path); err != nil {
			return exitUsage, usagef("ledger export: %v", err)
		}
		for _, own := range []string{*path, *path + "-wal", *path + "-shm", *path + ".lock"} {
			if *out != "" && *out != "-" && samePath(*out, own) {
				return exitUsage, usagef("ledger export: --out %s is the ledger's own file: export to another file", *out)
			}
		}
		lg, err := ledger.Open(ctx, *path, ledger.Options{ReadOnly: true})
		if err != nil {
			return exitUsage, usagef("ledger export: %v", err)
		}
		defer lg.Close()
		if *out == "" || *out == "-" {
			n, err := lg.Export(ctx, stdout)
			if err != nil {
				return exitUsage, fmt.Errorf("ledger export: %w", err)
			}
			fmt.Fprintf(stderr, "exported %d registrations\n", n)
			return exitOK, nil
		}
		n, err := exportFile(ctx, lg, *out, *force)
		if err != nil {
			return exitUsage, err
		}
		fmt.Fprintf(stderr, "exported %d registrations\n", n)
	case "import":
		if len(pos) == 0 {
			return exitUsage, usagef("ledger import needs one or more result files")
		}
		lg, err := ledger.Open(ctx, *path, ledger.Options{Wait: time.Duration(ledgerWait.Load())})
		if err != nil {
			return exitUsage, usagef("ledger import: %v", err)
		}
		defer lg.Close()
		for _, p := range pos {
			f, err := os.Open(p)
			if err != nil {
				return exitUsage, usagef("ledger import: %v", err)
			}
			n, skipped, err := lg.Import(ctx, f, "import:"+p)
			f.Close()
			if err != nil {
				return exitUsage, fmt.Errorf("ledger import %s: %w", p, err)
			}
			fmt.Fprintf(stderr, "%s: imported %d registrations (%d rows were not ok or already known)\n", p, n, skipped)
		}
	default:
		fs.Usage()
		return exitUsage, usagef("unknown ledger subcommand %q: use export or import", sub)
	}
	return exitOK, nil
}

// exportFile writes the export through safefile's atomic writer: a new
// temporary file beside name (created exclusively, mode 0600, so no planted
// file or link is written through), synced, and put in place: without force
// only if nothing has the name, in one step (link-if-absent); with force
// renamed over name, which replaces a link or another user's file rather
// than writing into it. A failure leaves name as it was.
func exportFile(ctx context.Context, lg *ledger.Ledger, name string, force bool) (int, error) {
	exists := func() error {
		return usagef("ledger export: %s already exists: pass --force to replace it, or choose another --out", name)
	}
	if fi, err := os.Lstat(name); err == nil && !force {
		// Early, before the export; Commit is what makes sure.
		if fi.IsDir() {
			return 0, usagef("ledger export: --out %s is a directory: name a file", name)
		}
		return 0, exists()
	}
	a, err := safefile.Create(name, 0o600, safefile.Options{Replace: force})
	if err != nil {
		return 0, usagef("ledger export: %v", err)
	}
	defer a.Close()
	bw := bufio.NewWriterSize(a, 256<<10)
	n, err := lg.Export(ctx, bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return 0, fmt.Errorf("ledger export: %w", err)
	}
	if err := a.Commit(); errors.Is(err, fs.ErrExist) && !force {
		return 0, exists()
	} else if err != nil {
		return 0, fmt.Errorf("ledger export: %w", err)
	}
	return n, nil
}
