//go:build !windows

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/tokenreg/tokenreg/report"
)

// The ledger's bars (SPEC §7).
const (
	ledgerBar       = 0.80    // --ledger rows/s ÷ no-ledger rows/s, new rows
	nightlyTimeBar  = 15.0    // seconds, 1M inventory, 99% in the ledger
	nightlyRSSBar   = 96e6    // bytes
	nightlyBarRows  = 1000000 // the row count both nightly bars are for
	validateTimeBar = 5.0     // seconds, validate of 1M rows
	validateBarRows = 1000000 // the row count the validate bar is for
	nightlyNewEvery = 100     // every 100th inventory row is new: 1%
	ledgerSeries    = 6       // phone-number series of the ledger figure's rows
	nightlySeries   = 7       // and of the nightly inventory
	validateSeries  = 8       // and of validate's input
	ledgerTimeout   = 5 * time.Minute
)

// ledgerCost compares `run --rate 0` over new rows with and without a fresh
// --ledger, each against a fresh simulator, in alternating pairs like the
// throughput figure: SPEC §7's "a --ledger run of new rows keeps at least
// 80% of the throughput of the same run without it".
func (b *bench) ledgerCost(ctx context.Context, sz sizes) error {
	n := sz.ledgerRows
	state, input, err := b.writeFiles("ledger", n, ledgerSeries)
	if err != nil {
		return err
	}
	var ratios, with, without []float64
	var cpuWith, cpuWithout, sysWith, sysWithout time.Duration
	for rep := range sz.ledgerReps {
		sides := []bool{false, true}
		if rep%2 == 1 {
			sides[0], sides[1] = true, false
		}
		for _, useLedger := range sides {
			flags := []string{"--rate", "0"}
			name := "no ledger"
			if useLedger {
				flags = append(flags, "--ledger", b.path("ledger.db"))
				name = "--ledger"
			}
			r, st, _, err := b.simRun(ctx, state, nil, func(url string) (runResult, error) {
				return b.runTokenreg(ctx, url, input, n, ledgerTimeout, flags...)
			})
			if err != nil {
				return err
			}
			if err := st.allOK(n); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			fmt.Fprintf(b.log, "  run %d %-9s %6.0f rows/s (%d rows in %s; CPU %s)\n",
				rep+1, name, r.rate(), n, r.wall.Round(time.Millisecond), r.usage.cpu().Round(time.Millisecond))
			if useLedger {
				with = append(with, r.rate())
				cpuWith += r.usage.cpu()
				sysWith += r.usage.sys
			} else {
				without = append(without, r.rate())
				cpuWithout += r.usage.cpu()
				sysWithout += r.usage.sys
			}
		}
		ratios = append(ratios, with[len(with)-1]/without[len(without)-1])
	}
	ratio := median(ratios)
	perRow := func(d, sys time.Duration) string {
		us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n*sz.ledgerReps) }
		return fmt.Sprintf("%.0f µs (%.0f system)", us(d), us(sys))
	}
	b.info("ledger: run --ledger, new rows", "%.0f rows/s", median(with))
	b.info("ledger: same run without", "%.0f rows/s", median(without))
	b.check("ledger: throughput ratio", fmt.Sprintf("%.3f", ratio), fmt.Sprintf(">= %.2f", ledgerBar), ratio >= ledgerBar)
	b.info("  measured as", "median of %d pairs, %s rows, --rate 0, default --workers", sz.ledgerReps, count(n))
	b.info("  ratios of the pairs", "%s", formatList(ratios, "%.2f"))
	b.info("  CPU per row with, without", "%s, %s; the ledger adds %s", perRow(cpuWith, sysWith), perRow(cpuWithout, sysWithout),
		perRow(cpuWith-cpuWithout, sysWith-sysWithout))
	return nil
}

