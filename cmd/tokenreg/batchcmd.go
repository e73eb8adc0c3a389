package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// runBatch is run, retry and validate, in four steps: parse the command
// line, open what the run needs (the client, the input, the result, the
// ledger), execute it, and report its end. Each step's error carries its
// cause (a usageError, client.ErrConfig, client.ErrCredentials, an input
// error…); exitCodeOf turns it into the exit code in one place.
func runBatch(ctx context.Context, m mode, args []string, stdin io.Reader, stdout, stderr io.Writer, env environ) (int, error) {
	b := &batchCmd{mode: m, stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	defer b.close()
	if err := b.parse(args); err != nil {
		return exitCodeOf(err), err
	}
	if err := b.open(ctx); err != nil {
		return exitCodeOf(err), advise(err)
	}
	outcome, runErr := b.execute(ctx)
	code, err := b.report(ctx, outcome, runErr)
	return code, advise(err)
}

// advise adds to an error of the libraries what the operator does about it
// on this command line: batch and client say what happened in their own
// words and name no flag (issue 15); the command knows its flags. The
// error stays wrapped, so its exit code is unchanged.
func advise(err error) error {
	var ae *batch.AbortError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ae):
		return fmt.Errorf("%w; %s", err, abortAdvice(ae.Rule))
	case errors.Is(err, batch.ErrResumeMismatch):
		return fmt.Errorf("%w; resume with the input it was made from, or use --force to start over", err)
	}
	return err
}

// requestAdvice says what to do about a failed request, for its row's
// message (batch.Config.Advice): the fix that is a flag of this command.
func requestAdvice(err error) string {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return "if the server's certificate comes from a private CA, pass that CA with --ca-file"
	}
	return ""
}

// abortAdvice says what to do after the circuit breaker's rule stopped a
// run.
func abortAdvice(rule batch.AbortRule) string {
	const resume = "then run the same command with --resume"
	switch rule {
	case batch.AbortSameCode:
		return "check CENTAGATE_URL, CENTAGATE_ADMIN and the secrets (or the --credentials file), " + resume
	case batch.AbortErrors:
		return "fix it, " + resume
	case batch.AbortTimeouts:
		return "check the server (or allow a longer --timeout), " + resume
	}
	return resume
}

// batchCmd is one run, retry or validate between its steps.
type batchCmd struct {
	mode           mode
	stdin          io.Reader
	stdout, stderr io.Writer
	env            environ

	// parse
	f      *batchFlags
	input  string
	logger *slog.Logger
	cfg    batch.Config

	// open
	in      io.ReadCloser
	name    string // the input's name in messages
	total   int64  // rows to send, -1 when unknown
	sha     string // the input's SHA-256 from the pre-pass; "" when there was none
	rd      *batch.Reader
	outPath string
	res     *resultFile
	closers []func() // run in reverse order by close

	// execute
	sum *report.Summary
}

func (b *batchCmd) onClose(f func()) { b.closers = append(b.closers, f) }

