package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

type mode int

const (
	modeRun mode = iota
	modeRetry
	modeValidate
)

func (m mode) String() string {
	return [...]string{"run", "retry", "validate"}[m]
}

// batchFlags are the options of run, retry and validate.
type batchFlags struct {
	out, credentials, url, admin              string
	resume, force, dryRun, verbose, allowHTTP bool
	rate                                      float64
	burst, workers, attempts, abortAfter      int
	timeout                                   time.Duration
	progress, logFormat, summary, metrics     string
	shard, caFile, clientCert, clientKey      string
	insecure                                  bool
	ledger, codes, statuses                   string
	pushgateway                               string
	limit                                     int
	html                                      string
}

func newBatchFlags(m mode, stderr io.Writer) (*flag.FlagSet, *batchFlags) {
	// validate has no pacing flags: these values pass the checks below.
	f := &batchFlags{progress: "never", burst: 1, workers: 1, attempts: 1, timeout: time.Second}
	fs := flag.NewFlagSet("tokenreg "+m.String(), flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.out, "out", "", "result CSV (default: beside the input, INPUT.result.csv)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.BoolVar(&f.verbose, "v", false, "a debug line per row (secrets are never logged)")
	fs.StringVar(&f.summary, "summary", "", "also write the end-of-run summary as JSON to `FILE`")
	fs.BoolVar(&f.force, "force", false, "replace an existing result file")
	if m == modeValidate {
		fs.Usage = func() { fmt.Fprint(stderr, validateUsage); fs.PrintDefaults() }
		return fs, f
	}
	fs.BoolVar(&f.resume, "resume", false, "continue an existing result file: rows already decided are not sent again")
	fs.StringVar(&f.credentials, "credentials", "", "read CENTAGATE_URL, CENTAGATE_ADMIN, CENTAGATE_AUTH_TOKEN, CENTAGATE_SECRET_CODE from `FILE` (KEY=VALUE lines, mode 0600)")
	fs.StringVar(&f.url, "url", "", "server base URL (default $CENTAGATE_URL)")
	fs.StringVar(&f.admin, "admin", "", "admin username (default $CENTAGATE_ADMIN)")
	fs.Float64Var(&f.rate, "rate", 10, "requests per second over all workers; 0 = unlimited")
	fs.IntVar(&f.burst, "burst", 1, "requests the pace may let through at once")
	fs.IntVar(&f.workers, "workers", 0, "requests in flight at once (default: 16 at --rate 0, else --rate × 0.2 s, 4 to 64)")
	fs.DurationVar(&f.timeout, "timeout", 15*time.Second, "limit for each request")
	fs.IntVar(&f.attempts, "attempts", 5, "most requests per row for transient failures (backoff with jitter)")
	fs.IntVar(&f.abortAfter, "abort-after", 20, "stop (exit 3) if the first N answered rows all fail with one code, or 2.5×N rows in a row end in error (or 2×--workers requests in a row time out); 0 = never")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check the rows and write the result, send nothing")
	fs.StringVar(&f.progress, "progress", "auto", "progress bar: auto (when stderr is a terminal), always or never")
	fs.StringVar(&f.metrics, "metrics", "", "write Prometheus metrics to `FILE` (node_exporter textfile collector)")
	fs.StringVar(&f.pushgateway, "pushgateway", "", "at the end, push the run's metrics to the Prometheus Pushgateway at `URL` (job tokenreg), e.g. http://pushgateway:9091")
	fs.StringVar(&f.shard, "shard", "", "take only the rows whose username hashes to shard `K/N` (0 ≤ K < N)")
	fs.StringVar(&f.caFile, "ca-file", "", "trust the CA certificates in this PEM `FILE`")
	fs.StringVar(&f.clientCert, "client-cert", "", "client certificate PEM `FILE` for mutual TLS")
	fs.StringVar(&f.clientKey, "client-key", "", "client key PEM `FILE` for mutual TLS")
	fs.BoolVar(&f.insecure, "insecure-skip-verify", false, "do not verify the server's TLS certificate (DANGEROUS)")
	fs.BoolVar(&f.allowHTTP, "allow-http", false, "allow plain http:// to a host that is not loopback")
	fs.StringVar(&f.ledger, "ledger", "", "skip registrations recorded in this SQLite `FILE`, and record new ones")
	fs.IntVar(&f.limit, "limit", 0, "canary: send at most `N` rows, then stop (exit 4) so that --resume continues; 0 = all")
	fs.StringVar(&f.html, "html", "", "also write the run's HTML report (as tokenreg report) to `FILE`")
	if m == modeRetry {
		fs.StringVar(&f.codes, "codes", "", "only rows with these server codes, e.g. 29004,29008")
		fs.StringVar(&f.statuses, "status", "failed,error", "only rows with these statuses")
		fs.Usage = func() { fmt.Fprint(stderr, retryUsage); fs.PrintDefaults() }
	} else {
		fs.Usage = func() { fmt.Fprint(stderr, runUsage); fs.PrintDefaults() }
	}
	return fs, f
}

// runBatch is run, retry and validate.
func runBatch(ctx context.Context, m mode, args []string, stdin io.Reader, stdout, stderr io.Writer, env environ) (int, error) {
	fs, f := newBatchFlags(m, stderr)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage, usagef("%s takes one input file (or - for stdin), got %d arguments", m, len(pos))
	}
	input := pos[0]
	logger, err := newLogger(stderr, f.logFormat, f.verbose)
	if err != nil {
		return exitUsage, err
	}
	if m == modeValidate {
		f.dryRun = true
		f.abortAfter = 0
	}
	if err := checkPushgateway(f.pushgateway); err != nil {
		return exitUsage, err
	}
	if f.resume && f.force {
		return exitUsage, usagef("--resume and --force exclude each other")
	}
	if f.progress != "auto" && f.progress != "always" && f.progress != "never" {
		return exitUsage, usagef("--progress %q: use auto, always or never", f.progress)
	}
	if f.rate < 0 || f.burst < 1 || f.workers < 0 || f.workers > 1024 || f.attempts < 1 || f.timeout <= 0 || f.abortAfter < 0 || f.limit < 0 {
		return exitUsage, usagef("--rate must be ≥ 0, --burst ≥ 1, --workers 0..1024 (0 = automatic), --attempts ≥ 1, --timeout > 0, --abort-after ≥ 0, --limit ≥ 0")
	}
	if f.workers == 0 {
		f.workers = batch.DefaultWorkers(f.rate)
	}
	cfg := batch.Config{
		Rate: f.rate, Burst: f.burst, Workers: f.workers, Attempts: f.attempts,
		AbortAfter: f.abortAfter, DryRun: f.dryRun, Logger: logger, Verbose: f.verbose,
		Limit: f.limit,
	}
	if f.shard != "" {
		if cfg.Shard, err = batch.ParseShard(f.shard); err != nil {
			return exitUsage, &usageError{msg: err.Error()}
		}
	}
	if m == modeRetry {
		sel, err := retrySelect(f.statuses, f.codes)
		if err != nil {
			return exitUsage, err
		}
		cfg.Select = sel
	}
	if !f.dryRun {
		creds, err := credentials(env, f.credentials, f.url, f.admin)
		if err != nil {
			return exitUsage, err
		}
		if f.insecure {
			logger.Warn("TLS verification is OFF (--insecure-skip-verify): anyone on the network path can read the cenToken and answer in the server's name")
		}
		c, err := client.New(client.Config{
			Credentials: creds, Timeout: f.timeout, Conns: f.workers,
			CAFile: f.caFile, CertFile: f.clientCert, KeyFile: f.clientKey,
			InsecureSkipVerify: f.insecure, AllowHTTP: f.allowHTTP,
			UserAgent: "tokenreg/" + buildVersion(),
		})
		if err != nil {
			return exitUsage, &usageError{msg: err.Error()}
		}
		defer c.CloseIdleConnections()
		cfg.Registrar = c
	}

	// Open the input; a regular file is read once first, so that a file
	// that cannot be used stops the run before anything is sent, and the
	// progress bar knows the total.
	in, name, total, err := openInput(input, stdin, m == modeRetry, cfg.Select)
	if err != nil {
		return exitUsage, err
	}
	defer in.Close()
	if m == modeRetry {
		if err := oneRowPerLine(in, name); err != nil {
			return exitUsage, err
		}
	}
	rd, err := batch.NewReader(name, in, batch.ReaderOptions{Unescape: m == modeRetry})
	if err != nil {
		return exitUsage, err
	}
	if m == modeRetry && !rd.HasStatus() {
		return exitUsage, usagef("%s has no status column: retry takes a result file written by tokenreg run", name)
	}

	outPath := f.out
	if outPath == "" {
		outPath = defaultOut(m, input)
	}
	var verify func(*batch.Resume) error
	seeker, seekable := in.(io.ReadSeeker)
	if total >= 0 && seekable {
		verify = func(rs *batch.Resume) error { return verifyResume(rs, seeker, name, m == modeRetry) }
	}
	res, err := openResult(outPath, stdout, f.resume, f.force, verify)
	if err != nil {
		return exitUsage, err
	}
	defer res.close()
	if res.resume != nil && verify != nil {
		// verify may have read the input again: start the run's reader
		// afresh.
		if _, err := seeker.Seek(0, io.SeekStart); err != nil {
			return exitUsage, usagef("input: %v", err)
		}
		if rd, err = batch.NewReader(name, in, batch.ReaderOptions{Unescape: m == modeRetry}); err != nil {
			return exitUsage, err
		}
	}
	cfg.Rows = int(total)
	if env.getenv("GOMEMLIMIT") == "" && total > 0 {
		// The duplicate index is the one thing that grows with the input
		// (16 bytes a slot); without a limit the collector lets the heap
		// reach twice the live size. 24 MiB of room plus 24 bytes a row
		// keeps a million rows under 64 MB of RSS. Within that budget the
		// collector need not run every few MB of garbage (each request
		// makes ~10 KB): a GOGC of 400 lets the limit pace it, which saves
		// a tenth of the CPU at full speed.
		debug.SetMemoryLimit(24<<20 + 24*total)
		if env.getenv("GOGC") == "" {
			debug.SetGCPercent(400)
		}
	}
	if res.resume != nil {
		cfg.Resume = res.resume
		logger.Info("resuming", "result", outPath, "rows_done", res.resume.Final, "rows_to_retry", res.resume.Rows-res.resume.Final, "torn_line_dropped", res.torn)
	}

	if f.ledger != "" {
		lg, err := openLedger(ctx, f.ledger, logger)
		if err != nil {
			return exitUsage, err
		}
		defer lg.Close()
		cfg.Ledger = lg
	}

	start := time.Now()
	sum := report.NewSummary(start)
	sum.Input, sum.ResultPath = name, outPath
	showBar := f.progress == "always" || (f.progress == "auto" && env.isTerminal(stderr))
	prog := report.NewProgress(stderr, showBar, total, logger, 10*time.Second)
	cfg.OnResult = prog.Add
	outcome, runErr := batch.Run(ctx, rd, res.w, sum, cfg)
	prog.Finish()
	if len(outcome.Unsaved) > 0 {
		// The file ends where its last whole row ends, so that the rows
		// shown below can be appended to it.
		if err := res.cut(); err != nil {
			logger.Error("cut the result back to its last whole row", "result", outPath, "err", err)
		}
	}
	if err := res.finish(); err != nil && runErr == nil {
		runErr = err
	}
	sum.InputSHA256 = rd.SHA256()
	sum.Finish(time.Now())

	code := exitCode(runErr, sum, res.resume)
	sum.ExitCode = code
	var ae *batch.AbortError
	switch {
	case errors.As(runErr, &ae):
		sum.Aborted = ae.Reason
	case errors.Is(runErr, context.Canceled):
		sum.Interrupted = true
	case errors.Is(runErr, batch.ErrLimit):
		sum.Limited = true
	}
	describeRun(sum, m, f, total, res.resume)
	if outcome.Unsent > 0 || sum.Interrupted || sum.Aborted != "" {
		logger.Warn("run stopped before the end: run the same command with --resume to finish", "result", outPath, "rows_held_back", outcome.Unsent)
	}
	if err := sum.WriteText(stderr); err != nil {
		logger.Warn("write summary", "err", err)
	}
	if len(outcome.Unsaved) > 0 {
		writeUnsaved(stderr, outPath, outcome.Unsaved, cfg.Ledger != nil)
	}
	if f.summary != "" {
		if data, err := sum.JSON(); err != nil {
			logger.Error("summary", "err", err)
		} else if err := report.WriteFileAtomic(f.summary, data, 0o600); err != nil { // it quotes server messages: private (issue 16)
			logger.Error("write --summary", "file", f.summary, "err", err)
		}
	}
	if f.metrics != "" {
		if err := report.WriteMetrics(f.metrics, sum, "tokenreg"); err != nil {
			logger.Error("write --metrics", "file", f.metrics, "err", err)
		}
	}
	if f.pushgateway != "" {
		pushRun(f.pushgateway, cfg.Shard, sum, logger)
	}
	if f.html != "" {
		writeRunHTML(ctx, f.html, outPath, sum, logger)
	}
	if sum.Limited {
		fmt.Fprintf(stderr, "tokenreg: canary done: stopped after --limit %d rows sent; %s; look at %s, then run the same command with --resume to go on\n", f.limit, remainingText(sum.Remaining), outPath)
		return code, nil
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return code, runErr // run prints it and keeps the code
	}
	if code == exitInterrupted {
		fmt.Fprintf(stderr, "tokenreg: interrupted; the result so far is in %s: run the same command with --resume to finish\n", outPath)
	}
	return code, nil
}

