package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/tokenreg/tokenreg/client/clienttest"
)

// pushRecorder records what reaches a Pushgateway's push API. The real
// Pushgateway's handling (POST keeps the families a push leaves out) is
// checked by scripts/e2e-pushgateway.sh against Debian's prometheus-pushgateway.
type pushRecorder struct {
	mu     sync.Mutex
	pushes []recordedPush
}

type recordedPush struct {
	method, path string
	families     map[string]*dto.MetricFamily
}

func (p *pushRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fams := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(r.Body, expfmt.ResponseFormat(r.Header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			if !errors.Is(err, io.EOF) {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			break
		}
		fams[mf.GetName()] = &mf
	}
	p.mu.Lock()
	p.pushes = append(p.pushes, recordedPush{r.Method, r.URL.EscapedPath(), fams})
	p.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (p *pushRecorder) last(t *testing.T) recordedPush {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pushes) == 0 {
		t.Fatal("nothing was pushed")
	}
	return p.pushes[len(p.pushes)-1]
}

// value is the gauge of name with the given label (or none), and whether it was pushed.
func (r recordedPush) value(t *testing.T, name, label, value string) (float64, bool) {
	t.Helper()
	mf, ok := r.families[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		for _, lp := range m.GetLabel() {
			if n := lp.GetName(); n == "job" || n == "instance" || n == "shard" {
				t.Errorf("%s carries the label %s=%q: the grouping key says it", name, n, lp.GetValue())
			}
		}
		if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetName() == label && m.GetLabel()[0].GetValue() == value) {
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestPushgateway(t *testing.T) {
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	rec := &pushRecorder{}
	pgw := httptest.NewServer(rec)
	defer pgw.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", "username,tokenSn,tokenType\nalice,OTP1,2\nbob,+60100000001,SMS\nbob,+60100000099,SMS\n")

	// A finished run (exit 1: one row failed) is a success for the
	// Pushgateway: it pushes the time of its end as the last success.
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--out", filepath.Join(dir, "a.csv"), "--rate", "0", "--pushgateway", pgw.URL)
	if code != exitNotAllOK {
		t.Fatalf("run exited %d, want 1: %s", code, stderr)
	}
	p := rec.last(t)
	if p.method != http.MethodPost || p.path != "/metrics/job/tokenreg" {
		t.Errorf("pushed with %s %s, want POST /metrics/job/tokenreg (Add: keep the families a push leaves out)", p.method, p.path)
	}
	for _, c := range []struct {
		name, label, value string
		want               float64
	}{
		{"tokenreg_rows", "status", "ok", 2},
		{"tokenreg_rows", "status", "failed", 1},
		{"tokenreg_rows_by_code", "code", "29004", 1},
		{"tokenreg_exit_code", "", "", 1},
	} {
		if got, ok := p.value(t, c.name, c.label, c.value); !ok || got != c.want {
			t.Errorf("pushed %s{%s=%q} = %v (present %v), want %v", c.name, c.label, c.value, got, ok, c.want)
		}
	}
	end, ok1 := p.value(t, "tokenreg_last_run_timestamp_seconds", "", "")
	success, ok2 := p.value(t, "tokenreg_last_success_timestamp_seconds", "", "")
	if !ok1 || !ok2 || end == 0 || success != end {
		t.Errorf("last run %v (%v), last success %v (%v): want both, equal, for a finished run", end, ok1, success, ok2)
	}

	// A run the breaker stops (exit 3) pushes its end and exit code but
	// no last success, and a shard pushes to its own group.
	bad := demoEnv(s.URL)
	bad["CENTAGATE_SECRET_CODE"] = "wrong"
	var rows strings.Builder
	rows.WriteString("username,tokenSn,tokenType\n")
	for i := range 30 {
		rows.WriteString("alice,+6010000" + string(rune('1'+i%9)) + "00" + string(rune('0'+i/9)) + "0,SMS\n")
	}
	in2 := writeFile(t, dir, "in2.csv", rows.String())
	code, _, stderr = cli{env: bad}.run(t, context.Background(), "", "run", in2, "--out", filepath.Join(dir, "b.csv"), "--rate", "0", "--workers", "1", "--shard", "0/1", "--pushgateway", pgw.URL+"/")
	if code != exitAborted {
		t.Fatalf("run with a wrong secret exited %d, want 3: %s", code, stderr)
	}
	p = rec.last(t)
	if _, ok := p.value(t, "tokenreg_last_success_timestamp_seconds", "", ""); ok {
		t.Errorf("a run that exited 3 pushed tokenreg_last_success_timestamp_seconds: it would hide that nothing succeeded")
	}
	if got, ok := p.value(t, "tokenreg_exit_code", "", ""); !ok || got != 3 {
		t.Errorf("pushed tokenreg_exit_code = %v (present %v), want 3", got, ok)
	}

	code, _, stderr = cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--out", filepath.Join(dir, "c.csv"), "--rate", "0", "--shard", "1/3", "--pushgateway", pgw.URL)
	if code != exitOK && code != exitNotAllOK {
		t.Fatalf("shard run exited %d: %s", code, stderr)
	}
	if p := rec.last(t); p.path != "/metrics/job/tokenreg/shard@base64/MS8z" {
		t.Errorf("shard 1/3 pushed to %s, want its own group /metrics/job/tokenreg/shard@base64/MS8z (shard=1/3)", p.path)
	}
}

func TestPushgatewayFlag(t *testing.T) {
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", okInput)
	for _, tc := range []struct{ url, want string }{
		{"pushgateway:9091", "want http:// or https://"},
		{"http://user:hunter2@pgw:9091", "holds credentials"},
		{"http:///metrics", "has no host"},
	} {
		code, _, stderr := cli{env: demoEnv("http://127.0.0.1:1")}.run(t, context.Background(), "", "run", in, "--out", filepath.Join(dir, "x.csv"), "--pushgateway", tc.url)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("--pushgateway %s: exit %d, stderr %q; want 2 and %q", tc.url, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "hunter2") {
			t.Errorf("--pushgateway %s: the password reached stderr: %q", tc.url, stderr)
		}
	}

	// A Pushgateway that refuses the push: logged, the run's exit code stands.
	s := clienttest.NewServer(testState(), clienttest.Options{})
	defer s.Close()
	pgw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", http.StatusInternalServerError) }))
	defer pgw.Close()
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--out", filepath.Join(dir, "y.csv"), "--rate", "0", "--pushgateway", pgw.URL)
	if code != exitOK || !strings.Contains(stderr, "were not pushed") {
		t.Errorf("refused push: exit %d, stderr %q; want 0 and the push logged as failed", code, stderr)
	}
}
