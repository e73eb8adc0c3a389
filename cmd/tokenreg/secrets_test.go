package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/batch"
	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// Distinctive secrets: if any piece of them shows up in an output, it
// leaked.
const (
	canaryAuthToken  = "AUTHTOKEN-canary-7f3a"
	canarySecretCode = "SECRET-canary-91bd"
)

func canaryCenToken() string {
	return client.CenToken(clienttest.DefaultAdmin, canaryAuthToken, canarySecretCode)
}

func canaryEnv(url string) map[string]string {
	return map[string]string{
		"CENTAGATE_URL":         url,
		"CENTAGATE_ADMIN":       clienttest.DefaultAdmin,
		"CENTAGATE_AUTH_TOKEN":  canaryAuthToken,
		"CENTAGATE_SECRET_CODE": canarySecretCode,
	}
}

// canaryOptions make the fake server expect the canary credentials.
func canaryOptions() clienttest.Options {
	return clienttest.Options{AuthToken: canaryAuthToken, SecretCode: canarySecretCode}
}

// assertNoSecrets fails if data holds any 12-byte piece of the auth token,
// the secret code or the cenToken, so that a secret cut short (a snippet of
// a request body, say) is found too.
func assertNoSecrets(t *testing.T, where string, data []byte) {
	t.Helper()
	const piece = 12
	for _, s := range []struct{ name, value string }{
		{"auth token", canaryAuthToken},
		{"secret code", canarySecretCode},
		{"cenToken", canaryCenToken()},
	} {
		for _, v := range []string{s.value, strings.ToUpper(s.value)} {
			for i := 0; i+piece <= len(v); i++ {
				if j := bytes.Index(data, []byte(v[i:i+piece])); j >= 0 {
					lo, hi := max(0, j-80), min(len(data), j+80)
					t.Errorf("%s holds the %s (%q) at byte %d: …%q…", where, s.name, v[i:i+piece], j, data[lo:hi])
					return
				}
			}
		}
	}
}

// leakRun runs tokenreg in dir and checks stdout, stderr and every file the
// run left in dir (result, summary, metrics, logs), except the input and
// any credentials file, for secrets. It returns the exit code and stderr.
func leakRun(t *testing.T, dir string, env map[string]string, args ...string) (int, string) {
	t.Helper()
	before := map[string]bool{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		before[e.Name()] = true
	}
	code, stdout, stderr := cli{env: env}.run(t, context.Background(), "", args...)
	assertNoSecrets(t, "stdout", []byte(stdout))
	assertNoSecrets(t, "stderr", []byte(stderr))
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if before[e.Name()] {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecrets(t, e.Name(), data)
	}
	return code, stderr
}

func canaryState() clienttest.State {
	return clienttest.State{
		Users:       []string{"alice", "bob", "carol", "dave", "erin"},
		Tokens:      []clienttest.Token{{Serial: "OTP1", Status: "deactivated"}, {Serial: "OTP2", Status: "active", Owner: "zed"}},
		PhonesInUse: []string{"+60100000099"},
		Failures:    []clienttest.Failure{{Username: "dave", Code: "6007"}, {Username: "erin", Code: "10003"}},
	}
}

// outputArgs are the flags that make a run write every output it can.
func outputArgs(dir string) []string {
	return []string{
		"--out", filepath.Join(dir, "result.csv"),
		"--summary", filepath.Join(dir, "summary.json"),
		"--metrics", filepath.Join(dir, "tokenreg.prom"),
		"--rate", "0", "-v",
	}
}

