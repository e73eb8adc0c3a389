package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/tokenreg/tokenreg/report"
)

// runReport is `tokenreg report RESULT.csv… [--html FILE] [--title T]
// [--summary S.json…]`.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer, env environ) (int, error) {
	fs := flag.NewFlagSet("tokenreg report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	var htmlPath, title string
	var summaries []string
	perGroup := 25
	fs.StringVar(&htmlPath, "html", "", "write the report to `FILE` (default: the first result with .html for .csv; - for stdout)")
	fs.StringVar(&title, "title", "", "the page's title (default: tokenreg report: RESULT)")
	fs.Func("summary", "the `S.json` a run wrote with --summary (repeat for several results; default: found beside each result)", func(s string) error {
		summaries = append(summaries, s)
		return nil
	})
	fs.IntVar(&perGroup, "rows-per-code", perGroup, "list at most `N` rows of each code or status that needs action")
	results, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(results) == 0 {
		fs.Usage()
		return exitUsage, usagef("report takes one or more result files")
	}
	if perGroup < 1 {
		return exitUsage, usagef("--rows-per-code must be ≥ 1")
	}
	sources, err := reportSources(results, summaries)
	if err != nil {
		return exitUsage, err
	}
	// The page keeps a few MB whatever the input; the rows read are
	// garbage at once. Collecting a quarter as often saves a quarter of
	// the CPU (a million rows: ~1.5 s -> ~1.1 s) for ~30 MB of RSS.
	if env.getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if env.getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20)
	}
	if htmlPath == "" {
		htmlPath = strings.TrimSuffix(results[0], filepath.Ext(results[0])) + ".html"
	}
	for _, r := range results {
		if filepath.Clean(r) == filepath.Clean(htmlPath) {
			return exitUsage, usagef("--html %s would replace a result file: choose another name", htmlPath)
		}
	}
	if title == "" {
		title = "tokenreg report: " + filepath.Base(results[0])
		if len(results) > 1 {
			title += fmt.Sprintf(" and %d more", len(results)-1)
		}
	}
	page, err := report.BuildPage(ctx, sources, report.PageOptions{Title: title, RowsPerGroup: perGroup, Version: buildVersion()})
	if err != nil {
		return exitUsage, fmt.Errorf("report: %w", err)
	}
	if htmlPath == "-" {
		return exitOK, page.WriteHTML(stdout)
	}
	if err := writePage(htmlPath, page); err != nil {
		return exitUsage, err
	}
	fmt.Fprintf(stderr, "tokenreg: report written to %s\n", htmlPath)
	return exitOK, nil
}

