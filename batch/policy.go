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
	base, maxPause := b.Base, b.Max
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxPause <= 0 {
		maxPause = 30 * time.Second
	}
	ceiling := maxPause
	if n < 1 {
		n = 1
	}
	if n <= 30 {
		if c := base << (n - 1); c > 0 && c < maxPause {
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

// verdict is what one attempt means for its row.
type verdict struct {
	final     bool          // the row is decided; if not, another attempt may follow
	status    report.Status // when final
	code      string
	message   string        // without notes: outcome.result adds them
	wait      time.Duration // server's Retry-After
	throttled bool          // HTTP 429: slow the pace
	// unknown: before final, this attempt may have been applied without an
	// answer; when final, the row's outcome may be a success nobody saw.
	unknown bool
	timeout bool // this attempt ended in a timeout
	// lost: a needs-action code after an attempt with unknown outcome, which
	// most likely met the row's own success.
	lost bool
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
				timeout:   te.Timeout,
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
		return verdict{final: true, status: report.StatusFailed, code: resp.Code, message: resp.Message, unknown: earlierUnknown, lost: earlierUnknown}
	}
	return verdict{final: true, status: report.StatusFailed, code: resp.Code, message: resp.Message}
}

// exhausted turns the last retryable verdict into the row's final outcome
// once no attempt remains. unknown says an attempt may have been applied.
func exhausted(v verdict, attempts int, unknown bool) verdict {
	if v.code != "" {
		// The server answered a transient code every time: that is its verdict.
		return verdict{final: true, status: report.StatusFailed, code: v.code, message: v.message, unknown: unknown}
	}
	msg := fmt.Sprintf("no valid answer after %d attempt(s): %s", attempts, v.message)
	return verdict{final: true, status: report.StatusError, message: msg, unknown: unknown}
}

// interrupted is the outcome of a row whose retry was cut short by a stop.
func interrupted(v verdict, attempts int, unknown bool) verdict {
	msg := fmt.Sprintf("interrupted after %d attempt(s); last answer: %s", attempts, v.message)
	if v.code != "" {
		msg = fmt.Sprintf("interrupted after %d attempt(s); last answer: code %s %s", attempts, v.code, v.message)
	}
	return verdict{final: true, status: report.StatusError, message: msg, unknown: unknown}
}

// jitter returns a uniform random number in [0, 1).
func jitter() float64 { return rand.Float64() }