// TestSecretsNeverWritten runs the tool with known secrets through its
// successes, server failures, transport failures and credential mistakes,
// with debug logging on, and finds them in no output.
func TestSecretsNeverWritten(t *testing.T) {
	const okRows = "username,tokenSn,tokenType\nalice,OTP1,2\nbob,+60100000001,SMS\n"
	const failRows = "username,tokenSn,tokenType\n" +
		"zed,OTP1,2\n" + // 22002 user not found
		"bob,+60100000099,1\n" + // 29004 phone in use
		"carol,OTP9,2\n" + // 29001 token not found
		"alice,OTP2,2\n" + // 29017 bound to another user
		"dave,+60100000002,1\n" + // 6007 scripted
		"erin,+60100000003,1\n" // 10003 transient, every time

	type leakCase struct {
		name       string
		input      string
		opts       clienttest.Options
		args       []string
		want       int
		wantStderr []string
	}
	tests := []leakCase{
		{"success text log", okRows, canaryOptions(), []string{"--log-format", "text"}, exitOK, []string{"level=DEBUG", "status=ok"}},
		{"success json log", okRows, canaryOptions(), []string{"--log-format", "json"}, exitOK, []string{`"level":"DEBUG"`, `"status":"ok"`}},
		{"server codes text log", failRows, canaryOptions(), []string{"--attempts", "2", "--log-format", "text"}, exitNotAllOK, []string{"22002", "29004", "29001", "29017", "6007", "10003"}},
		{"server codes json log", failRows, canaryOptions(), []string{"--attempts", "2", "--log-format", "json"}, exitNotAllOK, []string{`"code":"22002"`, `"code":"10003"`}},
	}
	// Every transport fault on every attempt, the log format alternating.
	for i, f := range clienttest.AllFaults() {
		opts := canaryOptions()
		opts.Faults, opts.FaultRate, opts.Seed = []clienttest.Fault{f}, 1, 1
		format := []string{"text", "json"}[i%2]
		tests = append(tests, leakCase{"fault " + string(f), okRows, opts,
			[]string{"--attempts", "2", "--timeout", "500ms", "--log-format", format},
			exitNotAllOK, []string{"no valid answer after 2 attempt(s)"}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := clienttest.NewServer(canaryState(), tt.opts)
			defer s.Close()
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", tt.input)
			args := append(append([]string{"run", in}, outputArgs(dir)...), tt.args...)
			code, stderr := leakRun(t, dir, canaryEnv(s.URL), args...)
			if code != tt.want {
				t.Errorf("exit = %d, want %d; stderr:\n%s", code, tt.want, stderr)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, f := range []string{"result.csv", "summary.json", "tokenreg.prom"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("the run did not write %s: %v", f, err)
				}
			}
			if s.Stats().Requests == 0 {
				t.Error("the server saw no request: the secrets were never used")
			}
			if strings.HasPrefix(tt.name, "fault ") {
				// Every attempt met the fault: each row must end in error,
				// its message quoting what went wrong.
				for line, r := range readResults(t, filepath.Join(dir, "result.csv")) {
					if r.Status != report.StatusError {
						t.Errorf("line %d: %s %q, want error", line, r.Status, r.Message)
					}
				}
			}
		})
	}
}

// TestSecretsCircuitBreaker: the client signs with the canary secret, the
// server expects another one, answers 10002 to all, and the breaker stops
// the run (exit 3).
func TestSecretsCircuitBreaker(t *testing.T) {
	opts := canaryOptions()
	opts.SecretCode = "the-server-expects-this-one"
	s := clienttest.NewServer(canaryState(), opts)
	defer s.Close()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range 60 {
		fmt.Fprintf(&b, "alice,+6010%08d,1\n", i)
	}
	in := writeFile(t, dir, "in.csv", b.String())
	for _, format := range []string{"text", "json"} {
		sub := filepath.Join(dir, format)
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{"run", in}, outputArgs(sub)...), "--log-format", format)
		code, stderr := leakRun(t, sub, canaryEnv(s.URL), args...)
		if code != exitAborted || !strings.Contains(stderr, "10002") {
			t.Errorf("%s: exit = %d, want %d naming code 10002; stderr:\n%s", format, code, exitAborted, stderr)
		}
	}
}

