//go:build !windows

// Command e2ebench measures the end-to-end quality bars of SPEC §7 on
// loopback, with the freshly built binaries, and exits non-zero if one is
// missed. `make bench` runs it as
//
//	go run ./cmd/e2ebench -bin bin
//
// after `make build` put bin/tokenreg and bin/centagate-sim there. It
// generates its simulator states and input files in a temporary directory
// (removed at the end), and measures (on Unix only: it reads the kernel's
// resource usage of its children, so every file of this command carries the
// build constraint !windows and `go build ./...` for Windows leaves it out):
//
//   - throughput: rows/s of `tokenreg run --rate 0` at its default workers
//     (16 at --rate 0) against a fresh centagate-sim with no latency and no
//     rate limit, beside the rows/s of a bare keep-alive Go HTTP loop (16
//     goroutines, one shared transport) sending the same rows to another
//     fresh simulator; bar: ratio ≥ 0.90 (-workers W runs both with W).
//     Both are rows / wall time over 40,000 rows. The machine's speed
//     drifts, so the two sides run back to back, -reps times (default 7),
//     alternating which goes first; the figures are medians.
//   - stray 429s: rows/s of `--rate 0 --workers 16` over 20,000 rows
//     against a simulator answering 1% of requests 429 with Retry-After: 1
//     at random (-faults 429 -fault-rate 0.01), beside the same run against
//     one that does not; alternating pairs, the median ratio; bar ≥ 0.50.
//   - rate limit: `--rate 0` at the default workers over 3,000 rows against
//     a simulator with -rate-limit 200; the share of its answers that are
//     429; bar ≤ 10%.
//   - pacing: `--rate 200 --burst 1` over 2,000 rows against an in-process
//     clienttest.Server (the simulator's engine), whose recorded arrival
//     times give the achieved rate, (n-1)/(last-first), bar within 2% of 200,
//     and the most requests in any one-second window, bar ≤ 201.
//   - latency hiding: `--workers 64 --rate 0` over 3,000 rows against a
//     simulator answering after 100 ms; rows / wall time of the tokenreg
//     process, bar ≥ 90% of 640 rows/s.
//   - memory: peak RSS (the child's rusage) of `tokenreg run --rate 0
//     --workers 16` over 10,000 and over 1,000,000 SMS rows that all
//     succeed; bar < 64 MB (10⁶ bytes) at 1,000,000.
//   - ledger: rows/s of `run --rate 0` over 20,000 new rows with a fresh
//     --ledger, beside the same run without one, in alternating pairs (median
//     of 3); bar: ratio ≥ 0.80.
//   - nightly: `run --rate 0 --ledger` over a 1,000,000-row inventory of
//     which 990,000 are in the ledger (seeded by `tokenreg ledger import`) and
//     10,000 are new; bars: wall time ≤ 15 s, peak RSS ≤ 96 MB.
//   - validate: wall time of `tokenreg validate` over 1,000,000 valid rows;
//     bar ≤ 5 s.
//   - report: wall time and peak RSS of `tokenreg report` over a generated
//     1,000,000-row result (mostly ok, every needs-action status, 15
//     minutes of finished_at); bars < 3 s and < 64 MB.
//
// With -only growth (`make bench-growth`, several minutes; not part of the
// default run, it has no bar) it measures the README's cost growth table:
// wall time and peak RSS of run, run --ledger (fresh and nightly),
// validate, retry and report at 10,000, 100,000 and 1,000,000 rows (see
// growth.go), and prints it as Markdown.
//
// Every row of every figure is a real SMS registration for an existing user
// with a unique number, so every request succeeds and goes through the whole
// pipeline; e2ebench checks that each run ended with every row ok.
//
// Flags: -bin DIR (default bin), -workers W (the throughput figure's
// workers; default: tokenreg's own), -reps N, -quick (smaller sizes, a smoke
// run), -only NAME (one figure: throughput, stray429, ratelimit, pacing, latency, memory,
// ledger, nightly, validate, report; or growth, below), -keep (keep the temporary
// directory), -v (pass the children's stderr through).
//
// It prints one line per figure as it is measured (stderr), then a table of
// all of them with their bars (stdout), and the share of the CPUs that other
// processes took meanwhile: every figure is a timing, and on a machine busy
// with other work they are not to be trusted.
//
// Exit status: 0 every bar met, 1 a bar missed, 2 a usage error or a
// measurement that could not be made. Every child process is killed on
// exit, also on an error or an interrupt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// The figures, in the order they run.
var figureNames = []string{"throughput", "stray429", "ratelimit", "pacing", "latency", "memory", "ledger", "nightly", "validate", "report"}

