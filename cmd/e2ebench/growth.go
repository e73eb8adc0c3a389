//go:build !windows

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/tokenreg/tokenreg/report"
)

// The cost growth table (issue 11, item 4): how wall time and peak RSS
// grow with the input, for every command an operator runs on a big file.
// It is not a bar, and it takes several minutes at 1,000,000 rows, so it
// runs only when asked for: `-only growth` (`make bench-growth`).

// growthSizes are the row counts of the table's columns.
var (
	growthSizes      = []int{10_000, 100_000, 1_000_000}
	growthQuickSizes = []int{10_000, 100_000}
)

// The phone-number series of the growth runs: each command registers
// numbers of its own on the one simulator of a size.
const (
	growthRunSeries     = 1
	growthLedgerSeries  = 2
	growthNightlySeries = 3
	growthRetrySeries   = 9
	growthTimeout       = 10 * time.Minute
)

// growthCell is one measured command at one size.
type growthCell struct {
	wall    time.Duration
	peakRSS int64
}

// growth measures, at each size, against one simulator that knows as many
// users as rows:
//   - run: `run --rate 0` over new rows;
//   - run --ledger, fresh: the same over new rows with a new ledger;
//   - run --ledger, nightly: an inventory of which 99% is in the ledger
//     (seeded by `ledger import`, not timed), 1% new;
//   - validate: `validate` of the input;
//   - retry, 1% failed: `retry` of a result whose every 100th row failed
//     with 29004 (the others ok), sending that 1% again;
//   - report: `report --html` of that result.
//
// It prints the table as Markdown on stdout, for the README.
func (b *bench) growth(ctx context.Context, quick bool, stdout io.Writer) error {
	ns := growthSizes
	if quick {
		ns = growthQuickSizes
	}
	commands := []string{"run", "run --ledger, fresh", "run --ledger, nightly (99% known)", "validate", "retry (1% failed)", "report --html"}
	cells := make(map[string][]growthCell)
	for _, n := range ns {
		row, err := b.growthAt(ctx, n)
		if err != nil {
			return fmt.Errorf("%s rows: %w", count(n), err)
		}
		for i, c := range row {
			cells[commands[i]] = append(cells[commands[i]], c)
		}
	}
	fmt.Fprintf(stdout, "\n| command |")
	for _, n := range ns {
		fmt.Fprintf(stdout, " %s rows |", count(n))
	}
	fmt.Fprintf(stdout, "\n|---|")
	for range ns {
		fmt.Fprintf(stdout, "---:|")
	}
	fmt.Fprintln(stdout)
	for _, name := range commands {
		fmt.Fprintf(stdout, "| `%s` |", name)
		for _, c := range cells[name] {
			fmt.Fprintf(stdout, " %s, %.0f MB |", formatWall(c.wall), mb(c.peakRSS))
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func formatWall(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}

// growthAt measures every command at n rows, in the order of growth's list.
func (b *bench) growthAt(ctx context.Context, n int) ([]growthCell, error) {
	state := b.path("growth-%d-state.json", n)
	if err := writeState(state, n); err != nil {
		return nil, err
	}
	defer os.Remove(state)
	s, err := b.startSim(ctx, state)
	if err != nil {
		return nil, err
	}
	defer s.kill()
	var row []growthCell
	note := func(name string, c growthCell) {
		row = append(row, c)
		fmt.Fprintf(b.log, "  %9s rows  %-36s %9s  %6.1f MB\n", count(n), name, formatWall(c.wall), mb(c.peakRSS))
	}

	// run, then run --ledger over new rows.
	for _, side := range []struct {
		name   string
		series int
		ledger bool
	}{{"run", growthRunSeries, false}, {"run --ledger, fresh", growthLedgerSeries, true}} {
		input := b.path("growth-%d-%d.csv", n, side.series)
		if err := writeInput(input, n, n, side.series); err != nil {
			return nil, err
		}
		flags := []string{"--rate", "0"}
		if side.ledger {
			db := b.path("growth-%d.db", n)
			defer os.Remove(db)
			flags = append(flags, "--ledger", db)
		}
		r, err := b.runTokenreg(ctx, s.url, input, n, growthTimeout, flags...)
		os.Remove(input)
		if err != nil {
			return nil, err
		}
		note(side.name, growthCell{r.wall, r.usage.peakRSS})
	}

	// nightly: 99% of the inventory in the ledger.
	input := b.path("growth-%d-nightly.csv", n)
	if err := writeInput(input, n, n, growthNightlySeries); err != nil {
		return nil, err
	}
	defer os.Remove(input)
	db, known, err := b.seedLedger(ctx, fmt.Sprintf("growth-%d", n), n, growthNightlySeries)
	if err != nil {
		return nil, err
	}
	defer os.Remove(db)
	r, err := b.runTokenregSummary(ctx, s.url, input, growthTimeout, "--rate", "0", "--ledger", db)
	if err != nil {
		return nil, err
	}
	if sm := r.summary; sm.Rows != n || sm.ByStatus[report.StatusOK] != n-known || sm.ByStatus[report.StatusSkipped] != known {
		return nil, fmt.Errorf("nightly: %d rows, %v, want %d ok and %d skipped", sm.Rows, sm.ByStatus, n-known, known)
	}
	note("run --ledger, nightly", growthCell{r.wall, r.usage.peakRSS})

	// validate the same input.
	c, err := b.runChild(ctx, growthTimeout, "validate", input, "--out", b.path("growth-%d-validate.csv", n))
	if err != nil {
		return nil, err
	}
	note("validate", growthCell{c.wall, c.usage().peakRSS})

	// retry a result whose every 100th row failed, then report on it.
	result := b.path("growth-%d-result.csv", n)
	failed, err := writeRetryResult(result, n)
	if err != nil {
		return nil, err
	}
	defer os.Remove(result)
	summary := b.path("growth-%d-retry.json", n)
	c, err = b.runChild(ctx, growthTimeout, "retry", result, "--out", b.path("growth-%d-retry.csv", n),
		"--url", s.url, "--rate", "0", "--progress", "never", "--summary", summary)
	if err != nil {
		return nil, err
	}
	var sm report.SummaryJSON
	if data, err := os.ReadFile(summary); err != nil {
		return nil, err
	} else if err := json.Unmarshal(data, &sm); err != nil {
		return nil, err
	}
	if sm.ByStatus[report.StatusOK] != failed {
		return nil, fmt.Errorf("retry: %v, want %d rows ok", sm.ByStatus, failed)
	}
	note("retry (1% failed)", growthCell{c.wall, c.usage().peakRSS})

	c, err = b.runChild(ctx, growthTimeout, "report", result, "--html", b.path("growth-%d.html", n))
	if err != nil {
		return nil, err
	}
	note("report --html", growthCell{c.wall, c.usage().peakRSS})

	st, err := s.stop()
	if err != nil {
		return nil, err
	}
	if want := int64(3*n - known + failed); st.codes["0"] != want || len(st.codes) != 1 {
		return nil, fmt.Errorf("simulator answered %v, want %d answers all 0:\n%s", st.codes, want, st.text)
	}
	return row, nil
}

// seedLedger writes a ledger (NAME.db) in which the inventory rows of series
// for n users are registered, but for every nightlyNewEvery-th, with
// `tokenreg ledger import` of an export-format CSV: its path and the number
// of registrations in it.
func (b *bench) seedLedger(ctx context.Context, name string, n, series int) (string, int, error) {
	seed := b.path("%s-seed.csv", name)
	defer os.Remove(seed)
	known := 0
	err := writeFile(seed, func(w *bufio.Writer) {
		w.WriteString("username,tokenSn,tokenType,registered_at,run_id\n")
		var buf []byte
		for i := range n {
			if i%nightlyNewEvery == 0 {
				continue
			}
			known++
			buf = appendUsername(buf[:0], i)
			buf = appendPhone(append(buf, ','), series, i)
			buf = append(buf, ",SMS,2026-11-28T02:15:00.000Z,seed\n"...)
			w.Write(buf)
		}
	})
	if err != nil {
		return "", 0, err
	}
	db := b.path("%s.db", name)
	if _, err := b.runChild(ctx, growthTimeout, "ledger", "import", "--ledger", db, seed); err != nil {
		return "", 0, err
	}
	return db, known, nil
}

// writeRetryResult writes the result of a run over n SMS rows of
// growthRetrySeries for n users, every 100th of which failed with 29004 and
// the others ok, and returns the number failed.
func writeRetryResult(path string, n int) (int, error) {
	start := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	failed := 0
	err := writeResultRows(path, n, growthRetrySeries, func(i int, r *report.Result) {
		r.Duration, r.FinishedAt = 3*time.Millisecond, start.Add(time.Duration(i)*time.Millisecond)
		if i%100 == 0 {
			r.Status, r.Code, r.Message = report.StatusFailed, "29004", "Phone number had been used"
			failed++
		}
	})
	return failed, err
}

// extraFigures run only when -only names them.
var extraFigures = []string{"growth"}

func isFigure(name string) bool {
	return slices.Contains(figureNames, name) || slices.Contains(extraFigures, name)
}