// TestSecretsCredentialErrors: mistakes in the credentials are reported
// without their values.
func TestSecretsCredentialErrors(t *testing.T) {
	s := clienttest.NewServer(canaryState(), canaryOptions())
	defer s.Close()
	without := func(key string) map[string]string {
		env := canaryEnv(s.URL)
		delete(env, key)
		return env
	}
	credsFile := func(t *testing.T, dir, text string, mode os.FileMode) string {
		p := filepath.Join(dir, "creds")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodCreds := fmt.Sprintf("CENTAGATE_URL=%s\nCENTAGATE_ADMIN=%s\nCENTAGATE_AUTH_TOKEN=%s\nCENTAGATE_SECRET_CODE=%s\n",
		s.URL, clienttest.DefaultAdmin, canaryAuthToken, canarySecretCode)

	tests := []struct {
		name       string
		env        map[string]string
		creds      string // --credentials file content, if any
		mode       os.FileMode
		wantStderr string
	}{
		{"missing secret code", without("CENTAGATE_SECRET_CODE"), "", 0, "CENTAGATE_SECRET_CODE"},
		{"missing auth token", without("CENTAGATE_AUTH_TOKEN"), "", 0, "CENTAGATE_AUTH_TOKEN"},
		{"missing URL", without("CENTAGATE_URL"), "", 0, "CENTAGATE_URL"},
		{"password in URL", map[string]string{
			"CENTAGATE_URL":         strings.Replace(s.URL, "http://", "http://admin:"+canarySecretCode+"@", 1),
			"CENTAGATE_ADMIN":       clienttest.DefaultAdmin,
			"CENTAGATE_AUTH_TOKEN":  canaryAuthToken,
			"CENTAGATE_SECRET_CODE": canarySecretCode,
		}, "", 0, "must not carry a user or password"},
		{"world-readable file", map[string]string{}, goodCreds, 0o644, "chmod 600"},
		{"group-readable file", map[string]string{}, goodCreds, 0o640, "chmod 600"},
		{"line without =", map[string]string{}, "CENTAGATE_URL=" + s.URL + "\n" + canarySecretCode + "\n", 0o600, "line 2: want KEY=VALUE"},
		{"misspelt key", map[string]string{}, "CENTAGATE_SECRET=" + canarySecretCode + "\n", 0o600, `unknown key "CENTAGATE_SECRET"`},
		{"file lacks the secret", canaryEnv(""), "CENTAGATE_URL=" + s.URL + "\nCENTAGATE_AUTH_TOKEN=" + canaryAuthToken + "\nCENTAGATE_SECRET_CODE=\n", 0o600, "CENTAGATE_SECRET_CODE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", "username,tokenSn,tokenType\nalice,OTP1,2\n")
			args := append([]string{"run", in}, outputArgs(dir)...)
			if tt.creds != "" {
				args = append(args, "--credentials", credsFile(t, dir, tt.creds, tt.mode))
			}
			code, stderr := leakRun(t, dir, tt.env, args...)
			if code != exitUsage || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("exit = %d, want %d with %q; stderr:\n%s", code, exitUsage, tt.wantStderr, stderr)
			}
		})
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("server saw %d requests, want 0: a credentials error must stop the run before it starts", n)
	}
}

// TestSecretsCredentialsFileColonLine: a credentials file written in the
// style of a YAML or Kubernetes secret, "KEY: VALUE", with a base64 secret
// ending in "=" padding.
func TestSecretsCredentialsFileColonLine(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "username,tokenSn,tokenType\nalice,OTP1,2\n")
	creds := filepath.Join(dir, "creds")
	text := "CENTAGATE_URL=http://127.0.0.1:1/ws\nCENTAGATE_ADMIN=admin\nCENTAGATE_AUTH_TOKEN=" + canaryAuthToken + "\nCENTAGATE_SECRET_CODE: " + canarySecretCode + "==\n"
	if err := os.WriteFile(creds, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := leakRun(t, dir, map[string]string{}, "run", in, "--out", filepath.Join(dir, "r.csv"), "--credentials", creds)
	if code != exitUsage || !strings.Contains(stderr, "line 4") {
		t.Errorf("exit = %d, want %d naming line 4; stderr:\n%s", code, exitUsage, stderr)
	}
}

