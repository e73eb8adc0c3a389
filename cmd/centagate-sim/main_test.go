package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/internal/testio"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// sim is a running simulator: run in a goroutine, its stdout read line by
// line.
type sim struct {
	base   string
	cancel context.CancelFunc
	done   chan int
	lines  chan string
	stderr *testio.SyncBuffer
}

var listeningLine = regexp.MustCompile(`^listening on http://127\.0\.0\.1:[0-9]+$`)

func startSim(t *testing.T, args []string, environ map[string]string) *sim {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	s := &sim{cancel: cancel, done: make(chan int, 1), lines: make(chan string, 100), stderr: &testio.SyncBuffer{}}
	go func() {
		code := run(ctx, args, env(environ), pw, s.stderr)
		pw.Close()
		s.done <- code
	}()
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	first, ok := <-s.lines
	if !ok {
		cancel()
		t.Fatalf("run(%q) printed nothing; exit %d, stderr %s", args, <-s.done, s.stderr)
	}
	if !listeningLine.MatchString(first) {
		t.Errorf("first line %q, want %q", first, listeningLine)
	}
	second := <-s.lines
	wantSecond := "base URL " + strings.TrimPrefix(first, "listening on ") + clienttest.DefaultBasePath
	if second != wantSecond {
		t.Errorf("second line %q, want %q", second, wantSecond)
	}
	s.base = strings.TrimPrefix(second, "base URL ")
	t.Cleanup(func() {
		cancel()
		for range s.lines {
		}
	})
	return s
}

// stop cancels the context and returns the exit code and the rest of stdout.
func (s *sim) stop(t *testing.T) (int, string) {
	t.Helper()
	s.cancel()
	var rest []string
	for l := range s.lines {
		rest = append(rest, l)
	}
	return <-s.done, strings.Join(rest, "\n")
}

func newClient(t *testing.T, base, admin, authToken, secretCode string, timeout time.Duration) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		Credentials: client.Credentials{URL: base, Admin: admin, AuthToken: authToken, SecretCode: secretCode},
		Timeout:     timeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestRunServesAndPrintsStats(t *testing.T) {
	s := startSim(t, []string{"-addr", "127.0.0.1:0", "-state", "../../samples/sim-state.json"}, nil)
	c := newClient(t, s.base, clienttest.DefaultAdmin, clienttest.DefaultAuthToken, clienttest.DefaultSecretCode, 10*time.Second)
	regs := []struct {
		reg  client.Registration
		want string
	}{
		{client.Registration{Username: "alice", TokenSn: "+60123456701", TokenType: client.SMS}, "0"},
		{client.Registration{Username: "carol", TokenSn: "OTP00000001", TokenType: client.OTP}, "0"},
		{client.Registration{Username: "nina", TokenSn: "+60123456799", TokenType: client.SMS}, "29004"},
	}
	for _, r := range regs {
		resp, err := c.Register(t.Context(), r.reg)
		if err != nil || resp.Code != r.want {
			t.Errorf("Register(%+v) = %+v, %v; want code %s", r.reg, resp, err, r.want)
		}
	}
	code, out := s.stop(t)
	if code != 0 {
		t.Errorf("run exit code = %d, want 0 after cancel; stderr %s", code, s.stderr)
	}
	for _, want := range []string{
		"statistics:",
		"requests       3\n",
		"max in flight  1\n",
		"codes          0=2 29004=1\n",
		"http status    200=3\n",
		"faults         none\n",
		"registrations  2 tokens, 0 registered twice",
		"req/s",
	} {
		if !strings.Contains(out+"\n", want) {
			t.Errorf("stats output\n%s\nwant it to contain %q", out, want)
		}
	}
	if got := s.stderr.String(); !strings.Contains(got, "state ../../samples/sim-state.json: 33 users") || !strings.Contains(got, "demo credentials") {
		t.Errorf("stderr = %q, want the state summary and the demo-credentials note", got)
	}
}

func TestRunCredentialsFromEnvironment(t *testing.T) {
	environ := map[string]string{"CENTAGATE_ADMIN": "webadmin", "CENTAGATE_AUTH_TOKEN": "9f8e7d6c5b4a", "CENTAGATE_SECRET_CODE": "Hrz3G92PO2hN"}
	s := startSim(t, []string{"-state", "../../samples/sim-state.json"}, environ)
	reg := client.Registration{Username: "alice", TokenSn: "+60123456701", TokenType: client.SMS}
	demo := newClient(t, s.base, clienttest.DefaultAdmin, clienttest.DefaultAuthToken, clienttest.DefaultSecretCode, 10*time.Second)
	if resp, err := demo.Register(t.Context(), reg); err != nil || resp.Code != "10002" || resp.Message != "Invalid cenToken" {
		t.Errorf("Register with demo credentials = %+v, %v; want 10002 Invalid cenToken", resp, err)
	}
	right := newClient(t, s.base, "webadmin", "9f8e7d6c5b4a", "Hrz3G92PO2hN", 10*time.Second)
	if resp, err := right.Register(t.Context(), reg); err != nil || resp.Code != "0" {
		t.Errorf("Register with the environment's credentials = %+v, %v; want code 0", resp, err)
	}
	if code, _ := s.stop(t); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if strings.Contains(s.stderr.String(), "demo credentials") {
		t.Errorf("stderr %q mentions demo credentials, but the environment set them", s.stderr)
	}
}

