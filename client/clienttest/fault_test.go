package clienttest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

func TestParseFaults(t *testing.T) {
	tests := []struct {
		list    string
		want    []Fault
		wantErr bool
	}{
		{"", nil, false},
		{"500", []Fault{Fault500}, false},
		{" 500 , reset,LOST ", []Fault{Fault500, FaultReset, FaultLost}, false},
		{"500,503,reset,hang,badjson,html,lost", AllFaults(), false},
		{"all", AllFaults(), false},
		{"reset,,reset", []Fault{FaultReset, FaultReset}, false},
		{"429,all", append([]Fault{Fault429}, AllFaults()...), false},
		{"500,teapot", nil, true},
		{"404", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseFaults(tt.list)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("ParseFaults(%q) = %v, %v; want %v, error %v", tt.list, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := ParseFaults("500,teapot"); err == nil || !strings.Contains(err.Error(), `"teapot"`) {
		t.Errorf("ParseFaults(\"500,teapot\") error = %v, want it to name teapot", err)
	}
}

// TestFaults observes each fault through client.Client.Register: the
// transport error the batch's retry policy sees, and whether the
// registration was applied.
func TestFaults(t *testing.T) {
	tests := []struct {
		fault         Fault
		wantStatus    int
		wantRetry     time.Duration
		wantTimeout   bool
		wantApplied   bool
		wantHTTPCount int // of wantStatus in Stats().HTTPStatus
	}{
		{fault: Fault500, wantStatus: 500, wantHTTPCount: 1},
		{fault: Fault503, wantStatus: 503, wantRetry: time.Second, wantHTTPCount: 1},
		{fault: FaultReset},
		{fault: FaultHang, wantTimeout: true},
		{fault: FaultBadJSON, wantStatus: 200, wantHTTPCount: 1},
		{fault: FaultHTML, wantStatus: 200, wantHTTPCount: 1},
		{fault: FaultLost, wantApplied: true},
		{fault: Fault429, wantStatus: 429, wantRetry: time.Second, wantHTTPCount: 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			s := newServer(t, fixture(), Options{Faults: []Fault{tt.fault}, FaultRate: 1})
			c := newClient(t, s, func(c *client.Config) { c.Timeout = 300 * time.Millisecond })
			reg := client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS}
			resp, err := c.Register(t.Context(), reg)
			var te *client.TransportError
			if !errors.As(err, &te) {
				t.Fatalf("Register with fault %s = %+v, %v; want a *client.TransportError", tt.fault, resp, err)
			}
			wantMaybeSent := tt.fault != Fault429 // a 429 is never applied
			if te.StatusCode != tt.wantStatus || te.MaybeSent != wantMaybeSent || te.RetryAfter != tt.wantRetry || te.Timeout != tt.wantTimeout {
				t.Errorf("Register with fault %s: error %v = {StatusCode %d MaybeSent %v RetryAfter %v Timeout %v}, want {%d %v %v %v}",
					tt.fault, te, te.StatusCode, te.MaybeSent, te.RetryAfter, te.Timeout, tt.wantStatus, wantMaybeSent, tt.wantRetry, tt.wantTimeout)
			}
			if tt.fault == FaultHang {
				// The client gave up; the handler must follow before Close.
				waitIdle(t, s)
			}
			applied := slices.Contains(s.State().PhonesInUse, reg.TokenSn)
			if applied != tt.wantApplied {
				t.Errorf("fault %s: registration applied = %v, want %v", tt.fault, applied, tt.wantApplied)
			}
			st := s.Stats()
			if st.Faults[tt.fault] != 1 || st.Requests != 1 {
				t.Errorf("fault %s: Stats() Requests %d Faults %v, want 1 request and 1 %s fault", tt.fault, st.Requests, st.Faults, tt.fault)
			}
			if got := st.HTTPStatus[tt.wantStatus]; tt.wantStatus != 0 && int(got) != tt.wantHTTPCount {
				t.Errorf("fault %s: Stats().HTTPStatus = %v, want %d × %d", tt.fault, st.HTTPStatus, tt.wantHTTPCount, tt.wantStatus)
			}
			if len(st.ByCode) != 0 {
				t.Errorf("fault %s: Stats().ByCode = %v, want no code answered", tt.fault, st.ByCode)
			}
			wantRegs := 0
			if tt.wantApplied {
				wantRegs = 1
			}
			if got := st.Registrations["SMS:"+reg.TokenSn]; got != wantRegs {
				t.Errorf("fault %s: Stats().Registrations = %v, want %d for SMS:%s", tt.fault, st.Registrations, wantRegs, reg.TokenSn)
			}
		})
	}
}

// TestLostThenRetry is the double registration SPEC §7 allows: the answer
// of an applied registration is lost, the retry meets its own success.
func TestLostThenRetry(t *testing.T) {
	s := newServer(t, fixture(), Options{Faults: []Fault{FaultLost}, FaultRate: 1})
	c := newClient(t, s, nil)
	reg := client.Registration{Username: "alice", TokenSn: "OTP01", TokenType: client.OTP}
	if _, err := c.Register(t.Context(), reg); err == nil {
		t.Fatal("Register with a lost answer succeeded, want a transport error")
	}
	got := s.State()
	i := slices.IndexFunc(got.Tokens, func(tk Token) bool { return tk.Serial == "OTP01" })
	if tk := got.Tokens[i]; tk.Owner != "alice" || tk.Status != StatusActive {
		t.Errorf("after a lost answer, token = %+v, want active and owned by alice", tk)
	}
	if d := s.Stats().DoubleRegistrations(); len(d) != 0 {
		t.Errorf("DoubleRegistrations() = %v, want none: a token is applied once", d)
	}
}

func TestHangEndsOnClose(t *testing.T) {
	s := NewServer(fixture(), Options{Faults: []Fault{FaultHang}, FaultRate: 1})
	defer s.Close()
	c := newClient(t, s, func(c *client.Config) { c.Timeout = time.Hour })
	const n = 10
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := c.Register(t.Context(), client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS})
			errs <- err
		}()
	}
	waitFor(t, "every request to hang in the handler", func() bool { return s.Stats().Requests == n })
	s.Close()
	for range n {
		var te *client.TransportError
		if err := <-errs; !errors.As(err, &te) || !te.MaybeSent {
			t.Errorf("hanging Register after Close = %v, want a transport error with MaybeSent", err)
		}
	}
	if st := s.Stats(); st.MaxInFlight != n || st.Faults[FaultHang] != n {
		t.Errorf("Stats() MaxInFlight %d Faults %v, want %d in flight and %d hangs", st.MaxInFlight, st.Faults, n, n)
	}
}