// sizes are the row counts of one run.
type sizes struct {
	throughput  int // rows per throughput run
	reps        int // runs of each throughput side
	pacing      int
	latency     int
	memSmall    int
	memLarge    int
	memUsers    int // users in the memory figure's simulator state
	stray       int // rows per run of the stray-429 figure
	limited     int // rows of the rate-limit figure
	limitRate   float64
	reportRows  int // rows of the result the report figure draws
	pacingRate  float64
	latencyWait time.Duration

	ledgerRows, ledgerReps int // the ledger figure: new rows, pairs of runs
	nightlyRows            int // the nightly inventory, 1% new
	validateRows           int
}

var (
	fullSizes = sizes{
		throughput: 40_000, reps: 7, pacing: 2_000, latency: 3_000,
		memSmall: 10_000, memLarge: 1_000_000, memUsers: 1_000_000,
		stray: 20_000, limited: 3_000, limitRate: 200, reportRows: 1_000_000,
		pacingRate: 200, latencyWait: 100 * time.Millisecond,
		ledgerRows: 20_000, ledgerReps: 3, nightlyRows: 1_000_000, validateRows: 1_000_000,
	}
	quickSizes = sizes{
		throughput: 10_000, reps: 1, pacing: 400, latency: 1_280,
		memSmall: 10_000, memLarge: 100_000, memUsers: 100_000,
		stray: 5_000, limited: 1_000, limitRate: 200, reportRows: 100_000,
		pacingRate: 200, latencyWait: 100 * time.Millisecond,
		ledgerRows: 5_000, ledgerReps: 1, nightlyRows: 100_000, validateRows: 100_000,
	}
)

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("e2ebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "bin", "`directory` holding the built tokenreg and centagate-sim")
	workers := fs.Int("workers", 0, "workers of the throughput figure (tokenreg --workers and the bare loop's goroutines); 0 = tokenreg's defaults, and as many goroutines")
	reps := fs.Int("reps", 0, "repetitions of the throughput figure; the median counts (default 7, 1 with -quick)")
	quick := fs.Bool("quick", false, "smaller sizes, for a smoke run")
	only := fs.String("only", "", "run one figure: "+strings.Join(figureNames, ", ")+"; or "+strings.Join(extraFigures, ", ")+", which runs only when named")
	keep := fs.Bool("keep", false, "keep the temporary directory with the generated files and results")
	verbose := fs.Bool("v", false, "pass the children's stderr through")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "e2ebench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *only != "" && !isFigure(*only) {
		fmt.Fprintf(stderr, "e2ebench: -only %q: want one of %s\n", *only, strings.Join(append(slices.Clone(figureNames), extraFigures...), ", "))
		return 2
	}
	if *workers < 0 || *reps < 0 {
		fmt.Fprintln(stderr, "e2ebench: -workers and -reps must be ≥ 0")
		return 2
	}
	sz := fullSizes
	if *quick {
		sz = quickSizes
	}
	if *reps > 0 {
		sz.reps = *reps
	}

	b, err := newBench(*bin, stderr, *verbose)
	if err != nil {
		fmt.Fprintf(stderr, "e2ebench: %v\n", err)
		return 2
	}
	defer func() {
		b.killAll()
		if *keep {
			fmt.Fprintf(stderr, "e2ebench: kept %s\n", b.dir)
		} else {
			os.RemoveAll(b.dir)
		}
	}()

	steps := map[string]func(context.Context, sizes) error{
		"throughput": func(ctx context.Context, sz sizes) error { return b.throughput(ctx, sz, *workers) },
		"stray429":   b.stray429,
		"ratelimit":  b.rateLimit,
		"pacing":     b.pacing,
		"latency":    b.latency,
		"memory":     b.memory,
		"ledger":     b.ledgerCost,
		"nightly":    b.nightly,
		"validate":   b.validateFigure,
		"report":     b.reportFigure,
		"growth":     func(ctx context.Context, _ sizes) error { return b.growth(ctx, *quick, stdout) },
	}
	begin := time.Now()
	busy0, haveClock := cpuClock()
	own0 := ownCPU()
	failed := false
	names := figureNames
	if *only != "" {
		names = []string{*only}
	}
	for _, name := range names {
		fmt.Fprintf(stderr, "e2ebench: %s ...\n", name)
		t := time.Now()
		if err := steps[name](ctx, sz); err != nil {
			if ctx.Err() != nil {
				err = errors.New("interrupted")
			}
			fmt.Fprintf(stderr, "e2ebench: %s: %v\n", name, err)
			b.check(name, "not measured", "", false)
			failed = true
			if ctx.Err() != nil {
				break
			}
		}
		fmt.Fprintf(stderr, "e2ebench: %s took %s\n", name, time.Since(t).Round(100*time.Millisecond))
	}

	elapsed := time.Since(begin)
	fmt.Fprintf(stdout, "\nend-to-end figures (SPEC §7), %s, %d CPUs, %s:\n\n", sizeName(*quick), runtime.NumCPU(), elapsed.Round(time.Second))
	missed := b.printTable(stdout)
	// Every figure is a timing: say how much of the machine other work
	// took meanwhile, so that a reader can tell a slow run from a busy box.
	if busy1, ok := cpuClock(); haveClock && ok {
		others := max(busy1-busy0-(ownCPU()-own0), 0)
		share := others.Seconds() / (elapsed.Seconds() * float64(runtime.NumCPU()))
		fmt.Fprintf(stdout, "\nother processes used %.0f%% of the CPUs during the run\n", 100*share)
		if share > 0.10 {
			fmt.Fprintln(stdout, "WARNING: the machine was busy with other work: the timings are not reliable")
		}
	}
	switch {
	case failed:
		fmt.Fprintln(stdout, "\nFAIL: a figure could not be measured (see above)")
		return 2
	case missed > 0:
		fmt.Fprintf(stdout, "\nFAIL: %d bar(s) missed\n", missed)
		return 1
	}
	fmt.Fprintln(stdout, "\nPASS: every bar met")
	return 0
}