// oneRowPerLine refuses a result file (retry's input) with two rows for one
// input line: retrying the older one would send a row whose line already
// has a later outcome. It rewinds in; an input that cannot be rewound is
// not checked.
func oneRowPerLine(in io.Reader, name string) error {
	s, ok := in.(io.ReadSeeker)
	if !ok {
		return nil
	}
	rr, err := report.NewReader(s)
	if err != nil {
		return nil // the input reader says what is wrong
	}
	var seen []uint64 // a bit per line
	for {
		r, err := rr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if _, bad := errors.AsType[*report.RowError](err); bad {
			continue // the run reports it as an invalid row
		}
		if err != nil {
			return usagef("read %s: %v", name, err)
		}
		if r.Line > 1<<28 {
			continue // past any real input; the bit set stays under 32 MiB
		}
		w := r.Line / 64
		if w >= len(seen) {
			seen = append(seen, make([]uint64, w+1-len(seen))...)
		}
		if seen[w]&(1<<(r.Line%64)) != 0 {
			return usagef("%s has two result rows for line %d: an older tokenreg wrote a second row for a line it tried again on --resume; keep only the last row of each line (`tokenreg repair %s` does that), then retry", name, r.Line, name)
		}
		seen[w] |= 1 << (r.Line % 64)
	}
	if _, err := s.Seek(0, io.SeekStart); err != nil {
		return usagef("input: %v", err)
	}
	return nil
}

