package clienttest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

func TestMaxInWindow(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 2, 0, 0, 0, time.UTC)
	at := func(ms ...int) []time.Time {
		out := make([]time.Time, len(ms))
		for i, m := range ms {
			out[i] = t0.Add(time.Duration(m) * time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name  string
		times []time.Time
		d     time.Duration
		want  int
	}{
		{"none", nil, time.Second, 0},
		{"one", at(0), time.Second, 1},
		{"paced 10/s", at(0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100), time.Second, 10},
		{"window is half-open", at(0, 1000), time.Second, 1},
		{"burst in the middle", at(0, 500, 900, 901, 902, 903, 1800, 2500), time.Second, 6},
		{"burst at the end", at(0, 1000, 2000, 2001, 2002), 10 * time.Millisecond, 3},
		{"unsorted input", at(903, 0, 901, 500, 902, 900), time.Second, 6},
		{"zero window", at(0, 0, 0), 0, 0},
	}
	for _, tt := range tests {
		s := Stats{RequestTimes: tt.times}
		if got := s.MaxInWindow(tt.d); got != tt.want {
			t.Errorf("%s: MaxInWindow(%v) = %d, want %d", tt.name, tt.d, got, tt.want)
		}
	}
}

func TestDoubleRegistrations(t *testing.T) {
	s := Stats{Registrations: map[string]int{"SMS:+6011": 1, "OTP:B": 2, "OTP:A": 3, "OTP:C": 1}}
	if got, want := s.DoubleRegistrations(), []string{"OTP:A", "OTP:B"}; !slices.Equal(got, want) {
		t.Errorf("DoubleRegistrations() = %v, want %v", got, want)
	}
	if got := (Stats{}).DoubleRegistrations(); got != nil {
		t.Errorf("zero Stats DoubleRegistrations() = %v, want nil", got)
	}
}

func TestStats(t *testing.T) {
	s := newServer(t, fixture(), Options{})
	c := newClient(t, s, nil)
	before := time.Now()
	for i := range 20 {
		user := "alice"
		if i%4 == 3 {
			user = "zed" // 22002
		}
		if _, err := c.Register(t.Context(), client.Registration{Username: user, TokenSn: fmt.Sprintf("+6012345%04d", i), TokenType: client.SMS}); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	send(t, s, "GET", "/token/registerActiveToken/admin", "")
	send(t, s, "PUT", "/nowhere", "")
	after := time.Now()

	st := s.Stats()
	if st.Requests != 22 || len(st.RequestTimes) != 22 {
		t.Errorf("Stats() Requests %d, %d RequestTimes; want 22", st.Requests, len(st.RequestTimes))
	}
	if want := map[string]int64{"0": 15, "22002": 5}; !maps.Equal(st.ByCode, want) {
		t.Errorf("Stats().ByCode = %v, want %v", st.ByCode, want)
	}
	if want := map[int]int64{200: 20, 404: 1, 405: 1}; !maps.Equal(st.HTTPStatus, want) {
		t.Errorf("Stats().HTTPStatus = %v, want %v", st.HTTPStatus, want)
	}
	if len(st.Registrations) != 15 || len(st.DoubleRegistrations()) != 0 {
		t.Errorf("Stats().Registrations = %v, want 15 tokens once each", st.Registrations)
	}
	if len(st.Faults) != 0 {
		t.Errorf("Stats().Faults = %v, want none", st.Faults)
	}
	if st.MaxInFlight != 1 {
		t.Errorf("Stats().MaxInFlight = %d, want 1 for one sequential client", st.MaxInFlight)
	}
	if !slices.IsSortedFunc(st.RequestTimes, time.Time.Compare) {
		t.Error("Stats().RequestTimes are not in order")
	}
	if st.FirstRequest.Before(before) || st.LastRequest.After(after) || !st.FirstRequest.Equal(st.RequestTimes[0]) || !st.LastRequest.Equal(st.RequestTimes[21]) {
		t.Errorf("Stats() FirstRequest %v LastRequest %v, want the first and last RequestTimes within the test", st.FirstRequest, st.LastRequest)
	}
	wantRate := 21 / st.LastRequest.Sub(st.FirstRequest).Seconds()
	if st.Rate != wantRate {
		t.Errorf("Stats().Rate = %v, want %v (21 intervals over the span)", st.Rate, wantRate)
	}

	// The snapshot is a copy.
	st.ByCode["0"] = 999
	st.RequestTimes[0] = time.Time{}
	if again := s.Stats(); again.ByCode["0"] != 15 || again.RequestTimes[0].IsZero() {
		t.Error("changing a Stats snapshot changed the server's record")
	}
}

func TestStatsEmpty(t *testing.T) {
	s := newServer(t, State{}, Options{})
	st := s.Stats()
	if st.Requests != 0 || st.Rate != 0 || !st.FirstRequest.IsZero() || st.MaxInWindow(time.Second) != 0 || st.ByCode == nil {
		t.Errorf("Stats() of a new server = %+v, want zero counts and non-nil maps", st)
	}
}

func TestLoadState(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.json", `{
  "users": ["alice", "bob"],
  "tokens": [{"serial": "OTP1", "status": "Deactivated"}, {"serial": "OTP2", "status": "active", "owner": "bob"}],
  "phonesInUse": ["+60111111111"],
  "usersWithOtp": ["bob"],
  "noCrOtp": ["alice"],
  "failures": [{"username": "alice", "code": "10003", "times": 1}]
}`)
	st, err := LoadState(good)
	if err != nil {
		t.Fatalf("LoadState(%s): %v", good, err)
	}
	want := State{
		Users:        []string{"alice", "bob"},
		Tokens:       []Token{{Serial: "OTP1", Status: "Deactivated"}, {Serial: "OTP2", Status: "active", Owner: "bob"}},
		PhonesInUse:  []string{"+60111111111"},
		UsersWithOTP: []string{"bob"},
		NoCROTP:      []string{"alice"},
		Failures:     []Failure{{Username: "alice", Code: "10003", Times: 1}},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("LoadState(good) = %+v, want %+v", st, want)
	}

	tests := []struct {
		name, text, wantErr string
	}{
		{"syntax", "{\n  \"users\": [\"a\",\n  ]\n}", "line 3"},
		{"unknown field", `{"user": ["a"]}`, `unknown field "user"`},
		{"wrong type", `{"users": "alice"}`, "cannot unmarshal"},
		{"trailing data", `{} {}`, "data after"},
		{"empty serial", `{"tokens": [{"status": "active"}]}`, "empty serial"},
		{"duplicate serial", `{"tokens": [{"serial": "A", "status": "active"}, {"serial": "A", "status": "locked"}]}`, `serial "A" listed twice`},
		{"unknown status", `{"tokens": [{"serial": "A", "status": "activ"}]}`, `unknown status "activ"`},
		{"failure for unknown user", `{"users": ["a"], "failures": [{"username": "b", "code": "10003"}]}`, `user "b" is not in users`},
		{"failure without code", `{"users": ["a"], "failures": [{"username": "a"}]}`, "empty code"},
		{"negative times", `{"users": ["a"], "failures": [{"username": "a", "code": "1", "times": -1}]}`, "negative times"},
	}
	for _, tt := range tests {
		p := write(strings.ReplaceAll(tt.name, " ", "-")+".json", tt.text)
		_, err := LoadState(p)
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: LoadState = %v, want an error naming %s and saying %q", tt.name, err, p, tt.wantErr)
		}
	}
	missing := filepath.Join(dir, "missing.json")
	if _, err := LoadState(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("LoadState(missing) = %v, want an error naming the file", err)
	}
}

func TestNewHandlerCopiesState(t *testing.T) {
	st := fixture()
	s := newServer(t, st, Options{})
	st.Users[0] = "mallory"
	st.Tokens[0].Status = "locked"
	c := newClient(t, s, nil)
	resp, err := c.Register(t.Context(), client.Registration{Username: "alice", TokenSn: "OTP01", TokenType: client.OTP})
	if err != nil || resp.Code != "0" {
		t.Errorf("Register after the caller changed its State = %+v, %v; want code 0 (the server holds a copy)", resp, err)
	}
}