// nightly runs the cron case: an inventory of which 99% is in the ledger
// already (seeded with `tokenreg ledger import` of an export-format CSV),
// at --rate 0. Its wall time and peak RSS have bars at 1,000,000 rows.
func (b *bench) nightly(ctx context.Context, sz sizes) error {
	n := sz.nightlyRows
	state, input, err := b.writeFiles("nightly", n, nightlySeries)
	if err != nil {
		return err
	}
	begin := time.Now()
	db, known, err := b.seedLedger(ctx, "nightly", n, nightlySeries)
	if err != nil {
		return err
	}
	fmt.Fprintf(b.log, "  seeded the ledger with %s registrations in %s\n", count(known), time.Since(begin).Round(time.Millisecond))

	fresh := n - known
	r, st, _, err := b.simRun(ctx, state, nil, func(url string) (runResult, error) {
		return b.runTokenregSummary(ctx, url, input, ledgerTimeout, "--rate", "0", "--ledger", db)
	})
	if err != nil {
		return err
	}
	if err := st.allOK(fresh); err != nil {
		return err
	}
	if sm := r.summary; sm.Rows != n || sm.ByStatus[report.StatusOK] != fresh || sm.ByStatus[report.StatusSkipped] != known {
		return fmt.Errorf("nightly: %d rows, %v, want %d rows: %d ok, %d skipped", sm.Rows, sm.ByStatus, n, fresh, known)
	}
	name := fmt.Sprintf("nightly %s rows, %s new", count(n), count(fresh))
	secs := r.wall.Seconds()
	if n >= nightlyBarRows {
		b.check(name+": time", fmt.Sprintf("%.1f s", secs), fmt.Sprintf("<= %.0f s", nightlyTimeBar), secs <= nightlyTimeBar)
		b.check(name+": peak RSS", fmt.Sprintf("%.1f MB", mb(r.usage.peakRSS)), fmt.Sprintf("<= %.0f MB", mb(nightlyRSSBar)), r.usage.peakRSS <= nightlyRSSBar)
	} else {
		b.info(name+": time", "%.1f s (the bar is for %s rows)", secs, count(nightlyBarRows))
		b.info(name+": peak RSS", "%.1f MB (the bar is for %s rows)", mb(r.usage.peakRSS), count(nightlyBarRows))
	}
	b.info("  nightly CPU", "%s user, %s system", r.usage.user.Round(time.Millisecond), r.usage.sys.Round(time.Millisecond))
	return nil
}

// validateFigure times `tokenreg validate` over an input of valid rows.
func (b *bench) validateFigure(ctx context.Context, sz sizes) error {
	n := sz.validateRows
	input := b.path("validate.csv")
	if err := writeInput(input, n, n, validateSeries); err != nil {
		return err
	}
	out := b.path("validate.result.csv")
	defer os.Remove(out)
	c, err := b.runChild(ctx, ledgerTimeout, "validate", input, "--out", out)
	if err != nil {
		return err
	}
	lines, err := countLines(out)
	if err != nil {
		return err
	}
	if lines != n+1 {
		return fmt.Errorf("tokenreg validate wrote %d lines, want %d", lines, n+1)
	}
	u := c.usage()
	name := fmt.Sprintf("validate %s rows: time", count(n))
	secs := c.wall.Seconds()
	if n >= validateBarRows {
		b.check(name, fmt.Sprintf("%.1f s", secs), fmt.Sprintf("<= %.0f s", validateTimeBar), secs <= validateTimeBar)
	} else {
		b.info(name, "%.1f s (the bar is for %s rows)", secs, count(validateBarRows))
	}
	b.info("  validate CPU", "%s user, %s system; peak RSS %.1f MB", u.user.Round(time.Millisecond), u.sys.Round(time.Millisecond), mb(u.peakRSS))
	return nil
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

// runTokenregSummary runs `tokenreg run input` like runTokenreg, but takes
// any exit status of a finished run and leaves the check of its summary to
// the caller.
func (b *bench) runTokenregSummary(ctx context.Context, url, input string, timeout time.Duration, flags ...string) (runResult, error) {
	c, summary, err := b.execTokenreg(ctx, url, input, timeout, flags)
	if err != nil {
		return runResult{}, err
	}
	r := runResult{wall: c.wall, usage: c.usage()}
	data, err := os.ReadFile(summary)
	if err != nil {
		return r, fmt.Errorf("tokenreg %s: %v: %s", strings.Join(flags, " "), c.err, c.tail())
	}
	if err := json.Unmarshal(data, &r.summary); err != nil {
		return r, fmt.Errorf("tokenreg --summary: %w", err)
	}
	r.rows = r.summary.Rows
	return r, nil
}