// verifyResume checks the earlier result against the whole input before
// the result is changed or anything sent, then rewinds the input.
func verifyResume(rs *batch.Resume, in io.ReadSeeker, name string, unescape bool) error {
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return usagef("input: %v", err)
	}
	rd, err := batch.NewReader(name, in, batch.ReaderOptions{Unescape: unescape})
	if err != nil {
		return err
	}
	return rs.Verify(rd)
}

// unsavedBanner starts the rows a run could not write to its result.
const unsavedBanner = "----- BEGIN UNSAVED RESULT ROWS -----"
const unsavedEnd = "----- END UNSAVED RESULT ROWS -----"

// writeUnsaved shows the answered rows that a write or ledger failure kept
// out of the result, as result CSV under a banner that says what to do.
func writeUnsaved(w io.Writer, outPath string, rows []report.Result, ledger bool) {
	fmt.Fprintf(w, "\ntokenreg: %d answered row(s) could not be written to %s; their answers are below, as result CSV.\n", len(rows), outPath)
	fmt.Fprintf(w, "tokenreg: after fixing the cause (a full disk?), append the rows between the markers to %s, then run the same command with --resume: it will not send them again.\n", outPath)
	if ledger {
		fmt.Fprintln(w, "tokenreg: (the ledger holds those that succeeded: --ledger skips them even if you do not append them)")
	}
	fmt.Fprintf(w, "tokenreg: for instance: sed -n '/^%s$/,/^%s$/p' LOGFILE | sed '1,2d;$d' >> %s\n", unsavedBanner, unsavedEnd, outPath)
	fmt.Fprintln(w, unsavedBanner)
	cw := report.NewWriter(w)
	cw.WriteHeader()
	for _, r := range rows {
		cw.Write(r)
	}
	fmt.Fprintln(w, unsavedEnd)
}

