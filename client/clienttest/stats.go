package clienttest

import (
	"maps"
	"slices"
	"time"
)

// maxRequestTimes caps Stats.RequestTimes, so that a long simulator run does
// not grow without bound (8 bytes a request are kept).
const maxRequestTimes = 1_000_000

// Stats is a snapshot of what a server saw. It is a copy: the caller owns it
// and it does not change when more requests arrive.
type Stats struct {
	// Requests counts all requests reaching the handler, whatever their
	// path, method or fate (429s and faults included).
	Requests int64
	// ByCode counts the codes answered ("0", "29004", ...). A request whose
	// answer was lost (FaultLost) is not counted here.
	ByCode map[string]int64
	// HTTPStatus counts the HTTP statuses answered (200, 404, 405, 429,
	// 500, 503). Resets, hangs and lost answers have none.
	HTTPStatus map[int]int64
	// Faults counts the injected faults by kind.
	Faults map[Fault]int64
	// Registrations counts the successful registrations applied, per token
	// key "SMS:<number>" or "OTP:<serial>"; more than 1 means the token was
	// registered twice.
	Registrations map[string]int
	// MaxInFlight is the largest number of requests in the handler at once.
	MaxInFlight int
	// Rate is the request rate over the server's life: (Requests-1)
	// divided by the time from the first to the last request, so that
	// requests paced exactly at R per second give R. It is 0 with fewer
	// than two requests.
	Rate float64
	// RequestTimes are the arrival times of the requests, in order, at
	// most the first 1,000,000.
	RequestTimes []time.Time
	// FirstRequest and LastRequest are the first and last arrival times;
	// zero before any request.
	FirstRequest, LastRequest time.Time
}

// MaxInWindow returns the largest number of requests that arrived within
// any window [t, t+d) sliding over RequestTimes: the burst a pacing test
// checks against its limit. It is 0 for d <= 0.
func (s Stats) MaxInWindow(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	ts := s.RequestTimes
	byTime := func(a, b time.Time) int { return a.Compare(b) }
	if !slices.IsSortedFunc(ts, byTime) {
		ts = slices.Clone(ts)
		slices.SortFunc(ts, byTime)
	}
	best, lo := 0, 0
	for hi, t := range ts {
		for t.Sub(ts[lo]) >= d {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// DoubleRegistrations returns, sorted, the token keys registered more than
// once. Without FaultLost it must be empty whatever the client does.
func (s Stats) DoubleRegistrations() []string {
	var out []string
	for k, n := range s.Registrations {
		if n > 1 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// recorder accumulates Stats; the Handler guards it with its own mutex,
// separate from the state's, so bookkeeping never waits on registrations.
type recorder struct {
	base          time.Time       // arrival times are kept as offsets from base
	times         []time.Duration // monotonic offsets of the arrivals
	requests      int64
	first, last   time.Duration
	inFlight      int
	maxInFlight   int
	byCode        map[string]int64
	httpStatus    map[int]int64
	faults        map[Fault]int64
	registrations map[string]int
}

func newRecorder() recorder {
	return recorder{
		base:          time.Now(),
		byCode:        make(map[string]int64),
		httpStatus:    make(map[int]int64),
		faults:        make(map[Fault]int64),
		registrations: make(map[string]int),
	}
}

// arrive records a request's arrival; its time is taken under the lock so
// that times are in order.
func (r *recorder) arrive() {
	at := time.Since(r.base)
	if r.requests == 0 {
		r.first = at
	}
	r.last = at
	r.requests++
	if len(r.times) < maxRequestTimes {
		r.times = append(r.times, at)
	}
	r.inFlight++
	r.maxInFlight = max(r.maxInFlight, r.inFlight)
}

// outcome is what one request ended with.
type outcome struct {
	status     int    // HTTP status answered, 0 for none
	code       string // code answered, "" for none
	fault      Fault  // fault injected, "" for none
	registered string // token key registered, "" for none
	recorded   bool   // already counted
}

func (r *recorder) record(o outcome) {
	if o.status != 0 {
		r.httpStatus[o.status]++
	}
	if o.code != "" {
		r.byCode[o.code]++
	}
	if o.fault != "" {
		r.faults[o.fault]++
	}
	if o.registered != "" {
		r.registrations[o.registered]++
	}
}

func (r *recorder) snapshot() Stats {
	s := Stats{
		Requests:      r.requests,
		ByCode:        maps.Clone(r.byCode),
		HTTPStatus:    maps.Clone(r.httpStatus),
		Faults:        maps.Clone(r.faults),
		Registrations: maps.Clone(r.registrations),
		MaxInFlight:   r.maxInFlight,
		RequestTimes:  make([]time.Time, len(r.times)),
	}
	for i, d := range r.times {
		s.RequestTimes[i] = r.base.Add(d)
	}
	if r.requests > 0 {
		s.FirstRequest, s.LastRequest = r.base.Add(r.first), r.base.Add(r.last)
		if span := r.last - r.first; r.requests > 1 && span > 0 {
			s.Rate = float64(r.requests-1) / span.Seconds()
		}
	}
	return s
}
