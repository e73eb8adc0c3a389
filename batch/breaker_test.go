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
		tripAt int       // index of the row that trips it; -1 = never
		rule   AbortRule // the rule that trips it
		reason string    // part of the reason
	}{
		{"first 20 with one code", 20, repeat(badCreds, 25), 19, AbortSameCode, "code 10002"},
		{"19 then an ok", 20, cat(repeat(badCreds, 19), []outcome{ok}, repeat(badCreds, 30)), -1, 0, ""},
		{"two codes", 20, cat(repeat(badCreds, 10), repeat(userGone, 15)), -1, 0, ""},
		{"needs-action codes never count", 20, repeat(phoneUsed, 40), -1, 0, ""},
		{"lost-answer rows are not watched", 20, cat(repeat(lostPhone, 5), repeat(badCreds, 20)), 24, AbortSameCode, "code 10002"},
		{"unsent rows are not watched", 20, cat(repeat(invalid, 30), repeat(badCreds, 20)), 49, AbortSameCode, "code 10002"},
		{"50 errors in a row", 20, cat([]outcome{ok}, repeat(refusedRow, 60)), 50, AbortErrors, "50 rows in a row ended in error"},
		{"49 errors then an answer", 20, cat([]outcome{ok}, repeat(refusedRow, 49), []outcome{ok}, repeat(refusedRow, 49)), -1, 0, ""},
		{"first 3 with one code", 3, repeat(badCreds, 10), 2, AbortSameCode, "first 3 answered rows"},
		{"8 errors in a row at 3", 3, cat([]outcome{ok}, repeat(refusedRow, 10)), 8, AbortErrors, "8 rows in a row"},
		{"disabled", 0, cat(repeat(badCreds, 30), repeat(refusedRow, 60)), -1, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBreaker(tt.n)
			got := -1
			for i := range tt.rows {
				ae := b.observe(&tt.rows[i])
				if ae == nil {
					continue
				}
				if got >= 0 {
					t.Fatalf("tripped twice: at %d and %d", got, i)
				}
				got = i
				if ae.Rule != tt.rule || !strings.Contains(ae.Reason, tt.reason) {
					t.Errorf("tripped by rule %d: %q, want rule %d saying %q", ae.Rule, ae.Reason, tt.rule, tt.reason)
				}
				if strings.Contains(ae.Reason, "--") {
					t.Errorf("reason %q names a command-line flag: the command adds that", ae.Reason)
				}
			}
			if got != tt.tripAt {
				t.Errorf("tripped at row %d, want %d", got, tt.tripAt)
			}
		})
	}
}

func TestTimeoutsAttempt(t *testing.T) {
	const T, A = true, false // an attempt that timed out, one that ended otherwise
	tests := []struct {
		name       string
		abortAfter int
		workers    int
		attempts   []bool
		tripAt     int // -1 = never
	}{
		{"twice the slots in a row", 20, 4, []bool{T, T, T, T, T, T, T, T, T, T}, 7},
		{"at least 6", 20, 1, []bool{T, T, T, T, T, T, T}, 5},
		{"an answer starts the count again", 20, 4, []bool{T, T, T, T, T, T, T, A, T, T, T, T, T, T, T, A}, -1},
		{"answers between timeouts", 20, 1, []bool{T, A, T, A, T, A, T, A, T, A, T, A, T, A}, -1},
		{"trips once", 20, 1, []bool{T, T, T, T, T, T, T, T, T, T, T, T, T}, 5},
		{"disabled", 0, 1, []bool{T, T, T, T, T, T, T, T, T, T, T, T, T, T}, -1},
		// --abort-after tunes it as it tunes the other rules: ⌈N/10⌉
		// rounds of the request slots.
		{"abort-after 5: one round", 5, 4, []bool{T, T, T, T, T, T}, 3},
		{"abort-after 5, one slot: at least 3", 5, 1, []bool{T, T, T, T, T}, 2},
		{"abort-after 50: five rounds", 50, 4, []bool{T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T}, 19},
		{"abort-after 50: 19 then an answer", 50, 4, []bool{T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, T, A, T}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newTimeouts(tt.abortAfter, tt.workers)
			got := -1
			for i, timedOut := range tt.attempts {
				if ae := w.attempt(timedOut, "send: context deadline exceeded"); ae != nil {
					if got >= 0 {
						t.Fatalf("tripped twice: at %d and %d", got, i)
					}
					got = i
					if ae.Rule != AbortTimeouts || !strings.Contains(ae.Reason, "no answer within the request timeout") {
						t.Errorf("rule %d, reason %q: want the timeout rule, naming the timeout", ae.Rule, ae.Reason)
					}
				}
			}
			if got != tt.tripAt {
				t.Errorf("tripped at attempt %d, want %d", got, tt.tripAt)
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
	if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "6 requests in a row got no answer within the request timeout") {
		t.Fatalf("Run = %v, want an AbortError naming the timeout after 6 requests", err)
	}
	if n := s.Stats().Requests; n > 6+2 {
		t.Errorf("%d requests before the stop, want 6 (plus those in flight)", n)
	}
	// Every row is an error; those whose request was written carry the
	// unknown note (a dial that timed out on a loaded machine sent nothing,
	// and rightly says nothing of the kind).
	unknown := 0
	for line, r := range got {
		if r.Status != report.StatusError {
			t.Errorf("line %d = %s %q, want an error row", line, r.Status, r.Message)
		}
		if strings.HasSuffix(r.Message, unknownNote) {
			unknown++
		}
	}
	if unknown == 0 {
		t.Errorf("no row says its outcome is unknown, yet the server received every request: %v", got)
	}
	t.Logf("stopped after %d rows, %d requests: %s", len(got), s.Stats().Requests, ae.Reason)
}