// exitCode maps a run's end to SPEC §5's exit codes.
func exitCode(err error, sum *report.Summary, resumed *batch.Resume) int {
	var ae *batch.AbortError
	switch {
	case errors.As(err, &ae):
		return exitAborted
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, batch.ErrLimit):
		return exitLimit
	case err != nil: // an unusable input, a write or ledger failure
		return exitUsage
	}
	notOK := sum.Rows() - sum.Count(report.StatusOK) - sum.Count(report.StatusSkipped) - sum.Count(report.StatusValid)
	if resumed != nil {
		notOK += resumed.NotOK
	}
	if notOK > 0 {
		return exitNotAllOK
	}
	return exitOK
}

func retrySelect(statuses, codes string) (func(*batch.Row) bool, error) {
	want := map[string]bool{}
	for _, s := range splitList(statuses) {
		st := report.Status(strings.ToLower(s))
		if !st.Known() {
			return nil, usagef("--status %q: use ok, failed, error, invalid or skipped", s)
		}
		want[string(st)] = true
	}
	if len(want) == 0 {
		return nil, usagef("--status is empty")
	}
	wantCode := map[string]bool{}
	for _, c := range splitList(codes) {
		wantCode[c] = true
	}
	return func(r *batch.Row) bool {
		if !want[r.Status] {
			return false
		}
		return len(wantCode) == 0 || wantCode[r.Code]
	}, nil
}