// close releases what open opened, last first.
func (b *batchCmd) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// parse reads the command line into the flags and the run's configuration;
// it opens nothing.
func (b *batchCmd) parse(args []string) error {
	m := b.mode
	fs, f := newBatchFlags(m, b.stderr)
	b.f = f
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usagef("%s takes one input file (or - for stdin), got %d arguments", m, len(pos))
	}
	b.input = pos[0]
	if b.logger, err = newLogger(b.stderr, f.logFormat, f.verbose); err != nil {
		return err
	}
	if m == modeValidate {
		f.dryRun = true
		f.abortAfter = 0
	}
	if err := checkPushgateway(f.pushgateway); err != nil {
		return err
	}
	if f.resume && f.force {
		return usagef("--resume and --force exclude each other")
	}
	if f.progress != "auto" && f.progress != "always" && f.progress != "never" {
		return usagef("--progress %q: use auto, always or never", f.progress)
	}
	if f.rate < 0 || f.burst < 1 || f.workers < 0 || f.workers > 1024 || f.attempts < 1 || f.timeout <= 0 || f.abortAfter < 0 || f.limit < 0 {
		return usagef("--rate must be ≥ 0, --burst ≥ 1, --workers 0..1024 (0 = automatic), --attempts ≥ 1, --timeout > 0, --abort-after ≥ 0, --limit ≥ 0")
	}
	if f.workers == 0 {
		f.workers = batch.DefaultWorkers(f.rate)
	}
	b.cfg = batch.Config{
		Rate: f.rate, Burst: f.burst, Workers: f.workers, Attempts: f.attempts,
		AbortAfter: f.abortAfter, DryRun: f.dryRun, Logger: b.logger, Verbose: f.verbose,
		Limit: f.limit, Advice: requestAdvice,
	}
	if f.shard != "" {
		if b.cfg.Shard, err = batch.ParseShard(f.shard); err != nil {
			return usagef("--shard: %v", err)
		}
	}
	if m == modeRetry {
		if b.cfg.Select, err = retrySelect(f.statuses, f.codes); err != nil {
			return err
		}
	}
	return nil
}

// open makes the client (outside dry runs), opens and checks the input,
// opens the result and the ledger. Nothing has been sent when it fails.
func (b *batchCmd) open(ctx context.Context) error {
	if !b.f.dryRun {
		if err := b.openClient(); err != nil {
			return err
		}
	}
	if err := b.openInput(); err != nil {
		return err
	}
	// The ledger is opened once the result is locked, before the result
	// is created, replaced or rewritten by a resume: a ledger in use by
	// another run (or unreadable) refuses the run and leaves the result
	// as it was, every line with its row.
	openLedgerNow := func() error {
		if b.f.ledger == "" {
			return nil
		}
		lg, err := openLedger(ctx, b.f.ledger, b.logger)
		if err != nil {
			return err
		}
		b.onClose(func() { lg.Close() })
		b.cfg.Ledger = lg
		return nil
	}
	if err := b.openResult(openLedgerNow); err != nil {
		return err
	}
	b.tuneMemory()
	return nil
}

func (b *batchCmd) openClient() error {
	f := b.f
	creds, err := credentials(b.env, f.credentials, f.url, f.admin)
	if err != nil {
		return err
	}
	if f.insecure {
		b.logger.Warn("TLS verification is OFF (--insecure-skip-verify): anyone on the network path can read the cenToken and answer in the server's name")
	}
	c, err := client.New(client.Config{
		Credentials: creds, Timeout: f.timeout, Conns: f.workers,
		CAFile: f.caFile, CertFile: f.clientCert, KeyFile: f.clientKey,
		InsecureSkipVerify: f.insecure, AllowHTTP: f.allowHTTP,
		UserAgent: "tokenreg/" + buildVersion(),
	})
	if err != nil {
		return clientFlagError(err)
	}
	b.onClose(c.CloseIdleConnections)
	b.cfg.Registrar = c
	return nil
}

// clientFlags name the flag that sets each client.Config field that a
// client.ConfigError may blame.
var clientFlags = map[string]string{
	"AllowHTTP": "--allow-http",
	"CAFile":    "--ca-file",
	"CertFile":  "--client-cert",
	"KeyFile":   "--client-key",
}

// clientFlagError adds to a client configuration error the flag that sets
// the setting at fault; the error stays wrapped (client.ErrConfig).
func clientFlagError(err error) error {
	var ce *client.ConfigError
	if !errors.As(err, &ce) || clientFlags[ce.Field] == "" {
		return err
	}
	if ce.Field == "AllowHTTP" {
		return fmt.Errorf("%w (%s)", err, clientFlags[ce.Field])
	}
	return fmt.Errorf("%s: %w", clientFlags[ce.Field], err)
}

