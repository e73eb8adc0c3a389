package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// errHelp is returned after --help printed the usage.
var errHelp = errors.New("help shown")

// parseInterspersed parses flags that may come before or after the
// positional arguments (`tokenreg run in.csv --rate 5`), which the flag
// package alone stops at.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if len(args) > 0 && args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{msg: err.Error()}
		}
		// The flag package stops after a "--" it consumed (not one that was
		// a flag's value): everything after it is positional.
		if n := len(args) - fs.NArg(); n > 0 && args[n-1] == "--" && !takesValue(fs, args[:n-1]) {
			return append(pos, fs.Args()...), nil
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// takesValue reports whether the last of the parsed args is a flag that
// takes the next argument as its value (`--out -- …`).
func takesValue(fs *flag.FlagSet, parsed []string) bool {
	if len(parsed) == 0 {
		return false
	}
	last := parsed[len(parsed)-1]
	if len(last) < 2 || last[0] != '-' || strings.Contains(last, "=") {
		return false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(last, "-"), "-")
	fl := fs.Lookup(name)
	if fl == nil {
		return false
	}
	if b, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
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
	fs.StringVar(&f.out, "out", "", outUsage[m])
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
	fs.IntVar(&f.workers, "workers", 0, "requests in flight at once; 0 = automatic: 16 at --rate 0, else --rate × 0.2 s rounded up, at least 4 and at most 64 (4 at the default --rate 10)")
	fs.DurationVar(&f.timeout, "timeout", 15*time.Second, "limit for each wait of a request (connect, TLS, answer headers, body)")
	fs.IntVar(&f.attempts, "attempts", 5, "most requests per row for transient failures (backoff with jitter)")
	fs.IntVar(&f.abortAfter, "abort-after", 20, "stop (exit 3) if the first N answered rows all fail with one code, or 2.5×N rows in a row end in error, or N/10 (rounded up) rounds of --workers requests in a row time out (2×--workers, at least 6, at N=20); 0 = never")
	fs.BoolVar(&f.dryRun, "dry-run", false, "check the rows and write the result, send nothing")
	fs.StringVar(&f.progress, "progress", "auto", "progress bar: auto (when stderr is a terminal), always or never; without a bar, a progress log line at most every 10s")
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

// outUsage is --out's help: each command has its own default.
var outUsage = map[mode]string{
	modeRun:      "write the result to `RESULT.csv` (default: INPUT.result.csv beside the input; stdin.run.csv for -)",
	modeRetry:    "write the new result to `NEW.csv` (default: RESULT.retry.csv beside RESULT.csv; stdin.retry.csv for -)",
	modeValidate: "write the result to `RESULT.csv` (default: stdout)",
}

// serverHelp is what run and retry say about the server and the exit code.
const serverHelp = `
The server and credentials come from --credentials FILE (KEY=VALUE lines,
mode 0600), else from the environment: CENTAGATE_URL, CENTAGATE_ADMIN,
CENTAGATE_AUTH_TOKEN, CENTAGATE_SECRET_CODE. --url and --admin override the
first two; the secrets are never flags (they would show in ps).

Exit 0 every row ok or skipped, 1 some rows not ok (see the result), 2 usage,
configuration or unreadable input, 3 stopped by the circuit breaker
(--abort-after), 4 stopped at --limit, 130 interrupted (then --resume).
`

const runUsage = `Usage: tokenreg run INPUT.csv [--out RESULT.csv] [flags]

Registers every row of INPUT.csv (- for stdin) and writes one result row per
input row to RESULT.csv (default INPUT.result.csv), flushed as each finishes.
An existing result is never overwritten silently: --resume continues it (rows
already decided are not sent again), --force replaces it.
` + serverHelp + `
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
` + serverHelp + `
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
