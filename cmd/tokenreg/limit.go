package main

import (
	"fmt"
	"strconv"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/report"
)

// describeRun fills what the summary reports beyond the tally: the version,
// the run's parameters, and the rows left without a result when the run
// stopped early (a --limit canary, an interrupt, an abort). total is the
// pre-pass's count of the rows the run would decide, -1 if unknown.
func describeRun(sum *report.Summary, m mode, f *batchFlags, total int64, resumed *batch.Resume) {
	sum.Version = buildVersion()
	sum.Parameters = runParameters(m, f)
	if !sum.Limited && !sum.Interrupted && sum.Aborted == "" {
		return
	}
	if total < 0 {
		sum.Remaining = -1
		return
	}
	decided := int64(sum.Rows())
	if resumed != nil {
		decided += int64(resumed.Final)
	}
	sum.Remaining = int(max(total-decided, 0))
}

// runParameters are the settings that shape a run, by flag name, for the
// summary and the report. Never a secret: those are not flags.
func runParameters(m mode, f *batchFlags) map[string]string {
	p := map[string]string{"command": m.String()}
	if m != modeValidate {
		p["rate"] = strconv.FormatFloat(f.rate, 'g', -1, 64)
		p["burst"] = strconv.Itoa(f.burst)
		p["workers"] = strconv.Itoa(f.workers)
		p["timeout"] = f.timeout.String()
		p["attempts"] = strconv.Itoa(f.attempts)
		p["abort-after"] = strconv.Itoa(f.abortAfter)
	}
	set := func(name, v string) {
		if v != "" {
			p[name] = v
		}
	}
	if f.limit > 0 {
		set("limit", strconv.Itoa(f.limit))
	}
	if f.dryRun && m != modeValidate {
		set("dry-run", "true")
	}
	if f.resume {
		set("resume", "true")
	}
	set("shard", f.shard)
	set("ledger", f.ledger)
	if m == modeRetry {
		set("status", f.statuses)
		set("codes", f.codes)
	}
	return p
}

// remainingText says how many rows a stopped run left for --resume.
func remainingText(n int) string {
	switch {
	case n < 0:
		return "the rows left are unknown (the input is a pipe)"
	case n == 1:
		return "1 row remains"
	}
	return fmt.Sprintf("%d rows remain", n)
}