// writePage writes the report atomically, private like the result it
// shows (usernames and phone numbers are personal data).
func writePage(path string, page *report.Page) error {
	var buf bytes.Buffer
	if err := page.WriteHTML(&buf); err != nil {
		return fmt.Errorf("render report: %w", err)
	}
	if err := report.WriteFileAtomic(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeRunHTML is run's and retry's --html: the report of the result just
// written, with the run's own summary. The caller makes the run's exit code
// say when it fails. The run refused before it began an --html that names
// the result or its input, or that has no result file to draw
// (distinctReports).
func writeRunHTML(ctx context.Context, path, result string, sum *report.Summary, logger *slog.Logger) error {
	snap := sum.Snapshot()
	// Written after an interrupt too: the page must not inherit the stop.
	page, err := report.BuildPage(context.WithoutCancel(ctx), []report.ResultSource{{Path: result, Summary: &snap}},
		report.PageOptions{Title: "tokenreg report: " + filepath.Base(result), Version: buildVersion()})
	if err == nil {
		err = writePage(path, page)
	}
	if err == nil {
		logger.Info("report written", "file", path)
	}
	return err
}

// reportSources pairs each result with its run's summary: one given with
// --summary whose "result" names it (or the only summary, for the only
// result), else one beside it (see summaryBeside).
func reportSources(results, summaries []string) ([]report.ResultSource, error) {
	sources := make([]report.ResultSource, len(results))
	for i, r := range results {
		sources[i].Path = r
	}
	for _, path := range summaries {
		s, err := readSummary(path)
		if err != nil {
			return nil, err
		}
		i := matchResult(results, s.Result)
		if i < 0 && len(results) == 1 && len(summaries) == 1 {
			i = 0
		}
		if i < 0 {
			return nil, usagef("--summary %s is the summary of %q, which is not among the results given", path, s.Result)
		}
		if sources[i].Summary != nil {
			return nil, usagef("--summary %s: %s already has a summary", path, results[i])
		}
		sources[i].Summary = s
	}
	for i := range sources {
		if sources[i].Summary == nil {
			sources[i].Summary = summaryBeside(sources[i].Path)
		}
	}
	return sources, nil
}

// summaryBeside finds the summary of a result in its directory: for
// X.result.csv, X.result.summary.json, X.result.json, X.summary.json or
// summary.json, the first whose "result" names this file.
func summaryBeside(result string) *report.SummaryJSON {
	dir := filepath.Dir(result)
	base := strings.TrimSuffix(filepath.Base(result), filepath.Ext(result))
	names := []string{base + ".summary.json", base + ".json"}
	if stem, ok := strings.CutSuffix(base, ".result"); ok {
		names = append(names, stem+".summary.json")
	}
	for _, name := range append(names, "summary.json") {
		s, err := readSummary(filepath.Join(dir, name))
		if err == nil && matchResult([]string{result}, s.Result) == 0 {
			return s
		}
	}
	return nil
}

// matchResult returns the index of the result that a summary's "result"
// field names: the same path, or else the only one with the same base name.
func matchResult(results []string, named string) int {
	if named == "" {
		return -1
	}
	for i, r := range results {
		if filepath.Clean(r) == filepath.Clean(named) {
			return i
		}
	}
	found := -1
	for i, r := range results {
		if filepath.Base(r) == filepath.Base(named) {
			if found >= 0 {
				return -1
			}
			found = i
		}
	}
	return found
}

// readSummary reads a --summary JSON file; one without the summary's
// fields is refused.
func readSummary(path string) (*report.SummaryJSON, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("summary: %v", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, usagef("summary %s: not JSON: %v", path, err)
	}
	for _, k := range []string{"result", "rows", "by_status"} {
		if _, ok := probe[k]; !ok {
			return nil, usagef("summary %s has no %q field: not a tokenreg --summary file", path, k)
		}
	}
	var s report.SummaryJSON
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, usagef("summary %s: %v", path, err)
	}
	return &s, nil
}

const reportUsage = `Usage: tokenreg report RESULT.csv... [--html FILE] [--title T] [--summary S.json...]

Draws one self-contained HTML page (no script, nothing loaded from the
network) of one or more result files: the headline figures, outcomes by status
and by code, throughput over time, time and attempts per row, and the rows that
need action grouped by code with the runbook's action. It reads each result
once, in constant memory.

Several results are merged in the order given: a run, then its retries (shards
in any order). A later file's row for the same username, tokenType and tokenSn
supersedes an earlier one, except an earlier skipped row; a row that --shard
left to another shard is not counted. A run's summary (--summary FILE) gives
the page its elapsed time, rate, input SHA-256, version and parameters; it is
given with --summary, or found beside the result: for X.result.csv the first of
X.result.summary.json, X.result.json, X.summary.json and summary.json whose
"result" names it.

The page is written with mode 0600 (it holds usernames and phone numbers), and
replaces FILE if it exists.

Examples:
  tokenreg report staff.result.csv                      # -> staff.result.html
  tokenreg report staff.result.csv staff.result.retry.csv --html staff.html
  tokenreg report shard-*.result.csv --title "March onboarding"

Flags:
`
