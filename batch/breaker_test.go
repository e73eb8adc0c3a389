package batch

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

func TestBreakerObserve(t *testing.T) {
	ok := outcome{Result: report.Result{Status: report.StatusOK, Code: "0", Attempts: 1}}
	badCreds := outcome{Result: report.Result{Status: report.StatusFailed, Code: "10002", Message: "Invalid cenToken", Attempts: 1}}
	phoneUsed := outcome{Result: report.Result{Status: report.StatusFailed, Code: "29004", Attempts: 1}}
	lostPhone := outcome{Result: report.Result{Status: report.StatusFailed, Code: "29004", Attempts: 2}, unknown: true, lost: true}
	userGone := outcome{Result: report.Result{Status: report.StatusFailed, Code: "22002", Attempts: 1}}
	refusedRow := outcome{Result: report.Result{Status: report.StatusError, Message: "no valid answer after 5 attempt(s): send: connection refused", Attempts: 5}}
	slowRow := outcome{Result: report.Result{Status: report.StatusError, Message: "no valid answer after 5 attempt(s): send: timeout", Attempts: 5}, unknown: true, timedOut: true}
	invalid := outcome{Result: report.Result{Status: report.StatusInvalid}}
	repeat := func(o outcome, n int) []outcome {
		out := make([]outcome, n)
		for i := range out {
			out[i] = o
		}
		return out
	}
	cat := func(parts ...[]outcome) []outcome {
		var out []outcome
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name   string
		n      int
		rows   []outcome
		tripAt int    // index of the row that trips it; -1 = never
		reason string // part of the reason
	}{
		{"first 20 with one code", 20, repeat(badCreds, 25), 19, "code 10002"},
		{"19 then an ok", 20, cat(repeat(badCreds, 19), []outcome{ok}, repeat(badCreds, 30)), -1, ""},
		{"two codes", 20, cat(repeat(badCreds, 10), repeat(userGone, 15)), -1, ""},
		{"needs-action codes never count", 20, repeat(phoneUsed, 40), -1, ""},
		{"lost-answer rows are not watched", 20, cat(repeat(lostPhone, 5), repeat(badCreds, 20)), 24, "code 10002"},
		{"unsent rows are not watched", 20, cat(repeat(invalid, 30), repeat(badCreds, 20)), 49, "code 10002"},
		{"50 errors in a row", 20, cat([]outcome{ok}, repeat(refusedRow, 60)), 50, "50 rows in a row ended in error"},
		{"49 errors then an answer", 20, cat([]outcome{ok}, repeat(refusedRow, 49), []outcome{ok}, repeat(refusedRow, 49)), -1, ""},
		{"3 timed-out rows in a row", 20, cat([]outcome{ok}, repeat(slowRow, 5)), 3, "3 rows in a row got no answer within the request timeout"},
		{"timeouts broken by another error", 20, cat(repeat(slowRow, 2), []outcome{refusedRow}, repeat(slowRow, 2), []outcome{ok}, repeat(slowRow, 2)), -1, ""},
		{"timeouts broken by an answer", 20, cat(repeat(slowRow, 2), []outcome{phoneUsed}, repeat(slowRow, 2)), -1, ""},
		{"small --abort-after: fewer timeouts", 2, repeat(slowRow, 3), 1, "2 rows in a row"},
		{"disabled", 0, cat(repeat(badCreds, 30), repeat(slowRow, 60)), -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBreaker(tt.n)
			got := -1
			for i := range tt.rows {
				reason := b.observe(&tt.rows[i])
				if reason == "" {
					continue
				}
				if got >= 0 {
					t.Fatalf("tripped twice: at %d and %d", got, i)
				}
				got = i
				if !strings.Contains(reason, tt.reason) {
					t.Errorf("reason %q, want it to say %q", reason, tt.reason)
				}
			}
			if got != tt.tripAt {
				t.Errorf("tripped at row %d, want %d", got, tt.tripAt)
			}
		})
	}
}

// TestRunStopsOnAServerThatAnswersNothingInTime: every request hangs past
// the client's timeout (the server may still apply it): the breaker stops
// the run after a few rows, naming the timeout, instead of after 50 error
// rows of re-sent registrations.
func TestRunStopsOnAServerThatAnswersNothingInTime(t *testing.T) {
	st, input := smsInventory(200)
	s := clienttest.NewServer(st, clienttest.Options{Faults: []clienttest.Fault{clienttest.FaultHang}, FaultRate: 1})
	defer s.Close()
	got, err := runCSV(t, context.Background(), input, Config{Registrar: newClient(t, s, 20*time.Millisecond, false), Workers: 2, Attempts: 2, AbortAfter: 20,
		Backoff: Backoff{Base: time.Millisecond, Max: time.Millisecond}}, nil)
	var ae *AbortError
	if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "no answer within the request timeout") {
		t.Fatalf("Run = %v, want an AbortError naming the timeout", err)
	}
	if len(got) > 3+2 {
		t.Errorf("%d rows decided before the stop, want about 3 (plus the rows in flight)", len(got))
	}
	for line, r := range got {
		if r.Status != report.StatusError || !strings.HasSuffix(r.Message, unknownNote) {
			t.Errorf("line %d = %s %q, want an error row whose outcome is unknown", line, r.Status, r.Message)
		}
	}
	t.Logf("stopped after %d rows, %d requests: %s", len(got), s.Stats().Requests, ae.Reason)
}
