// Command tokenreg registers SMS and OTP tokens in bulk on a CENTAGATE
// server. See `tokenreg help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"golang.org/x/term"

	"github.com/tokenreg/tokenreg/batch"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	// One channel for the whole run, so that no second signal is lost
	// between the first and a new registration.
	sigs := make(chan os.Signal, 2)
	// The terminal, or the pipe stderr goes to (`| tee log`), may go away
	// (a closed session, a killed tee or log shipper): a write to it must
	// fail, not kill the run by SIGPIPE before it has written its rows in
	// flight. A result written to stdout then fails as a full disk does.
	signal.Ignore(syscall.SIGPIPE)
	// SIGHUP too: a closed SSH session must stop the run as gracefully as
	// Ctrl-C, not kill it in the middle of its rows.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		// The first signal stops the run gracefully; a second one ends it
		// at once. Each result row reaches the OS in one write, so the file
		// is valid up to its last complete row.
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "tokenreg: %v: stopping after the rows in flight (a second signal exits at once)\n", sig)
		cancel()
		<-sigs
		fmt.Fprintln(os.Stderr, "tokenreg: second interrupt: exiting now; run again with --resume to finish")
		os.Exit(exitInterrupted)
	}()
	env := environ{getenv: os.Getenv, isTerminal: isTerminal}
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, env)
	cancel()
	os.Exit(code)
}

// Exit codes (SPEC §5).
const (
	exitOK          = 0
	exitNotAllOK    = 1
	exitUsage       = 2
	exitAborted     = 3
	exitLimit       = 4
	exitInterrupted = 130
)

// environ is what run may learn from the process beyond its arguments.
type environ struct {
	getenv     func(string) string
	isTerminal func(w io.Writer) bool
}

// usageError is a command-line or configuration mistake: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// run is the whole program, testable with buffers: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env environ) (code int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "tokenreg: internal error: %v (please report it with the stack below)\n%s", v, debug.Stack())
			code = exitUsage
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(stderr, mainUsage)
		return exitUsage
	}
	var err error
	code = exitOK
	switch cmd, rest := args[0], args[1:]; cmd {
	case "run":
		code, err = runBatch(ctx, modeRun, rest, stdin, stdout, stderr, env)
	case "retry":
		code, err = runBatch(ctx, modeRetry, rest, stdin, stdout, stderr, env)
	case "validate":
		code, err = runBatch(ctx, modeValidate, rest, stdin, stdout, stderr, env)
	case "ledger":
		code, err = runLedger(ctx, rest, stdout, stderr)
	case "merge":
		code, err = runMerge(ctx, rest, stdout, stderr)
	case "report":
		code, err = runReport(ctx, rest, stdout, stderr, env)
	case "repair":
		code, err = runRepair(ctx, rest, stderr)
	case "version", "--version", "-version":
		if len(rest) > 0 && isHelpFlag(rest[0]) {
			fmt.Fprint(stderr, versionUsage)
			return exitOK
		}
		fmt.Fprintln(stdout, "tokenreg", buildVersion())
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			if !commands[rest[0]] {
				fmt.Fprintf(stderr, "tokenreg: help: unknown command %q\n\n%s", rest[0], mainUsage)
				return exitUsage
			}
			// Asked for, the help is the output: to stdout, so that
			// `tokenreg help run | less` works (`run --help` keeps the
			// flag package's stderr).
			return run(ctx, []string{rest[0], "--help"}, stdin, stdout, stdout, env)
		}
		fmt.Fprint(stdout, mainUsage)
	default:
		fmt.Fprintf(stderr, "tokenreg: unknown command %q\n\n%s", cmd, mainUsage)
		return exitUsage
	}
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "tokenreg: %v\n", err)
		if code == exitOK {
			code = exitCodeOf(err)
		}
	}
	return code
}

// commands are the names `tokenreg help COMMAND` knows.
var commands = map[string]bool{
	"run": true, "retry": true, "validate": true, "report": true, "ledger": true,
	"merge": true, "repair": true, "version": true, "help": true,
}

// isHelpFlag reports whether arg asks for a command's help.
func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

const versionUsage = `Usage: tokenreg version

Prints tokenreg's version: the release tag or commit it was built from (make
build sets it from git describe), else the module version and VCS revision Go
recorded.

Example:
  tokenreg version
`

// exitCodeOf maps the error that ends a command to SPEC §5's exit code, by
// its type: the one place that does. Everything not named here (a
// usageError, client.ErrConfig, client.ErrCredentials, a credentials file,
// an unusable input, a write or ledger failure) is exit 2.
func exitCodeOf(err error) int {
	var ae *batch.AbortError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &ae):
		return exitAborted
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, batch.ErrLimit):
		return exitLimit
	}
	return exitUsage
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "(devel)"
}

const mainUsage = `tokenreg registers SMS and OTP tokens in bulk on a CENTAGATE server.

Usage:
  tokenreg run INPUT.csv [--out RESULT.csv] [flags]     register every row
  tokenreg retry RESULT.csv [--out NEW.csv] [flags]     send again the rows that did not succeed
  tokenreg validate INPUT.csv [--out RESULT.csv]        check a file offline, send nothing
  tokenreg report RESULT.csv... [--html FILE]           one self-contained HTML report of results
  tokenreg ledger export|import --ledger FILE ...       move the reconciliation ledger to/from CSV
  tokenreg merge RESULT... [--out MERGED.csv]           combine the results of the shards of one input
  tokenreg repair RESULT.csv                            keep the last row of each line of an old result
  tokenreg version
  tokenreg help COMMAND                                 flags and examples of a command

The server and credentials come from the environment (or --credentials FILE),
never from flags that would show in ps and shell history:
  CENTAGATE_URL           e.g. https://mfa.example.com/CentagateWS/webresources
  CENTAGATE_ADMIN         the admin username
  CENTAGATE_AUTH_TOKEN    the admin's auth token
  CENTAGATE_SECRET_CODE   the admin's secret code

Input: a CSV with a header naming username, tokenSn and tokenType (1/SMS or 2/OTP).
Result: INPUT.result.csv with line,username,tokenSn,tokenType,status,code,message,...
Exit codes: 0 all ok or skipped, 1 some rows not ok, 2 usage or input error,
3 aborted by the circuit breaker, 4 stopped at --limit (a canary; rows remain:
--resume sends them), 130 interrupted.

Example:
  export CENTAGATE_URL=https://mfa.example.com/CentagateWS/webresources CENTAGATE_ADMIN=webadmin
  export CENTAGATE_AUTH_TOKEN=... CENTAGATE_SECRET_CODE=...   # or: --credentials /etc/tokenreg/creds
  tokenreg run staff.csv --limit 20            # canary: 20 rows, exit 4; look, then --resume
  tokenreg run staff.csv --rate 20 --workers 8 --resume --html staff.html
  tokenreg retry staff.result.csv --codes 29004,29008
`

// isTerminal reports whether w is a terminal (for the progress bar).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
