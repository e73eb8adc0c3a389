package report

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// DefaultProgressInterval is how often a Progress without a terminal logs.
const DefaultProgressInterval = 10 * time.Second

// describeEvery throttles the bar's description as the bar throttles itself.
const describeEvery = 100 * time.Millisecond

// Progress shows how a run is going. On a terminal it draws a progress bar
// (progressbar/v3) on w with the counts by status and the rate; elsewhere
// (a log file, cron, Kubernetes) it draws nothing on w and logs a "progress"
// line at most once per interval instead, driven by Add: no goroutine, no
// ticker.
//
// Progress never writes to stdout by itself: pass os.Stderr as w, since
// stdout may carry the result CSV. It is not safe for concurrent use: the
// goroutine that writes the results owns it. Finish must be called on every
// path: a bar with an unknown total runs a spinner goroutine until then.
type Progress struct {
	bar      *progressbar.ProgressBar // nil when not on a terminal
	logger   *slog.Logger             // nil: no progress lines
	interval time.Duration
	total    int64
	now      func() time.Time // the clock; tests replace it

	start, lastLog, lastDescribe time.Time
	done, sent                   int64
	counts                       map[Status]int64
	finished                     bool
}

// NewProgress returns a Progress for a run of total rows (-1 if unknown,
// e.g. when reading stdin). If terminal, it draws a bar on w; otherwise it
// logs progress with logger (which may be nil for no progress at all) every
// interval (DefaultProgressInterval if interval <= 0). The caller must call
// Finish.
func NewProgress(w io.Writer, terminal bool, total int64, logger *slog.Logger, interval time.Duration) *Progress {
	return newProgress(w, terminal, total, logger, interval, time.Now)
}

func newProgress(w io.Writer, terminal bool, total int64, logger *slog.Logger, interval time.Duration, now func() time.Time) *Progress {
	if interval <= 0 {
		interval = DefaultProgressInterval
	}
	if total <= 0 {
		total = -1 // progressbar cannot draw a bar of 0 rows; spin instead
	}
	p := &Progress{
		logger:   logger,
		interval: interval,
		total:    total,
		now:      now,
		counts:   make(map[Status]int64),
	}
	p.start = now()
	p.lastLog = p.start
	if terminal {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w), // never the library's default, stdout
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetDescription(p.description()),
			progressbar.OptionSetRenderBlankState(true),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
		p.logger = nil // the bar says it all
	}
	return p
}

// Add counts one finished row, redraws the bar (throttled) or logs a
// progress line if interval has passed since the last one.
func (p *Progress) Add(r Result) {
	if p.finished {
		return
	}
	p.done++
	p.counts[r.Status]++
	if r.Attempts > 0 {
		p.sent++
	}
	if p.bar != nil {
		// Building the description costs more than the bar's own throttled
		// redraw: do it at the bar's pace, not per row, and for the row
		// that completes the bar (which then draws itself for the last time).
		if now := p.now(); now.Sub(p.lastDescribe) >= describeEvery || p.done == p.total {
			p.lastDescribe = now
			p.bar.Describe(p.description())
		}
		p.bar.Add(1) // a bar's error (more rows than total) is cosmetic
		return
	}
	if p.logger == nil {
		return
	}
	if now := p.now(); now.Sub(p.lastLog) >= p.interval {
		p.lastLog = now
		p.logger.Info("progress",
			"done", p.done,
			"total", p.total,
			"ok", p.counts[StatusOK],
			"failed", p.counts[StatusFailed],
			"error", p.counts[StatusError],
			"invalid", p.counts[StatusInvalid],
			"skipped", p.counts[StatusSkipped],
			"rate_per_second", p.rate(now),
		)
	}
}

// Finish completes the bar (and stops its spinner goroutine). It is
// idempotent, and a no-op without a terminal.
func (p *Progress) Finish() {
	if p.finished {
		return
	}
	p.finished = true
	// A bar whose last row came in has drawn itself and its line end
	// already; describing it again would draw it a second time.
	if p.bar != nil && !p.bar.IsFinished() {
		p.bar.Describe(p.description())
		p.bar.Finish()
	}
}

func (p *Progress) description() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ok %d failed %d error %d", p.counts[StatusOK], p.counts[StatusFailed], p.counts[StatusError])
	for _, st := range []Status{StatusInvalid, StatusSkipped} {
		if n := p.counts[st]; n > 0 {
			fmt.Fprintf(&b, " %s %d", st, n)
		}
	}
	return b.String()
}

// rate is the rows sent per second since the start, to 0.1.
func (p *Progress) rate(now time.Time) float64 {
	if e := now.Sub(p.start).Seconds(); e > 0 {
		return math.Round(float64(p.sent)/e*10) / 10
	}
	return 0
}