// openInput opens the input; a regular file is read once first, so that a
// file that cannot be used stops the run before anything is sent, and the
// progress bar knows the total.
func (b *batchCmd) openInput() error {
	retry := b.mode == modeRetry
	if retry && b.input != "-" {
		if err := resultInUse(b.input); err != nil {
			return err
		}
	}
	in, name, total, sha, err := openInput(b.input, b.stdin, retry, b.cfg.Select)
	if err != nil {
		return err
	}
	b.in, b.name, b.total, b.sha = in, name, total, sha
	b.onClose(func() { in.Close() })
	if retry {
		if err := oneRowPerLine(in, name); err != nil {
			return err
		}
	}
	if b.rd, err = batch.NewReader(name, in, batch.ReaderOptions{Unescape: retry, NoSHA256: sha != ""}); err != nil {
		return err
	}
	if retry && !b.rd.HasStatus() {
		return usagef("%s has no status column: retry takes a result file written by tokenreg run", name)
	}
	return nil
}

// openResult opens the result: a new file, or with --resume the earlier
// one, checked against the whole input first when the input can be read
// again.
func (b *batchCmd) openResult(locked func() error) error {
	retry := b.mode == modeRetry
	b.outPath = b.f.out
	if b.outPath == "" {
		b.outPath = defaultOut(b.mode, b.input)
	}
	if b.input != "-" && b.outPath != "-" && sameFile(b.input, b.outPath) {
		// --force would replace the inventory by the result, header first.
		return usagef("--out %s is the input %s: write the result to another file", b.outPath, b.input)
	}
	if err := b.distinctReports(); err != nil {
		return err
	}
	seeker, seekable := b.in.(io.ReadSeeker)
	reread := b.total >= 0 && seekable
	verify := func(rs *batch.Resume) error {
		if err := rs.CheckShard(b.cfg.Shard); err != nil {
			return usagef("--resume %s: %v", b.outPath, err)
		}
		if rs.Sent > 0 && b.f.dryRun {
			// Its error rows would be rewritten as valid: their "outcome
			// unknown" notes lost, and a real --resume refused after.
			return usagef("--resume --dry-run %s: the result holds rows that were sent (%d); a dry run would write valid rows over its error rows: check the input with validate, or write the dry run elsewhere with --out", b.outPath, rs.Sent)
		}
		if rs.Valid > 0 && !b.f.dryRun {
			// A dry run's rows are final for a dry run only: kept, they
			// would never be sent, and the run would end "done".
			return usagef("--resume %s: it is the result of a dry run or of validate (%d rows valid, none sent): start the real run with --force to replace it, or write elsewhere with --out", b.outPath, rs.Valid)
		}
		if reread {
			return verifyResume(rs, seeker, b.name, retry)
		}
		return nil
	}
	res, err := openResult(b.outPath, b.stdout, b.f.resume, b.f.force, verify, locked)
	if err != nil {
		return err
	}
	b.res = res
	b.onClose(res.close)
	if res.resume == nil {
		return nil
	}
	if reread {
		// verify may have read the input again: start the run's reader
		// afresh.
		if _, err := seeker.Seek(0, io.SeekStart); err != nil {
			return usagef("input: %v", err)
		}
		if b.rd, err = batch.NewReader(b.name, b.in, batch.ReaderOptions{Unescape: retry, NoSHA256: b.sha != ""}); err != nil {
			return err
		}
	}
	b.cfg.Resume = res.resume
	b.logger.Info("resuming", "result", b.outPath, "rows_done", res.resume.Final, "rows_to_retry", res.resume.Rows-res.resume.Final, "torn_line_dropped", res.torn)
	return nil
}

