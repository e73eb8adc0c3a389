package clienttest

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenreg/tokenreg/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a state with one user or token for each code path.
func fixture() State {
	return State{
		Users: []string{"alice", "bob", "carol", "holder", "nocr", "flaky", "broken", "bad"},
		Tokens: []Token{
			{Serial: "OTP01", Status: "deactivated"},
			{Serial: "OTP02", Status: "deactivated", Owner: "bob"},
			{Serial: "OTP03", Status: "active", Owner: "carol"},
			{Serial: "OTP04", Status: "locked"},
			{Serial: "OTP05", Status: "disabled"},
			{Serial: "OTP06", Status: "expired"},
			{Serial: "OTP07", Status: "lost"},
			{Serial: "OTP08", Status: "pending"},
			{Serial: "OTP09", Status: "suspended"}, // unknown status: NewHandler takes it, LoadState would not
			{Serial: "OTP10", Status: "Deactivated"},
		},
		PhonesInUse:  []string{"+60111111111"},
		UsersWithOTP: []string{"holder"},
		NoCROTP:      []string{"nocr"},
		Failures: []Failure{
			{Username: "flaky", Code: client.CodeDBProtection, Times: 2},
			{Username: "broken", Code: client.CodeRegisterFailed, Times: 0},
			{Username: "bad", Code: "99999", Times: 1},
		},
	}
}

func newServer(t testing.TB, st State, opts Options) *Server {
	t.Helper()
	s := NewServer(st, opts)
	t.Cleanup(s.Close)
	return s
}

func demoCredentials(s *Server) client.Credentials {
	return client.Credentials{URL: s.URL, Admin: DefaultAdmin, AuthToken: DefaultAuthToken, SecretCode: DefaultSecretCode}
}

// newClient returns a client.Client for s; edit may change its config.
func newClient(t testing.TB, s *Server, edit func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Credentials: demoCredentials(s), Timeout: 10 * time.Second}
	if edit != nil {
		edit(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// send does one raw HTTP request and returns the status, headers and body.
func send(t testing.TB, s *Server, method, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(data)
}

// waitFor polls cond until it holds; for conditions on the server's own
// record (a request has reached the handler), which no channel announces.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitIdle waits until no request is in the handler.
func waitIdle(t testing.TB, s *Server) {
	t.Helper()
	waitFor(t, "the handler to be idle", func() bool {
		s.h.statsMu.Lock()
		defer s.h.statsMu.Unlock()
		return s.h.rec.inFlight == 0
	})
}
