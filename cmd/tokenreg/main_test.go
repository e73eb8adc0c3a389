package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cli runs the program with buffers and an environment map.
type cli struct {
	env      map[string]string
	terminal bool
}

func (c cli) run(t *testing.T, ctx context.Context, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := environ{
		getenv:     func(k string) string { return c.env[k] },
		isTerminal: func(io.Writer) bool { return c.terminal },
	}
	code = run(ctx, args, strings.NewReader(stdin), &out, &errb, env)
	return code, out.String(), errb.String()
}

func demoEnv(url string) map[string]string {
	return map[string]string{
		"CENTAGATE_URL":         url,
		"CENTAGATE_ADMIN":       clienttest.DefaultAdmin,
		"CENTAGATE_AUTH_TOKEN":  clienttest.DefaultAuthToken,
		"CENTAGATE_SECRET_CODE": clienttest.DefaultSecretCode,
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readResults(t *testing.T, path string) map[int]report.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rr, err := report.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]report.Result{}
	for {
		r, err := rr.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := out[r.Line]; dup {
			t.Fatalf("line %d has two result rows", r.Line)
		}
		out[r.Line] = r
	}
}

func testState() clienttest.State {
	return clienttest.State{
		Users:       []string{"alice", "bob", "carol"},
		Tokens:      []clienttest.Token{{Serial: "OTP1", Status: "deactivated"}, {Serial: "OTP2", Status: "deactivated"}},
		PhonesInUse: []string{"+60100000099"},
	}
}

const okInput = "username,tokenSn,tokenType\nalice,OTP1,2\nbob,+60100000001,SMS\n"

func TestExitCodes(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	okFile := writeFile(t, dir, "ok.csv", okInput)
	mixed := writeFile(t, dir, "mixed.csv", "username,tokenSn,tokenType\ncarol,OTP2,2\nbob,+60100000099,1\nbob,12,1\n")
	broken := writeFile(t, dir, "broken.csv", "username,tokenSn,tokenType\ncarol,\"OTP2,2\n")
	// A result that exists before the test: no case depends on another
	// having run first.
	existing := writeFile(t, dir, "existing.csv", strings.Join(report.Header(), ",")+"\n")
	c := cli{env: demoEnv(s.URL)}

	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		want       int
		wantStderr string
	}{
		{"no arguments", nil, nil, exitUsage, "Usage:"},
		{"unknown command", nil, []string{"frobnicate"}, exitUsage, "unknown command"},
		{"all ok", nil, []string{"run", okFile, "--out", filepath.Join(dir, "ok.result.csv"), "--rate", "0"}, exitOK, "ok"},
		{"some failed", nil, []string{"run", mixed, "--out", filepath.Join(dir, "mixed.result.csv"), "--rate", "0"}, exitNotAllOK, "29004"},
		{"existing result refused", nil, []string{"run", okFile, "--out", existing, "--rate", "0"}, exitUsage, "already exists: use --resume"},
		{"unterminated quote", nil, []string{"run", broken, "--out", filepath.Join(dir, "b.csv")}, exitUsage, "line 2"},
		{"missing file", nil, []string{"run", filepath.Join(dir, "nope.csv")}, exitUsage, "no such file"},
		{"missing secrets", map[string]string{"CENTAGATE_URL": s.URL, "CENTAGATE_ADMIN": "admin"}, []string{"run", okFile, "--out", filepath.Join(dir, "x.csv")}, exitUsage, "CENTAGATE_AUTH_TOKEN"},
		{"plain http refused", map[string]string{"CENTAGATE_URL": "http://mfa.example.com/ws", "CENTAGATE_ADMIN": "a", "CENTAGATE_AUTH_TOKEN": "t", "CENTAGATE_SECRET_CODE": "s"}, []string{"run", okFile, "--out", filepath.Join(dir, "y.csv")}, exitUsage, "refusing plain http://"},
		{"bad flag", nil, []string{"run", okFile, "--rate", "fast"}, exitUsage, "invalid value"},
		{"two inputs", nil, []string{"run", okFile, mixed}, exitUsage, "one input file"},
		{"bad shard", nil, []string{"run", okFile, "--shard", "3/3"}, exitUsage, "0 ≤ K < N"},
		{"validate invalid", nil, []string{"validate", mixed}, exitNotAllOK, ""},
		{"validate ok", nil, []string{"validate", okFile}, exitOK, ""},
		{"version", nil, []string{"version"}, exitOK, ""},
		{"help run", nil, []string{"help", "run"}, exitOK, ""},
		{"help unknown", nil, []string{"help", "frobnicate"}, exitUsage, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := c
			if tt.env != nil {
				cc.env = tt.env
			}
			before := s.Stats().Requests
			code, _, stderr := cc.run(t, context.Background(), "", tt.args...)
			if code != tt.want {
				t.Errorf("exit = %d, want %d; stderr:\n%s", code, tt.want, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr)
			}
			if n := s.Stats().Requests - before; tt.want == exitUsage && n != 0 {
				t.Errorf("server saw %d requests, want none: a usage or input error (a broken file) sends nothing", n)
			}
		})
	}
}

