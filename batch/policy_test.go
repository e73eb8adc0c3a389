package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// almostOne is the largest u that Pause may be given: rand.Float64 < 1.
var almostOne = math.Nextafter(1, 0)

func TestBackoffPause(t *testing.T) {
	small := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		name       string
		b          Backoff
		n          int
		retryAfter time.Duration
		u          float64
		lo, hi     time.Duration // want lo ≤ Pause ≤ hi
	}{
		{"u=0 no wait", small, 1, 0, 0, 0, 0},
		{"u=0 late retry no wait", small, 9, 0, 0, 0, 0},
		{"u=0 Retry-After", small, 1, 2 * time.Second, 0, 2 * time.Second, 2 * time.Second},
		{"u→1 first retry is Base", small, 1, 0, almostOne, 99 * time.Millisecond, 100 * time.Millisecond},
		{"u→1 second retry doubles", small, 2, 0, almostOne, 199 * time.Millisecond, 200 * time.Millisecond},
		{"u→1 fourth retry", small, 4, 0, almostOne, 799 * time.Millisecond, 800 * time.Millisecond},
		{"u→1 capped at Max", small, 5, 0, almostOne, 999 * time.Millisecond, time.Second},
		{"u=½ is half the ceiling", small, 3, 0, 0.5, 200 * time.Millisecond, 200 * time.Millisecond},
		{"n=0 counts as the first retry", small, 0, 0, almostOne, 99 * time.Millisecond, 100 * time.Millisecond},
		{"n<0 counts as the first retry", small, -3, 0, almostOne, 99 * time.Millisecond, 100 * time.Millisecond},
		{"Retry-After wins when larger", small, 1, 300 * time.Millisecond, 0.5, 300 * time.Millisecond, 300 * time.Millisecond},
		{"jitter wins when Retry-After is smaller", small, 3, 10 * time.Millisecond, 0.5, 200 * time.Millisecond, 200 * time.Millisecond},
		{"Retry-After may exceed Max", small, 9, 10 * time.Second, almostOne, 10 * time.Second, 10 * time.Second},
		{"Retry-After is bounded", small, 1, 24 * time.Hour, 0, 5 * time.Minute, 5 * time.Minute},
		{"n=30 still capped", small, 30, 0, almostOne, 999 * time.Millisecond, time.Second},
		{"n=31 no overflow", small, 31, 0, almostOne, 999 * time.Millisecond, time.Second},
		{"n=64 no overflow", small, 64, 0, almostOne, 999 * time.Millisecond, time.Second},
		{"n=MaxInt no overflow", small, math.MaxInt, 0, almostOne, 999 * time.Millisecond, time.Second},
		{"defaults: first retry 500ms", Backoff{}, 1, 0, almostOne, 499 * time.Millisecond, 500 * time.Millisecond},
		{"defaults: capped at 30s", Backoff{}, 1000, 0, almostOne, 29999 * time.Millisecond, 30 * time.Second},
		{"Max below Base", Backoff{Base: time.Second, Max: 100 * time.Millisecond}, 1, 0, almostOne, 99 * time.Millisecond, 100 * time.Millisecond},
		{"huge Base and Max", Backoff{Base: time.Hour, Max: 2 * time.Hour}, 30, 0, almostOne, 2*time.Hour - time.Millisecond, 2 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.b.Pause(tt.n, tt.retryAfter, tt.u)
			if got < tt.lo || got > tt.hi {
				t.Errorf("%+v.Pause(%d, %v, %v) = %v, want in [%v, %v]", tt.b, tt.n, tt.retryAfter, tt.u, got, tt.lo, tt.hi)
			}
		})
	}
}

// TestBackoffPauseNeverNegative sweeps n and u: whatever the attempt, the
// pause lies in [0, Max] without a Retry-After.
func TestBackoffPauseNeverNegative(t *testing.T) {
	for _, b := range []Backoff{{}, {Base: time.Millisecond, Max: 5 * time.Millisecond}, {Base: 10 * time.Second, Max: time.Hour}} {
		maxPause := b.Max
		if maxPause == 0 {
			maxPause = 30 * time.Second
		}
		for n := 1; n <= 200; n++ {
			for _, u := range []float64{0, 0.25, 0.5, 0.75, almostOne} {
				if got := b.Pause(n, 0, u); got < 0 || got > maxPause {
					t.Fatalf("%+v.Pause(%d, 0, %v) = %v, want in [0, %v]", b, n, u, got, maxPause)
				}
			}
		}
	}
}