func TestRunEndsHangsOnShutdown(t *testing.T) {
	s := startSim(t, []string{"-state", "../../samples/sim-state.json", "-faults", "hang", "-fault-rate", "1"}, nil)
	c := newClient(t, s.base, clienttest.DefaultAdmin, clienttest.DefaultAuthToken, clienttest.DefaultSecretCode, time.Hour)
	errc := make(chan error, 1)
	wrote := make(chan struct{})
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { close(wrote) },
	})
	go func() {
		_, err := c.Register(ctx, client.Registration{Username: "alice", TokenSn: "+60123456701", TokenType: client.SMS})
		errc <- err
	}()
	// Once the request is on the wire, whether it has reached the handler
	// yet or not, shutdown must end it promptly.
	<-wrote
	var te *client.TransportError
	code, out := s.stop(t)
	if err := <-errc; !errors.As(err, &te) {
		t.Errorf("hanging Register after shutdown = %v, want a transport error", err)
	}
	if code != 0 || !strings.Contains(out, "statistics:") {
		t.Errorf("run = %d with output %q, want 0 and statistics", code, out)
	}
}

func TestRunAddrFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim.url")
	s := startSim(t, []string{"-addr-file", path}, nil)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("-addr-file not written: %v", err)
	}
	if got := string(data); got != s.base+"\n" {
		t.Errorf("-addr-file holds %q, want %q", got, s.base+"\n")
	}
	s.stop(t)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("-addr-file after exit: Stat = %v, want it removed", err)
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"all interfaces", []string{"-addr", ":8080"}, 2, "loopback only"},
		{"any address", []string{"-addr", "0.0.0.0:0"}, 2, "loopback only"},
		{"lan address", []string{"-addr", "10.0.0.1:80"}, 2, "loopback only"},
		{"host name", []string{"-addr", "example.com:80"}, 2, "loopback only"},
		{"no port", []string{"-addr", "127.0.0.1"}, 2, "missing port"},
		{"unknown fault", []string{"-faults", "500,teapot"}, 2, `unknown fault "teapot"`},
		{"fault rate over 1", []string{"-faults", "500", "-fault-rate", "1.5"}, 2, "between 0 and 1"},
		{"fault rate without faults", []string{"-fault-rate", "0.2"}, 2, "-fault-rate without -faults"},
		{"negative rate limit", []string{"-rate-limit", "-1"}, 2, "-rate-limit"},
		{"negative latency", []string{"-latency", "-1s"}, 2, "must not be negative"},
		{"unknown flag", []string{"-url", "x"}, 2, "flag provided but not defined: -url"},
		{"bad duration", []string{"-latency", "soon"}, 2, "invalid value"},
		{"argument", []string{"extra"}, 2, `unexpected argument "extra"`},
		{"missing state", []string{"-state", "no/such/file.json"}, 2, "no/such/file.json"},
		{"help", []string{"-h"}, 0, "Usage: centagate-sim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr testio.SyncBuffer
			code := run(t.Context(), tt.args, env(nil), &stdout, &stderr)
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("run(%q) = %d, stderr %q; want %d, stderr containing %q", tt.args, code, stderr.String(), tt.wantCode, tt.wantStderr)
			}
			if stdout.String() != "" {
				t.Errorf("run(%q) stdout = %q, want nothing", tt.args, stdout.String())
			}
		})
	}
}

func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:0", true},
		{"127.0.0.2:8080", true},
		{"[::1]:0", true},
		{"localhost:9000", true},
		{"LOCALHOST:9000", true},
		{":0", false},
		{"0.0.0.0:0", false},
		{"[::]:0", false},
		{"192.168.1.10:80", false},
		{"mfa.example.com:443", false},
	}
	for _, tt := range tests {
		if err := checkLoopback(tt.addr); (err == nil) != tt.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok %v", tt.addr, err, tt.ok)
		}
	}
}

func TestCounts(t *testing.T) {
	tests := []struct {
		m    map[string]int64
		want string
	}{
		{nil, "none"},
		{map[string]int64{"29004": 2, "0": 5, "6002": 1, "10003": 3}, "0=5 6002=1 10003=3 29004=2"},
		{map[string]int64{"reset": 1, "500": 2, "hang": 3}, "500=2 hang=3 reset=1"},
	}
	for _, tt := range tests {
		if got := counts(tt.m); got != tt.want {
			t.Errorf("counts(%v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}
