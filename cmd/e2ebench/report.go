//go:build !windows

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/tokenreg/tokenreg/report"
)

// The bars of `tokenreg report` over a 1,000,000-row result (issue 13).
const (
	reportBarRows = 1_000_000
	reportBarTime = 3 * time.Second
	reportTimeout = 5 * time.Minute
)

// reportFigure measures `tokenreg report` over a generated result of
// sz.reportRows rows: wall time and peak RSS of the child.
func (b *bench) reportFigure(ctx context.Context, sz sizes) error {
	result := b.path("report-%d.result.csv", sz.reportRows)
	if err := writeResult(result, sz.reportRows); err != nil {
		return err
	}
	page := b.path("report-%d.html", sz.reportRows)
	c, err := b.runChild(ctx, reportTimeout, "report", result, "--html", page)
	if err != nil {
		return err
	}
	fi, err := os.Stat(page)
	if err != nil {
		return err
	}
	u := c.usage()
	fmt.Fprintf(b.log, "  %d rows: %s, peak RSS %.1f MB, page %d KB\n", sz.reportRows, c.wall.Round(time.Millisecond), mb(u.peakRSS), fi.Size()/1024)
	name := fmt.Sprintf("report %s-row result", count(sz.reportRows))
	if sz.reportRows >= reportBarRows {
		b.check(name+", time", c.wall.Round(10*time.Millisecond).String(), "< "+reportBarTime.String(), c.wall < reportBarTime)
		b.check(name+", peak RSS", fmt.Sprintf("%.1f MB", mb(u.peakRSS)), fmt.Sprintf("< %.0f MB", mb(memoryBar)), u.peakRSS < memoryBar)
	} else {
		b.info(name+", time", "%s (the bar is for %s rows)", c.wall.Round(10*time.Millisecond), count(reportBarRows))
		b.info(name+", peak RSS", "%.1f MB", mb(u.peakRSS))
	}
	b.info("  CPU (user+sys)", "%s", u.cpu().Round(10*time.Millisecond))
	b.info("  rows/s", "%.0f", float64(sz.reportRows)/c.wall.Seconds())
	return nil
}

// writeResult writes a result file as a run of rows SMS and OTP rows would
// leave it: mostly ok, some rows failed with each needs-action code, some
// errors, invalid and duplicate rows, over 15 minutes.
func writeResult(path string, rows int) error {
	start := time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC)
	step := 15 * time.Minute / time.Duration(rows)
	return writeResultRows(path, rows, 7, func(i int, r *report.Result) {
		r.Duration = time.Duration(2+i%40) * time.Millisecond
		r.FinishedAt = start.Add(time.Duration(i) * step)
		switch {
		case i%997 == 0:
			r.Status, r.Code, r.Message = report.StatusFailed, "29004", "Phone number had been used"
		case i%1999 == 0:
			r.Status, r.Code, r.Message, r.Attempts = report.StatusError, "", "timeout after 5 attempt(s)", 5
		case i%2503 == 0:
			r.Status, r.Code, r.Message, r.Attempts = report.StatusInvalid, "", "SMS number \"12\" must be 8 to 15 digits", 0
		case i%3001 == 0:
			r.Status, r.Code, r.Message, r.Attempts = report.StatusSkipped, "", fmt.Sprintf("duplicate of line %d", i), 0
		case i%101 == 0:
			r.Attempts = 3
		}
	})
}

// writeResultRows writes a result file of rows rows, row i an ok SMS
// registration of user i with a number of series, which set may change.
func writeResultRows(path string, rows, series int, set func(i int, r *report.Result)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := report.NewWriter(bw)
	if err := w.WriteHeader(); err != nil {
		f.Close()
		return err
	}
	var name []byte
	for i := range rows {
		name = appendUsername(name[:0], i)
		r := report.Result{
			Line: i + 2, Username: string(name), TokenSn: string(appendPhone(nil, series, i)), TokenType: "SMS",
			Status: report.StatusOK, Code: "0", Message: "Success", Attempts: 1,
		}
		set(i, &r)
		if err := w.Write(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