func TestRateLimit(t *testing.T) {
	s := newServer(t, fixture(), Options{RateLimit: 1}) // burst 1
	c := newClient(t, s, nil)
	first, err := c.Register(t.Context(), client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS})
	if err != nil || first.Code != "0" {
		t.Fatalf("first Register = %+v, %v; want code 0", first, err)
	}
	_, err = c.Register(t.Context(), client.Registration{Username: "bob", TokenSn: "+60123456780", TokenType: client.SMS})
	var te *client.TransportError
	if !errors.As(err, &te) || te.StatusCode != 429 || te.RetryAfter != time.Second {
		t.Fatalf("second Register within a second = %v, want a transport error with HTTP 429 and Retry-After 1s", err)
	}
	if slices.Contains(s.State().PhonesInUse, "+60123456780") {
		t.Error("a request answered 429 was applied")
	}
	if st := s.Stats(); st.HTTPStatus[429] != 1 || st.HTTPStatus[200] != 1 || st.Requests != 2 {
		t.Errorf("Stats() Requests %d HTTPStatus %v, want 2 requests: one 200, one 429", st.Requests, st.HTTPStatus)
	}
}

func TestRateLimitBurst(t *testing.T) {
	tests := []struct {
		rate      float64
		wantBurst int
	}{
		{0.5, 1}, {1, 1}, {10, 1}, {11, 2}, {100, 10}, {1000, 100},
	}
	for _, tt := range tests {
		h := NewHandler(State{}, Options{RateLimit: tt.rate})
		if got := h.limiter.Burst(); got != tt.wantBurst {
			t.Errorf("RateLimit %v: burst = %d, want %d", tt.rate, got, tt.wantBurst)
		}
		h.Close()
	}
	if h := NewHandler(State{}, Options{}); h.limiter != nil {
		t.Error("RateLimit 0: a limiter was set, want none")
	}
}

// TestFaultsDeterministic checks that a seed gives the same faults for the
// same request order, and another seed different ones.
func TestFaultsDeterministic(t *testing.T) {
	run := func(seed int64) []string {
		s := newServer(t, fixture(), Options{Faults: []Fault{Fault500, FaultBadJSON, Fault503}, FaultRate: 0.5, Seed: seed})
		c := newClient(t, s, nil)
		var out []string
		for i := range 40 {
			_, err := c.Register(t.Context(), client.Registration{Username: "alice", TokenSn: fmt.Sprintf("+601234%04d", i), TokenType: client.SMS})
			var te *client.TransportError
			switch {
			case err == nil:
				out = append(out, "ok")
			case errors.As(err, &te):
				out = append(out, te.Snippet[:min(12, len(te.Snippet))])
			default:
				out = append(out, err.Error())
			}
		}
		return out
	}
	a, b, other := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Errorf("seed 7 twice gave\n%v\n%v\nwant the same", a, b)
	}
	if slices.Equal(a, other) {
		t.Errorf("seeds 7 and 8 gave the same faults %v, want different", a)
	}
	faults := 0
	for _, r := range a {
		if r != "ok" {
			faults++
		}
	}
	if faults < 8 || faults > 32 {
		t.Errorf("FaultRate 0.5 gave %d faults in 40 requests, want about 20", faults)
	}
}

func TestDrawJitter(t *testing.T) {
	h := NewHandler(State{}, Options{Latency: 10 * time.Millisecond, Jitter: 5 * time.Millisecond, Seed: 1})
	defer h.Close()
	lo, hi := time.Hour, time.Duration(0)
	for range 10000 {
		_, d := h.draw()
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 5*time.Millisecond || hi > 15*time.Millisecond || hi-lo < 9*time.Millisecond {
		t.Errorf("delays with latency 10ms ± 5ms span [%v, %v], want them spread over [5ms, 15ms]", lo, hi)
	}
	h2 := NewHandler(State{}, Options{Latency: time.Millisecond, Jitter: 10 * time.Millisecond})
	defer h2.Close()
	for range 1000 {
		if _, d := h2.draw(); d < 0 {
			t.Fatalf("draw() delay = %v, want never below 0", d)
		}
	}
}