// distinctReports refuses a --summary, --metrics or --html that names the
// input, the result, the ledger or another of them: written at the end by
// rename, it would replace that file (the result's rows, the inventory)
// with a report.
func (b *batchCmd) distinctReports() error {
	var others []namedPath
	if b.input != "-" {
		others = append(others, namedPath{"the input", b.input})
	}
	others = append(others, namedPath{"--out", b.outPath})
	if b.f.ledger != "" {
		others = append(others, namedPath{"--ledger", b.f.ledger})
	}
	if b.f.html != "" && b.outPath == "-" {
		return usagef("--html draws the result file, and --out - writes the result to stdout: give --out a file")
	}
	reports := []namedPath{{"--summary", b.f.summary}, {"--metrics", b.f.metrics}, {"--html", b.f.html}}
	if err := checkReports(reports, others); err != nil {
		return usagef("%v; nothing was sent", err)
	}
	return nil
}

// samePath reports whether a and b name one file: the same existing file,
// or the same absolute path.
func samePath(a, b string) bool {
	if sameFile(a, b) {
		return true
	}
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == ab
}

// tuneMemory bounds the heap by the input's size unless the operator set
// GOMEMLIMIT.
func (b *batchCmd) tuneMemory() {
	b.cfg.Rows = int(b.total)
	if b.env.getenv("GOMEMLIMIT") != "" || b.total <= 0 {
		return
	}
	// The duplicate index is the one thing that grows with the input
	// (16 bytes a slot); without a limit the collector lets the heap
	// reach twice the live size. 24 MiB of room plus 24 bytes a row
	// keeps a million rows under 64 MB of RSS. Within that budget the
	// collector need not run every few MB of garbage (each request
	// makes ~10 KB): a GOGC of 400 lets the limit pace it, which saves
	// a tenth of the CPU at full speed.
	debug.SetMemoryLimit(24<<20 + 24*b.total)
	if b.env.getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// execute runs the batch and closes the result; its error is the run's.
func (b *batchCmd) execute(ctx context.Context) (batch.Outcome, error) {
	b.sum = report.NewSummary(time.Now())
	b.sum.Input, b.sum.ResultPath = b.name, b.outPath
	showBar := b.f.progress == "always" || (b.f.progress == "auto" && b.env.isTerminal(b.stderr))
	prog := report.NewProgress(b.stderr, showBar, b.total, b.logger, 10*time.Second)
	b.cfg.OnResult = prog.Add
	outcome, runErr := batch.Run(ctx, b.rd, b.res.w, b.sum, b.cfg)
	prog.Finish()
	if len(outcome.Unsaved) > 0 {
		// The file ends where its last whole row ends, so that the rows
		// shown below can be appended to it.
		if err := b.res.cut(); err != nil {
			b.logger.Error("cut the result back to its last whole row", "result", b.outPath, "err", err)
		}
	}
	if err := b.res.finish(); err != nil && runErr == nil {
		runErr = err
	}
	b.sum.InputSHA256 = b.sha
	if b.sha == "" {
		b.sum.InputSHA256 = b.rd.SHA256() // read once, as it went: known if read to its end
	}
	b.sum.Finish(time.Now())
	return outcome, runErr
}

// report writes the summary and the run's other reports, and says what to
// do next; it returns the exit code and the error run prints.
func (b *batchCmd) report(ctx context.Context, outcome batch.Outcome, runErr error) (int, error) {
	f, sum, logger := b.f, b.sum, b.logger
	code := exitCode(runErr, sum, b.res.resume)
	sum.ExitCode = code
	var ae *batch.AbortError
	switch {
	case errors.As(runErr, &ae):
		sum.Aborted = ae.Reason + "; " + abortAdvice(ae.Rule)
	case errors.Is(runErr, context.Canceled):
		sum.Interrupted = true
	case errors.Is(runErr, batch.ErrLimit):
		sum.Limited = true
	}
	describeRun(sum, b.mode, f, b.total, b.res.resume)
	if outcome.Unsent > 0 || sum.Interrupted || sum.Aborted != "" {
		logger.Warn("run stopped before the end: run the same command with --resume to finish", "result", b.outPath, "rows_held_back", outcome.Unsent)
	}
	if err := sum.WriteText(b.stderr); err != nil {
		logger.Warn("write summary", "err", err)
	}
	if len(outcome.Unsaved) > 0 {
		writeUnsaved(b.stderr, b.outPath, outcome.Unsaved, b.cfg.Ledger != nil, outcome.LedgerFailed)
	}
	// A report file asked for and not written is a failure of the run
	// (exit 2): cron and the textfile collector read these files, and a
	// stale one would tell the last run's story. The result is complete.
	var lost []error
	if f.summary != "" {
		data, err := sum.JSON()
		if err == nil {
			err = report.WriteFileAtomic(f.summary, data, 0o600) // it quotes server messages: private (issue 16)
		}
		if err != nil {
			lost = append(lost, fmt.Errorf("--summary %s: %w", f.summary, err))
		}
	}
	if f.metrics != "" {
		if err := report.WriteMetrics(f.metrics, sum, "tokenreg"); err != nil {
			lost = append(lost, fmt.Errorf("--metrics %s: %w", f.metrics, err))
		}
	}
	if f.pushgateway != "" {
		// A failed push is logged and leaves the exit code alone (README,
		// Monitoring): a Job that failed for its monitoring would be run
		// again by Kubernetes.
		pushRun(f.pushgateway, b.cfg.Shard, sum, logger)
	}
	if f.html != "" {
		if err := writeRunHTML(ctx, f.html, b.outPath, sum, logger); err != nil {
			lost = append(lost, fmt.Errorf("--html %s: %w", f.html, err))
		}
	}
	if len(lost) > 0 {
		err := fmt.Errorf("the run finished and its result %s is complete, but reports could not be written (%w): fix that and write them again with `tokenreg report`, or run again", b.outPath, errors.Join(lost...))
		if code == exitOK || code == exitNotAllOK {
			return exitUsage, err
		}
		logger.Error("reports", "err", err) // 3, 4 and 130 say more about the run; they stay
	}
	if sum.Limited {
		fmt.Fprintf(b.stderr, "tokenreg: canary done: stopped after --limit %d rows sent; %s; look at %s, then run the same command with --resume to go on\n", f.limit, remainingText(sum.Remaining), b.outPath)
		return code, nil
	}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return code, runErr // run prints it and keeps the code
	}
	if code == exitInterrupted {
		fmt.Fprintf(b.stderr, "tokenreg: interrupted; the result so far is in %s: run the same command with --resume to finish\n", b.outPath)
	}
	return code, nil
}

// unsavedBanner starts the rows a run could not write to its result.
const unsavedBanner = "----- BEGIN UNSAVED RESULT ROWS -----"
const unsavedEnd = "----- END UNSAVED RESULT ROWS -----"

// writeUnsaved shows the answered rows that a write or ledger failure kept
// out of the result, as result CSV under a banner that says what to do.
func writeUnsaved(w io.Writer, outPath string, rows []report.Result, ledger, ledgerFailed bool) {
	fmt.Fprintf(w, "\ntokenreg: %d answered row(s) could not be written to %s; their answers are below, as result CSV.\n", len(rows), outPath)
	fmt.Fprintf(w, "tokenreg: after fixing the cause (a full disk?), append the rows between the markers to %s, then run the same command with --resume: it will not send them again.\n", outPath)
	switch {
	case ledgerFailed:
		fmt.Fprintln(w, "tokenreg: (the ledger could not record some of the successes among them: --resume records those you append; any you do not append are sent again)")
	case ledger:
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

// exitCode maps a run's end to SPEC §5's exit codes: its error's, else 1
// when a row (here or in the resumed part) is not ok.
func exitCode(err error, sum *report.Summary, resumed *batch.Resume) int {
	if err != nil {
		return exitCodeOf(err)
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