func defaultOut(m mode, input string) string {
	switch {
	case m == modeValidate:
		return "-"
	case input == "-":
		return "stdin." + m.String() + ".csv"
	}
	base := strings.TrimSuffix(input, filepath.Ext(input))
	if m == modeRetry {
		return base + ".retry.csv"
	}
	return base + ".result.csv"
}

// openInput opens the input and, for a regular file, counts its rows with
// the same reader the run uses, so that a fatal problem stops the run before
// anything is sent. total is -1 when unknown (stdin, a pipe).
func openInput(path string, stdin io.Reader, unescape bool, sel func(*batch.Row) bool) (io.ReadCloser, string, int64, error) {
	var f *os.File
	var err error
	if path == "-" {
		// Standard input is spooled to a private temporary file, so that it
		// is checked whole before anything is sent, like a regular file.
		if f, err = spool(stdin); err != nil {
			return nil, "-", 0, err
		}
	} else if f, err = os.Open(path); err != nil {
		return nil, path, 0, usagef("input: %v", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		if err == nil && st.IsDir() {
			f.Close()
			return nil, path, 0, usagef("input %s is a directory", path)
		}
		return f, path, -1, nil
	}
	rd, err := batch.NewReader(path, f, batch.ReaderOptions{Unescape: unescape})
	if err != nil {
		f.Close()
		return nil, path, 0, err
	}
	var n int64
	if sel == nil {
		c, err := rd.Count()
		if err != nil {
			f.Close()
			return nil, path, 0, err
		}
		n = int64(c)
	} else {
		for {
			row, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, path, 0, err
			}
			if sel(&row) {
				n++
			}
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, path, 0, usagef("input: %v", err)
	}
	return f, path, n, nil
}

// spool copies r into an unlinked temporary file and returns it rewound.
func spool(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "tokenreg-stdin-*.csv") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	os.Remove(f.Name()) // gone with the last descriptor, even after a crash
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool standard input: %w", err)
	}
	return f, nil
}

func newLogger(w io.Writer, format string, verbose bool) (*slog.Logger, error) {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: use text or json", format)
}

const runUsage = `Usage: tokenreg run INPUT.csv [--out RESULT.csv] [flags]

Registers every row of INPUT.csv (- for stdin) and writes one result row per
input row to RESULT.csv (default INPUT.result.csv), flushed as each finishes.
An existing result is never overwritten silently: --resume continues it (rows
already decided are not sent again), --force replaces it.

Examples:
  tokenreg run staff.csv
  tokenreg run staff.csv --rate 20 --workers 8 --summary run.json
  tokenreg run staff.csv --resume              # after a crash or Ctrl-C
  tokenreg run staff.csv --limit 20            # canary: send 20 rows, stop (exit 4); --resume goes on
  tokenreg run staff.csv --html staff.html     # and draw the run's report
  tokenreg run inventory.csv --ledger /var/lib/tokenreg/ledger.db --metrics /var/lib/node_exporter/tokenreg.prom
  tokenreg run inventory.csv --shard 2/4       # machine 2 of 4 takes its share

Flags:
`

const retryUsage = `Usage: tokenreg retry RESULT.csv [--out NEW.csv] [--codes 29004,29008] [--status failed,error] [flags]

Sends again the rows of an earlier result that did not succeed (by default
status failed and error), after you fixed their cause, and writes a new result
(default RESULT.retry.csv). Lines refer to RESULT.csv.

Examples:
  tokenreg retry staff.result.csv --codes 29004      # after freeing the phone numbers
  tokenreg retry staff.result.csv --status error     # after a network outage

Flags:
`

const validateUsage = `Usage: tokenreg validate INPUT.csv [--out RESULT.csv [--force]]

Checks INPUT.csv offline (no server, no credentials), sends nothing, and writes
the result format with status valid, invalid or skipped (a duplicate) to
RESULT.csv, or to stdout without --out. Warns about rows that conflict inside
the file. Exit 1 if any row is invalid.

Example:
  tokenreg validate staff.csv --out check.csv

Flags:
`
