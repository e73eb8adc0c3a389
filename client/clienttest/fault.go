package clienttest

import (
	"fmt"
	"strings"
)

// Fault is a misbehaviour the server can inject instead of (or, for
// FaultLost, after) a normal answer. Each is one bad behaviour, as in
// testing/iotest.
type Fault string

// The faults of SPEC §6.
const (
	// Fault500 answers HTTP 500 with an HTML error page; nothing is applied.
	Fault500 Fault = "500"
	// Fault503 answers HTTP 503 with Retry-After: 1; nothing is applied.
	Fault503 Fault = "503"
	// FaultReset resets the connection (TCP RST) without answering;
	// nothing is applied.
	FaultReset Fault = "reset"
	// FaultHang never answers: the request blocks until the client gives
	// up or the server closes; nothing is applied.
	FaultHang Fault = "hang"
	// FaultBadJSON answers HTTP 200 with a truncated JSON body; nothing is
	// applied.
	FaultBadJSON Fault = "badjson"
	// FaultHTML answers HTTP 200 with an HTML login page, as a
	// misconfigured proxy would; nothing is applied.
	FaultHTML Fault = "html"
	// FaultLost applies the registration, then resets the connection
	// without answering: the client cannot know it succeeded.
	FaultLost Fault = "lost"
	// Fault429 answers HTTP 429 with Retry-After: 1, as a WAF or a shared
	// gateway throttles a stray request whatever the pace; nothing is
	// applied. Unlike RateLimit it is drawn at random, so it tells noise
	// from a limit. It is not one of AllFaults: ask for it by name.
	Fault429 Fault = "429"
)

// AllFaults returns every fault kind of SPEC §6, in its order; Fault429 is
// not one of them.
func AllFaults() []Fault {
	return []Fault{Fault500, Fault503, FaultReset, FaultHang, FaultBadJSON, FaultHTML, FaultLost}
}

func (f Fault) valid() bool {
	switch f {
	case Fault500, Fault503, FaultReset, FaultHang, FaultBadJSON, FaultHTML, FaultLost, Fault429:
		return true
	}
	return false
}

// ParseFaults parses a comma-separated list such as "500,reset,lost".
// Spaces around names are ignored, an empty list gives no faults, and
// "all" stands for AllFaults (429 is named on its own). A name listed twice
// is drawn twice as often.
func ParseFaults(list string) ([]Fault, error) {
	var out []Fault
	for name := range strings.SplitSeq(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if name == "all" {
			out = append(out, AllFaults()...)
			continue
		}
		f := Fault(name)
		if !f.valid() {
			return nil, fmt.Errorf("unknown fault %q: want a comma-separated list of 500, 503, reset, hang, badjson, html, lost (or all), 429", name)
		}
		out = append(out, f)
	}
	return out, nil
}
