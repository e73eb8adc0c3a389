package batch

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// script answers each call with the next of its answers, the last one
// from then on.
type script struct {
	mu      sync.Mutex
	answers []answer
	calls   int
}

type answer struct {
	resp client.Response
	err  error
}

func (s *script) Register(ctx context.Context, r client.Registration) (client.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	return a.resp, a.err
}

var (
	timedOut   = answer{err: &client.TransportError{Op: "send", MaybeSent: true, Timeout: true, Err: context.DeadlineExceeded}}
	busy503    = answer{err: &client.TransportError{Op: "server answered", StatusCode: 503, MaybeSent: true, RetryAfter: time.Millisecond}}
	refused    = answer{err: &client.TransportError{Op: "send", Err: errors.New("connection refused")}}
	throttled  = answer{err: &client.TransportError{Op: "server answered", StatusCode: 429, RetryAfter: time.Millisecond}}
	hasOTP     = answer{resp: client.Response{Code: "29008", Message: "An OTP token already registered to this user"}}
	transient  = answer{resp: client.Response{Code: "10004", Message: "DB error"}}
	registered = answer{resp: client.Response{Code: "0", Message: "Success"}}
)

// TestUnknownStaysSetAcrossAttempts: once an attempt may have been applied
// (a timeout after sending), the row's outcome stays unknown through later
// attempts that say nothing about it (a 503, a 429), so that the final
// 29008 carries the lost-answer note; without such an attempt it does not.
func TestUnknownStaysSetAcrossAttempts(t *testing.T) {
	tests := []struct {
		name     string
		answers  []answer
		status   report.Status
		note     string
		attempts int
	}{
		{"timeout, 503, 29008", []answer{timedOut, busy503, hasOTP}, report.StatusFailed, lostNote, 3},
		{"timeout, 429, 503, 29008", []answer{timedOut, throttled, busy503, hasOTP}, report.StatusFailed, lostNote, 4},
		{"timeout, refused, 29008", []answer{timedOut, refused, hasOTP}, report.StatusFailed, lostNote, 3},
		{"503, 29008: never applied", []answer{busy503, hasOTP}, report.StatusFailed, "", 2},
		{"refused, 29008: never sent", []answer{refused, hasOTP}, report.StatusFailed, "", 2},
		{"timeout, then 10004 to the end", []answer{timedOut, transient}, report.StatusFailed, maybeNote, 5},
		{"timeout, then 503 to the end", []answer{timedOut, busy503}, report.StatusError, unknownNote, 5},
		{"timeout, then ok", []answer{timedOut, registered}, report.StatusOK, "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := &script{answers: tt.answers}
			got, err := runCSV(t, context.Background(), "username,tokenSn,tokenType\nalice,OTP1,2\n",
				Config{Registrar: sc, Attempts: 5, Backoff: Backoff{Base: time.Microsecond, Max: time.Microsecond}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			r := got[2]
			if r.Status != tt.status || r.Attempts != tt.attempts {
				t.Errorf("line 2 = %s after %d attempts (%q), want %s after %d", r.Status, r.Attempts, r.Message, tt.status, tt.attempts)
			}
			hasNote := func(n string) bool { return n != "" && strings.HasSuffix(r.Message, n) }
			for _, n := range []string{lostNote, maybeNote, unknownNote} {
				if hasNote(n) != (n == tt.note) {
					t.Errorf("line 2 message %q: note %q present = %v, want %v", r.Message, n, hasNote(n), n == tt.note)
				}
			}
		})
	}
}
