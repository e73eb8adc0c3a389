package report

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/internal/testio"
)

// fakeClock is a settable clock for Progress.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// recordHandler keeps the slog records it is given.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recordHandler) WithGroup(string) slog.Handler            { return h }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r)
	return nil
}

func attrs(r slog.Record) map[string]any {
	m := make(map[string]any)
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Any()
		return true
	})
	return m
}

func TestProgressLogsAtMostOncePerInterval(t *testing.T) {
	clock := &fakeClock{t: start}
	h := &recordHandler{}
	var w testio.SyncBuffer
	p := newProgress(&w, false, 100, slog.New(h), 10*time.Second, clock.now)

	// 60 rows, one every second: a line at 10 s, 20 s, ... 60 s.
	statuses := []Status{StatusOK, StatusOK, StatusFailed, StatusError, StatusInvalid, StatusSkipped}
	for i := range 60 {
		clock.advance(time.Second)
		r := Result{Status: statuses[i%len(statuses)], Attempts: 1}
		if r.Status == StatusInvalid || r.Status == StatusSkipped {
			r.Attempts = 0
		}
		p.Add(r)
	}
	p.Finish()
	p.Finish()

	if w.Len() != 0 {
		t.Errorf("Progress without a terminal wrote %d bytes to w, want none", w.Len())
	}
	if got, want := len(h.records), 6; got != want {
		t.Fatalf("logged %d progress lines in 60 s at a 10 s interval, want %d", got, want)
	}
	rec := h.records[0]
	if rec.Message != "progress" || rec.Level != slog.LevelInfo {
		t.Errorf("logged %v %q, want INFO \"progress\"", rec.Level, rec.Message)
	}
	got := attrs(rec)
	want := map[string]any{
		"done": int64(10), "total": int64(100), "ok": int64(4), "failed": int64(2), "error": int64(2),
		"invalid": int64(1), "skipped": int64(1), "rate_per_second": 0.8,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("first progress line %s = %v (%T), want %v (%T)", k, got[k], got[k], v, v)
		}
	}
}

func TestProgressDefaultIntervalAndNilLogger(t *testing.T) {
	clock := &fakeClock{t: start}
	h := &recordHandler{}
	p := newProgress(nil, false, -1, slog.New(h), 0, clock.now)
	for range 3 {
		clock.advance(4 * time.Second)
		p.Add(Result{Status: StatusOK, Attempts: 1})
	}
	p.Finish()
	if got := len(h.records); got != 1 {
		t.Errorf("logged %d lines in 12 s with the default interval, want 1", got)
	}

	q := newProgress(nil, false, -1, nil, time.Second, clock.now)
	clock.advance(time.Hour)
	q.Add(Result{Status: StatusOK}) // must not panic without a logger
	q.Finish()
}

func TestProgressTerminal(t *testing.T) {
	for _, total := range []int64{3, -1, 0} {
		var w testio.SyncBuffer
		h := &recordHandler{}
		p := NewProgress(&w, true, total, slog.New(h), time.Nanosecond)
		for _, st := range []Status{StatusOK, StatusFailed, StatusError} {
			p.Add(Result{Status: st, Attempts: 1})
		}
		p.Finish()
		p.Finish()
		p.Add(Result{Status: StatusOK}) // after Finish: ignored
		if w.Len() == 0 {
			t.Errorf("total %d: terminal Progress wrote nothing", total)
		}
		if len(h.records) != 0 {
			t.Errorf("total %d: terminal Progress also logged %d lines", total, len(h.records))
		}
		out := w.String()
		if !strings.Contains(out, "ok 1 failed 1 error 1") {
			t.Errorf("total %d: bar %q lacks the counts", total, out)
		}
	}
	// goleak.VerifyTestMain checks that Finish stopped the spinner goroutines.
}