// TestSecretsEchoingServer: a server or proxy that answers with an error
// page quoting what it was sent ("Invalid cenToken <value>"). The tool
// quotes the start of an unusable body in the row's message; that quote
// must not carry the cenToken into the result file and the logs.
func TestSecretsEchoingServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ CenToken string }
		json.NewDecoder(r.Body).Decode(&req)
		http.Error(w, "Invalid cenToken "+req.CenToken, http.StatusBadRequest)
	}))
	defer srv.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "username,tokenSn,tokenType\nalice,OTP1,2\n")
	args := append(append([]string{"run", in}, outputArgs(dir)...), "--attempts", "1")
	code, stderr := leakRun(t, dir, canaryEnv(srv.URL+"/ws"), args...)
	if code != exitNotAllOK {
		t.Errorf("exit = %d, want %d; stderr:\n%s", code, exitNotAllOK, stderr)
	}
}

// panicky is a Registrar that sends the first row with a real client and
// panics on the others, with the credentials in the panic value as a
// careless bug would put them there.
type panicky struct {
	c     *client.Client
	creds client.Credentials
	calls chan struct{}
}

func (p *panicky) Register(ctx context.Context, r client.Registration) (client.Response, error) {
	select {
	case p.calls <- struct{}{}:
		return p.c.Register(ctx, r)
	default:
		panic(fmt.Sprintf("unexpected state for %s: %v %+v %#v", r.Username, p.creds, p.creds, p.creds))
	}
}

// TestSecretsPanicRecovery: batch turns a worker's panic into an error row
// and logs it with its stack. A panic cannot be provoked through the
// command line (the Registrar is always the real client), so this drives
// batch.Run directly, as runBatch wires it, with a Registrar that panics.
func TestSecretsPanicRecovery(t *testing.T) {
	s := clienttest.NewServer(canaryState(), canaryOptions())
	defer s.Close()
	creds := client.Credentials{URL: s.URL, Admin: clienttest.DefaultAdmin, AuthToken: canaryAuthToken, SecretCode: canarySecretCode}
	c, err := client.New(client.Config{Credentials: creds, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	reg := &panicky{c: c, creds: creds, calls: make(chan struct{}, 1)}

	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			const input = "username,tokenSn,tokenType\nalice,OTP1,2\nbob,+60100000001,1\ncarol,+60100000002,1\n"
			rd, err := batch.NewReader("in.csv", strings.NewReader(input), batch.ReaderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var logs, result bytes.Buffer
			logger, err := newLogger(&logs, format, true)
			if err != nil {
				t.Fatal(err)
			}
			w := report.NewWriter(&result)
			if err := w.WriteHeader(); err != nil {
				t.Fatal(err)
			}
			sum := report.NewSummary(time.Now())
			cfg := batch.Config{Registrar: reg, Workers: 1, Attempts: 1, AbortAfter: 20, Logger: logger, Verbose: true}
			_, runErr := batch.Run(context.Background(), rd, w, sum, cfg)
			if runErr != nil {
				t.Fatalf("Run = %v, want nil: a panic is one row's error", runErr)
			}
			sum.Finish(time.Now())
			var text bytes.Buffer
			sum.WriteText(&text)
			js, err := sum.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if sum.Count(report.StatusError) != 2 || !strings.Contains(logs.String(), "internal error") {
				t.Errorf("want two error rows and the panic logged; result:\n%s\nlogs:\n%s", result.String(), logs.String())
			}
			assertNoSecrets(t, "log", logs.Bytes())
			assertNoSecrets(t, "result", result.Bytes())
			assertNoSecrets(t, "summary", text.Bytes())
			assertNoSecrets(t, "summary JSON", js)
		})
		// The next subtest's first row is sent again.
		reg.calls = make(chan struct{}, 1)
	}
	if n := s.Stats().Requests; n != 2 {
		t.Errorf("server saw %d requests, want 2 (the first row of each run)", n)
	}
}