func TestWrongSecretAborts(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range 100 {
		fmt.Fprintf(&b, "alice,+6010%08d,1\n", i)
	}
	in := writeFile(t, dir, "in.csv", b.String())
	env := demoEnv(s.URL)
	env["CENTAGATE_SECRET_CODE"] = "not-the-secret"
	code, _, stderr := cli{env: env}.run(t, context.Background(), "", "run", in, "--rate", "0")
	if code != exitAborted {
		t.Fatalf("exit = %d, want %d; stderr:\n%s", code, exitAborted, stderr)
	}
	if !strings.Contains(stderr, "10002") || strings.Contains(stderr, "not-the-secret") {
		t.Errorf("stderr should name code 10002 and never the secret:\n%s", stderr)
	}
	// batch says what the breaker saw; the command says what to do.
	if !strings.Contains(stderr, "check CENTAGATE_URL, CENTAGATE_ADMIN and the secrets") || !strings.Contains(stderr, "then run the same command with --resume") {
		t.Errorf("stderr should say to check the settings, then --resume:\n%s", stderr)
	}
}

func TestResumeForceAndSummary(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", okInput)
	out := filepath.Join(dir, "in.result.csv")
	c := cli{env: demoEnv(s.URL)}
	sumFile := filepath.Join(dir, "summary.json")
	metrics := filepath.Join(dir, "tokenreg.prom")
	if code, _, stderr := c.run(t, context.Background(), "", "run", in, "--summary", sumFile, "--metrics", metrics); code != exitOK {
		t.Fatalf("first run exit %d:\n%s", code, stderr)
	}
	if got := readResults(t, out); len(got) != 2 {
		t.Fatalf("result has %d rows, want 2", len(got))
	}
	var sum map[string]any
	data, err := os.ReadFile(sumFile)
	if err != nil || json.Unmarshal(data, &sum) != nil {
		t.Fatalf("summary %s: %v %s", sumFile, err, data)
	}
	if sum["rows"] != float64(2) || sum["exit_code"] != float64(0) {
		t.Errorf("summary = %s, want rows 2 and exit_code 0", data)
	}
	if m, err := os.ReadFile(metrics); err != nil || !strings.Contains(string(m), "tokenreg_rows") {
		t.Errorf("metrics file: %v\n%s", err, m)
	}
	before := s.Stats().Requests
	// A torn last line, as a crash mid-write leaves it.
	f, _ := os.OpenFile(out, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("3,bob,+601000")
	f.Close()
	if code, _, stderr := c.run(t, context.Background(), "", "run", in, "--resume"); code != exitOK {
		t.Fatalf("resume exit %d:\n%s", code, stderr)
	}
	if got := readResults(t, out); len(got) != 2 {
		t.Errorf("after resume the result has %d rows, want 2", len(got))
	}
	if n := s.Stats().Requests; n != before {
		t.Errorf("resume sent %d requests, want 0 (every row was decided)", n-before)
	}
	if code, _, stderr := c.run(t, context.Background(), "", "run", in, "--force"); code != exitNotAllOK {
		t.Fatalf("--force exit %d, want 1 (the tokens are registered by now):\n%s", code, stderr)
	}
}

func TestRetryOnlyFailedRows(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "username,tokenSn,tokenType\nalice,OTP1,2\nbob,+60100000099,1\ncarol,=cmd,2\n")
	c := cli{env: demoEnv(s.URL)}
	if code, _, stderr := c.run(t, context.Background(), "", "run", in); code != exitNotAllOK {
		t.Fatalf("run exit %d:\n%s", code, stderr)
	}
	res := filepath.Join(dir, "in.result.csv")
	raw, _ := os.ReadFile(res)
	if !strings.Contains(string(raw), "'=cmd") {
		t.Errorf("result does not guard the formula cell:\n%s", raw)
	}
	before := s.Stats().Requests
	code, _, stderr := c.run(t, context.Background(), "", "retry", res, "--codes", "29004,29001")
	if code != exitNotAllOK {
		t.Fatalf("retry exit %d:\n%s", code, stderr)
	}
	got := readResults(t, filepath.Join(dir, "in.result.retry.csv"))
	if len(got) != 2 {
		t.Fatalf("retry wrote %d rows, want 2 (the 29004 and the 29001 rows)", len(got))
	}
	for _, r := range got {
		if r.Username == "carol" && r.TokenSn != "=cmd" {
			t.Errorf("retry read the guarded cell as %q, want =cmd", r.TokenSn)
		}
	}
	if n := s.Stats().Requests - before; n != 2 {
		t.Errorf("retry sent %d requests, want 2", n)
	}
}