func TestJudge(t *testing.T) {
	sent := &client.TransportError{Op: "read body", MaybeSent: true, Err: errors.New("connection reset by peer")}
	tests := []struct {
		name           string
		resp           client.Response
		err            error
		earlierUnknown bool
		want           verdict
	}{
		// A transport failure's want.message is filled in below.
		{name: "ok", resp: client.Response{Code: "0", Message: "Success"},
			want: verdict{final: true, status: report.StatusOK, code: "0", message: "Success"}},
		{name: "ok after an unknown attempt", resp: client.Response{Code: "0", Message: "Success"}, earlierUnknown: true,
			want: verdict{final: true, status: report.StatusOK, code: "0", message: "Success"}},
		{name: "permanent 22002", resp: client.Response{Code: "22002", Message: "User not found"},
			want: verdict{final: true, status: report.StatusFailed, code: "22002", message: "User not found"}},
		{name: "permanent 10002", resp: client.Response{Code: "10002", Message: "Invalid cenToken"},
			want: verdict{final: true, status: report.StatusFailed, code: "10002", message: "Invalid cenToken"}},
		{name: "permanent 6007 after an unknown attempt gets no note", resp: client.Response{Code: "6007", Message: "User is not allowed to bind with CR OTP token"}, earlierUnknown: true,
			want: verdict{final: true, status: report.StatusFailed, code: "6007", message: "User is not allowed to bind with CR OTP token"}},
		{name: "undocumented code is permanent, verbatim", resp: client.Response{Code: "777", Message: "Strange  message "},
			want: verdict{final: true, status: report.StatusFailed, code: "777", message: "Strange  message "}},
		{name: "transient 10003", resp: client.Response{Code: "10003", Message: "DB protection error"},
			want: verdict{code: "10003", message: "DB protection error"}},
		{name: "transient 10004", resp: client.Response{Code: "10004", Message: "DB error"},
			want: verdict{code: "10004", message: "DB error"}},
		{name: "transient 6002", resp: client.Response{Code: "6002", Message: "Token register to user failed"}, earlierUnknown: true,
			want: verdict{code: "6002", message: "Token register to user failed"}},
		{name: "needs action 29004", resp: client.Response{Code: "29004", Message: "Phone number had been used"},
			want: verdict{final: true, status: report.StatusFailed, code: "29004", message: "Phone number had been used"}},
		{name: "needs action 29004 after an unknown attempt", resp: client.Response{Code: "29004", Message: "Phone number had been used"}, earlierUnknown: true,
			want: verdict{final: true, status: report.StatusFailed, code: "29004", message: "Phone number had been used", unknown: true, lost: true}},
		{name: "needs action 29008 after an unknown attempt", resp: client.Response{Code: "29008", Message: "An OTP token already registered to this user"}, earlierUnknown: true,
			want: verdict{final: true, status: report.StatusFailed, code: "29008", message: "An OTP token already registered to this user", unknown: true, lost: true}},
		{name: "needs action 29017 after an unknown attempt", resp: client.Response{Code: "29017", Message: "Invalid token status"}, earlierUnknown: true,
			want: verdict{final: true, status: report.StatusFailed, code: "29017", message: "Invalid token status", unknown: true, lost: true}},
		{name: "lost answer: may have been applied", err: sent,
			want: verdict{unknown: true}},
		{name: "lost answer, wrapped", err: fmt.Errorf("register: %w", sent),
			want: verdict{unknown: true}},
		{name: "timeout after sending", err: &client.TransportError{Op: "send", MaybeSent: true, Timeout: true, Err: context.DeadlineExceeded},
			want: verdict{unknown: true, timeout: true}},
		{name: "HTTP 500 may have been applied", err: &client.TransportError{Op: "status", StatusCode: 500, MaybeSent: true},
			want: verdict{unknown: true}},
		{name: "connection refused: not sent", err: &client.TransportError{Op: "send", Err: errors.New("connection refused")},
			want: verdict{}},
		{name: "429 throttles, not applied", err: &client.TransportError{Op: "status", StatusCode: 429, RetryAfter: time.Second},
			want: verdict{wait: time.Second, throttled: true}},
		{name: "429 never unknown even if flagged sent", err: &client.TransportError{Op: "status", StatusCode: 429, MaybeSent: true, RetryAfter: 2 * time.Second},
			want: verdict{wait: 2 * time.Second, throttled: true}},
		{name: "503 with Retry-After is not applied", err: &client.TransportError{Op: "status", StatusCode: 503, MaybeSent: true, RetryAfter: time.Second},
			want: verdict{wait: time.Second}},
		{name: "other error", err: errors.New("boom"),
			want: verdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err != nil {
				// The row's message is the transport error's own text,
				// without the wrapping of whoever returned it.
				tt.want.message = tt.err.Error()
				if te, ok := errors.AsType[*client.TransportError](tt.err); ok {
					tt.want.message = te.Error()
				}
			}
			got := judge(tt.resp, tt.err, tt.earlierUnknown)
			if got != tt.want {
				t.Errorf("judge(%+v, %v, %v) =\n\t%+v\nwant\n\t%+v", tt.resp, tt.err, tt.earlierUnknown, got, tt.want)
			}
		})
	}
}