// cpuClock reads the machine's busy CPU time from /proc/stat (Linux), and
// reports false where it cannot.
func cpuClock() (time.Duration, bool) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, false
	}
	// user nice system idle iowait irq softirq steal, in USER_HZ (100/s).
	var busy int64
	for i, v := range f[1:9] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false
		}
		if i != 3 && i != 4 {
			busy += n
		}
	}
	return time.Duration(busy) * 10 * time.Millisecond, true
}

// ownCPU is the CPU time of e2ebench and of its children that have ended.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return selfCPU()
	}
	return selfCPU() + time.Duration(ru.Utime.Nano()+ru.Stime.Nano())
}

func sizeName(quick bool) string {
	if quick {
		return "quick sizes"
	}
	return "full sizes"
}

// figure is one line of the table. ok is nil for a figure given for
// information, with no bar.
type figure struct {
	name, value, bar string
	ok               *bool
}

func (f figure) verdict() string {
	switch {
	case f.ok == nil:
		return ""
	case *f.ok:
		return "PASS"
	}
	return "FAIL"
}

// add records a figure and prints its line at once.
func (b *bench) add(f figure) {
	b.figures = append(b.figures, f)
	fmt.Fprintf(b.log, "  %-30s %-16s %-14s %s\n", f.name, f.value, f.bar, f.verdict())
}

// info records a figure that has no bar.
func (b *bench) info(name, format string, a ...any) {
	b.add(figure{name: name, value: fmt.Sprintf(format, a...)})
}

// check records a figure against its bar.
func (b *bench) check(name, value, bar string, ok bool) {
	b.add(figure{name: name, value: value, bar: bar, ok: &ok})
}

// printTable writes every figure and returns the number of bars missed.
func (b *bench) printTable(w io.Writer) int {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tbar\tok")
	missed := 0
	for _, f := range b.figures {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.name, f.value, f.bar, f.verdict())
		if f.ok != nil && !*f.ok {
			missed++
		}
	}
	tw.Flush()
	return missed
}

// binary returns the path of a built command, checking it exists.
func binary(dir, name string) (string, error) {
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable: run `make build` first", p)
	}
	return p, nil
}
