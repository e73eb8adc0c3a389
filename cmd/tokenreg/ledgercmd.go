package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/tokenreg/tokenreg/ledger"
)

// openLedger opens the ledger for a run, waiting a little for another run
// that holds it.
func openLedger(ctx context.Context, path string, logger *slog.Logger) (*ledger.Ledger, error) {
	lg, err := ledger.Open(ctx, path, ledger.Options{Wait: 5 * time.Second})
	if err != nil {
		return nil, usagef("--ledger: %v", err)
	}
	logger.Debug("ledger open", "file", path)
	return lg, nil
}

const ledgerUsage = `Usage:
  tokenreg ledger export --ledger FILE [--out LEDGER.csv]
  tokenreg ledger import --ledger FILE RESULT.csv [RESULT2.csv ...]

The ledger (--ledger FILE on run and retry) remembers every registration that
succeeded, so a nightly run over the whole inventory sends only what is new.
export writes it as CSV (username,tokenSn,tokenType,registered_at,run_id,lost;
lost=true marks a success inferred after a lost answer), to stdout without
--out; import seeds it from earlier result files (their ok
rows) or from an exported CSV.

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
	fs.Usage = func() { fmt.Fprint(stderr, ledgerUsage); fs.PrintDefaults() }
	if len(args) == 0 {
		fs.Usage()
		return exitUsage, usagef("ledger needs a subcommand: export or import")
	}
	sub := args[0]
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
		lg, err := ledger.Open(ctx, *path, ledger.Options{ReadOnly: true})
		if err != nil {
			return exitUsage, usagef("ledger export: %v", err)
		}
		defer lg.Close()
		w := stdout
		var f *os.File
		if *out != "" && *out != "-" {
			if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
				return exitUsage, usagef("ledger export: %v", err)
			}
			defer f.Close()
			w = f
		}
		n, err := lg.Export(ctx, w)
		if err != nil {
			return exitUsage, fmt.Errorf("ledger export: %w", err)
		}
		if f != nil {
			if err := f.Sync(); err != nil {
				return exitUsage, fmt.Errorf("ledger export: %w", err)
			}
		}
		fmt.Fprintf(stderr, "exported %d registrations\n", n)
	case "import":
		if len(pos) == 0 {
			return exitUsage, usagef("ledger import needs one or more result files")
		}
		lg, err := ledger.Open(ctx, *path, ledger.Options{Wait: 5 * time.Second})
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