func TestExhausted(t *testing.T) {
	tests := []struct {
		name     string
		v        verdict
		attempts int
		unknown  bool
		want     verdict
	}{
		{"transient code is the server's verdict",
			verdict{code: "10004", message: "DB error"}, 5, false,
			verdict{final: true, status: report.StatusFailed, code: "10004", message: "DB error"}},
		{"transient code after a lost answer: may be registered",
			verdict{code: "10004", message: "DB error"}, 5, true,
			verdict{final: true, status: report.StatusFailed, code: "10004", message: "DB error", unknown: true}},
		{"transport error",
			verdict{message: "status: HTTP 503 Service Unavailable"}, 3, false,
			verdict{final: true, status: report.StatusError, message: "no valid answer after 3 attempt(s): status: HTTP 503 Service Unavailable"}},
		{"transport error after a lost answer",
			verdict{message: "read body: connection reset by peer", unknown: true}, 5, true,
			verdict{final: true, status: report.StatusError, message: "no valid answer after 5 attempt(s): read body: connection reset by peer", unknown: true}},
		{"429 at the end after an earlier lost answer",
			verdict{message: "status: HTTP 429 Too Many Requests", throttled: true}, 2, true,
			verdict{final: true, status: report.StatusError, message: "no valid answer after 2 attempt(s): status: HTTP 429 Too Many Requests", unknown: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := exhausted(tt.v, tt.attempts, tt.unknown)
			if got != tt.want {
				t.Errorf("exhausted(%+v, %d, %v) =\n\t%+v\nwant\n\t%+v", tt.v, tt.attempts, tt.unknown, got, tt.want)
			}
			if got.status == report.StatusError && got.code != "" {
				t.Errorf("error row with code %q: SPEC §5 wants an empty code", got.code)
			}
		})
	}
}