func TestCredentialsFile(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", okInput)
	creds := filepath.Join(dir, "creds")
	text := fmt.Sprintf("# tokenreg\nCENTAGATE_URL=%s\nCENTAGATE_ADMIN=%s\nCENTAGATE_AUTH_TOKEN=%s\nCENTAGATE_SECRET_CODE=\"%s\"\n",
		s.URL, clienttest.DefaultAdmin, clienttest.DefaultAuthToken, clienttest.DefaultSecretCode)
	if err := os.WriteFile(creds, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c := cli{env: map[string]string{}}
	code, _, stderr := c.run(t, context.Background(), "", "run", in, "--credentials", creds)
	if code != exitUsage || !strings.Contains(stderr, "chmod 600 "+creds) {
		t.Fatalf("world-readable credentials: exit %d, want 2 with the chmod to run:\n%s", code, stderr)
	}
	if strings.Contains(stderr, clienttest.DefaultSecretCode) {
		t.Errorf("stderr echoes the secret:\n%s", stderr)
	}
	os.Chmod(creds, 0o600)
	if code, _, stderr := c.run(t, context.Background(), "", "run", in, "--credentials", creds); code != exitOK {
		t.Fatalf("credentials file: exit %d:\n%s", code, stderr)
	}
}

func TestInterruptedExit130(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", okInput)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, ctx, "", "run", in)
	if code != exitInterrupted || !strings.Contains(stderr, "--resume") {
		t.Fatalf("exit %d, want 130 with a hint to --resume:\n%s", code, stderr)
	}
}

func TestStdinAndNoProgressWhenNotTerminal(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "r.csv")
	code, stdout, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), okInput, "run", "-", "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing (it may carry CSV)", stdout)
	}
	if strings.Contains(stderr, "\r") || strings.Contains(stderr, "it/s") {
		t.Errorf("stderr has a progress bar although it is not a terminal:\n%q", stderr)
	}
	if got := readResults(t, out); len(got) != 2 {
		t.Errorf("result has %d rows, want 2", len(got))
	}
}
