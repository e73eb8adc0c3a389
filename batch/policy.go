package batch

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// This file is the one place that decides what an attempt's answer means:
// a final row outcome, or another attempt after a pause.

// Backoff is the retry schedule for transient failures: exponential with
// full jitter (a uniform pause in [0, min(Max, Base·2^(n-1))]), never shorter
// than the server's Retry-After.
type Backoff struct {
	Base time.Duration // pause scale of the first retry; default 500ms
	Max  time.Duration // cap of the exponential; default 30s
}

// Pause returns how long to wait before retry n (n ≥ 1), given the
// server's Retry-After (0 if none) and a uniform random number in [0, 1).
func (b Backoff) Pause(n int, retryAfter time.Duration, u float64) time.Duration {
	base, max := b.Base, b.Max
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if max <= 0 {
		max = 30 * time.Second
	}
	ceiling := max
	if n < 1 {
		n = 1
	}
	if n <= 30 {
		if c := base << (n - 1); c > 0 && c < max {
			ceiling = c
		}
	}
	d := time.Duration(u * float64(ceiling))
	if retryAfter > d {
		// Retry-After is the server's word; it may exceed the cap, within reason.
		d = min(retryAfter, 5*time.Minute)
	}
	return d
}

// lostNote is appended when a needs-action code most likely met this row's
// own earlier, unanswered success (SPEC §5).
const lostNote = " (an earlier attempt's answer was lost; the token is probably registered to this user)"

// unknownNote marks an error row whose request may have reached the server;
// resume reads it back to carry the uncertainty over.
const unknownNote = "(outcome unknown: the request may have reached the server)"

// verdict is what one attempt means for its row.
type verdict struct {
	final     bool          // the row is decided; if not, another attempt may follow
	status    report.Status // when final
	code      string
	message   string
	wait      time.Duration // server's Retry-After
	throttled bool          // HTTP 429: slow the pace
	unknown   bool          // the request may have been applied without an answer
}

// judge classifies one attempt's answer. earlierUnknown says an earlier
// attempt for the row (in this run or a crashed one) may have been applied.
func judge(resp client.Response, err error, earlierUnknown bool) verdict {
	if err != nil {
		var te *client.TransportError
		if errors.As(err, &te) {
			return verdict{
				message:   te.Error(),
				wait:      te.RetryAfter,
				throttled: te.StatusCode == 429,
				unknown:   te.MaybeSent && te.StatusCode != 429 && te.StatusCode != 503,
			}
		}
		return verdict{message: err.Error()}
	}
	switch resp.Class() {
	case client.OK:
		return verdict{final: true, status: report.StatusOK, code: resp.Code, message: resp.Message}
	case client.Transient:
		return verdict{code: resp.Code, message: resp.Message}
	case client.NeedsAction:
		msg := resp.Message
		if earlierUnknown {
			msg += lostNote
		}
		return verdict{final: true, status: report.StatusFailed, code: resp.Code, message: msg}
	}
	return verdict{final: true, status: report.StatusFailed, code: resp.Code, message: resp.Message}
}

// exhausted turns the last retryable verdict into the row's final outcome
// once no attempt remains.
func exhausted(v verdict, attempts int, unknown bool) verdict {
	if v.code != "" {
		// The server answered a transient code every time: that is its verdict.
		msg := v.message
		if unknown {
			msg += " (an earlier attempt's answer was lost; the token may already be registered to this user)"
		}
		return verdict{final: true, status: report.StatusFailed, code: v.code, message: msg}
	}
	msg := fmt.Sprintf("no valid answer after %d attempt(s): %s", attempts, v.message)
	if unknown {
		msg += " " + unknownNote
	}
	return verdict{final: true, status: report.StatusError, message: msg}
}

// jitter returns a uniform random number in [0, 1).
func jitter() float64 { return rand.Float64() }