// TestNotesRoundTrip checks the contract between withNotes, which writes a
// row's facts into its message, and parseNotes, which reads them back from
// an earlier result file: every fact survives, and the message is restored.
func TestNotesRoundTrip(t *testing.T) {
	for _, st := range []report.Status{report.StatusOK, report.StatusFailed, report.StatusError, report.StatusInvalid, report.StatusSkipped} {
		for _, unknown := range []bool{false, true} {
			for _, lost := range []bool{false, true} {
				if lost && !unknown {
					continue // lost implies unknown
				}
				msg := "Phone number had been used"
				written := withNotes(st, msg, unknown, lost)
				base, gotUnknown, gotLost := parseNotes(st, written)
				// The facts a status can carry: unknown on failed and error
				// rows, lost on failed rows.
				wantUnknown := unknown && (st == report.StatusFailed || st == report.StatusError)
				wantLost := lost && st == report.StatusFailed
				if base != msg || gotUnknown != wantUnknown || gotLost != wantLost {
					t.Errorf("%s unknown=%v lost=%v: written %q, read back %q, %v, %v; want %q, %v, %v",
						st, unknown, lost, written, base, gotUnknown, gotLost, msg, wantUnknown, wantLost)
				}
			}
		}
	}
	// The wording an earlier tokenreg wrote is read back too.
	for _, tt := range []struct {
		st            report.Status
		msg           string
		unknown, lost bool
	}{
		{report.StatusError, "no valid answer after 5 attempt(s): read body: EOF (outcome unknown: the request may have reached the server)", true, false},
		{report.StatusError, "internal error: boom (outcome unknown: the request may have reached the server)", true, false},
		{report.StatusFailed, "Phone number had been used (an earlier attempt's answer was lost; the token is probably registered to this user)", true, true},
		{report.StatusFailed, "DB error (an earlier attempt's answer was lost; the token may already be registered to this user)", true, false},
		{report.StatusError, "no valid answer after 5 attempt(s): send: connection refused", false, false},
		// A server message that merely mentions the words is not a note.
		{report.StatusFailed, "outcome unknown: the request may have reached the server", false, false},
	} {
		if _, u, l := parseNotes(tt.st, tt.msg); u != tt.unknown || l != tt.lost {
			t.Errorf("parseNotes(%s, %q) = %v, %v; want %v, %v", tt.st, tt.msg, u, l, tt.unknown, tt.lost)
		}
	}
}

// TestUnknownNoteSurvivesResume checks the contract between the writer and
// LoadResume: an error row whose request may have been applied is read back
// as unknown, so that the resumed run's 29004 gets the lost-answer note.
func TestUnknownNoteSurvivesResume(t *testing.T) {
	row := Row{Line: 2, Username: "alice", TokenSn: "+60100000001", TokenType: client.SMS}
	var buf bytes.Buffer
	w := report.NewWriter(&buf)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	lost := exhausted(verdict{message: "read body: EOF", unknown: true}, 5, true)
	refused := exhausted(verdict{message: "send: connection refused"}, 5, false)
	row3 := withLine(row, 3)
	for _, o := range []outcome{
		{Result: row.Result(lost.status, lost.message), unknown: lost.unknown},
		{Result: row3.Result(refused.status, refused.message), unknown: refused.unknown},
	} {
		if err := w.Write(o.result()); err != nil {
			t.Fatal(err)
		}
	}
	rs, good, torn, err := LoadResume("r.csv", bytes.NewReader(buf.Bytes()), nil)
	if err != nil || torn || good != int64(buf.Len()) {
		t.Fatalf("LoadResume = %d, %v, %v; want %d, false, nil", good, torn, err, buf.Len())
	}
	if rs.Rows != 2 || rs.Final != 0 {
		t.Errorf("Rows, Final = %d, %d; want 2, 0 (error rows are sent again)", rs.Rows, rs.Final)
	}
	for _, tt := range []struct {
		line    int
		unknown bool
	}{{2, true}, {3, false}} {
		r := withLine(row, tt.line)
		p, resumed, err := rs.check(&r)
		if err != nil || !resumed {
			t.Fatalf("check(line %d) = %v, %v", tt.line, resumed, err)
		}
		if p.final || p.unknown != tt.unknown {
			t.Errorf("line %d: final, unknown = %v, %v; want false, %v", tt.line, p.final, p.unknown, tt.unknown)
		}
		v := judge(client.Response{Code: "29004", Message: "Phone number had been used"}, nil, p.unknown)
		o := outcome{Result: r.Result(v.status, v.message), unknown: v.unknown, lost: v.lost}
		if got := strings.HasSuffix(o.result().Message, lostNote); got != tt.unknown {
			t.Errorf("line %d: resumed 29004 message %q, want the lost-answer note: %v", tt.line, o.result().Message, tt.unknown)
		}
	}
}

func withLine(r Row, line int) Row {
	r.Line = line
	return r
}
