package report

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// readMetrics parses a textfile-collector file into name -> label set -> value.
func readMetrics(t *testing.T, path string) map[string]map[string]float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	out := make(map[string]map[string]float64)
	for name, mf := range mfs {
		if mf.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s is a %v, want a gauge", name, mf.GetType())
		}
		out[name] = make(map[string]float64)
		for _, m := range mf.GetMetric() {
			key := ""
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "job" {
					if lp.GetValue() != "nightly" {
						t.Errorf("%s has job=%q, want nightly", name, lp.GetValue())
					}
					continue
				}
				key += lp.GetName() + "=" + lp.GetValue()
			}
			out[name][key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestWriteMetrics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokenreg.prom")
	s := newTestSummary()
	if err := WriteMetrics(path, s, "nightly"); err != nil {
		t.Fatalf("WriteMetrics: %v", err)
	}
	got := readMetrics(t, path)
	end := float64(start.Add(10 * time.Second).Unix())
	want := map[string]map[string]float64{
		"tokenreg_rows":                           {"status=ok": 2, "status=failed": 2, "status=error": 1, "status=invalid": 1, "status=skipped": 1},
		"tokenreg_rows_by_code":                   {"code=0": 2, "code=29008": 2},
		"tokenreg_duration_seconds":               {"": 10},
		"tokenreg_rate_per_second":                {"": 0.4},
		"tokenreg_last_run_timestamp_seconds":     {"": end},
		"tokenreg_last_success_timestamp_seconds": {"": end},
		"tokenreg_exit_code":                      {"": 1},
	}
	if len(got) != len(want) {
		t.Errorf("metrics %v, want %d families", got, len(want))
	}
	for name, series := range want {
		for labels, v := range series {
			if g, ok := got[name][labels]; !ok || g != v {
				t.Errorf("%s{%s} = %v (present %v), want %v", name, labels, g, ok, v)
			}
		}
		if len(got[name]) != len(series) {
			t.Errorf("%s has series %v, want %v", name, got[name], series)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the .prom file", len(entries))
	}
}

func TestWriteMetricsNoSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokenreg.prom")
	s := NewSummary(start)
	s.Add(Result{Status: StatusError, Message: "connection refused", Attempts: 5})
	s.ExitCode = 3
	s.Finish(start.Add(time.Minute))
	if err := WriteMetrics(path, s, "nightly"); err != nil {
		t.Fatal(err)
	}
	got := readMetrics(t, path)
	if _, ok := got["tokenreg_last_success_timestamp_seconds"]; ok {
		t.Errorf("tokenreg_last_success_timestamp_seconds written for a run that ended with exit 3")
	}
	if got, want := got["tokenreg_rows"]["status=ok"], 0.0; got != want {
		t.Errorf("tokenreg_rows{status=ok} = %v, want %v", got, want)
	}
	if got, want := got["tokenreg_exit_code"][""], 3.0; got != want {
		t.Errorf("tokenreg_exit_code = %v, want %v", got, want)
	}
}

func TestWriteMetricsDefaultJob(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.prom")
	s := NewSummary(start)
	s.Finish(start)
	if err := WriteMetrics(path, s, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := `tokenreg_exit_code{job="tokenreg"} 0`; !strings.Contains(string(b), want) {
		t.Errorf("metrics file\n%s\nlacks %s", b, want)
	}
}

func TestWriteMetricsOddLabels(t *testing.T) {
	dir := t.TempDir()
	s := NewSummary(start)
	s.Add(Result{Status: StatusFailed, Code: "\xff\xfe", Message: "garbage", Attempts: 1})
	s.Finish(start)
	if err := WriteMetrics(filepath.Join(dir, "a.prom"), s, "nightly"); err != nil {
		t.Errorf("WriteMetrics with a code that is not UTF-8 = %v, want it written", err)
	}
	if err := WriteMetrics(filepath.Join(dir, "b.prom"), s, "bad\xff"); err == nil {
		t.Errorf("WriteMetrics with a job that is not UTF-8 = nil, want an error")
	}
	if _, err := os.Stat(filepath.Join(dir, "b.prom")); !os.IsNotExist(err) {
		t.Errorf("b.prom exists after a failed WriteMetrics (%v)", err)
	}
}

// TestWriteMetricsNoFreeText: the metrics file (0644, read by node_exporter)
// carries no server message and a code label only for an integer code.
func TestWriteMetricsNoFreeText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokenreg.prom")
	s := NewSummary(start)
	s.Add(Result{Status: StatusFailed, Code: "29004", Message: "Phone number +60123456789 had been used by alice", Attempts: 1})
	s.Add(Result{Status: StatusFailed, Code: "-1", Message: "m", Attempts: 1})
	s.Add(Result{Status: StatusFailed, Code: "E95156D009B369EAE824AA2292B71553", Message: "m", Attempts: 1})
	s.Add(Result{Status: StatusFailed, Code: "1\x1b[2J\u202e", Message: "m", Attempts: 1})
	s.Aborted = "breaker: Invalid cenToken"
	s.Finish(start)
	if err := WriteMetrics(path, s, "nightly"); err != nil {
		t.Fatal(err)
	}
	got := readMetrics(t, path)
	want := map[string]float64{"code=29004": 1, "code=-1": 1, "code=other": 2}
	if len(got["tokenreg_rows_by_code"]) != len(want) {
		t.Errorf("tokenreg_rows_by_code = %v, want %v", got["tokenreg_rows_by_code"], want)
	}
	for k, v := range want {
		if got["tokenreg_rows_by_code"][k] != v {
			t.Errorf("tokenreg_rows_by_code{%s} = %v, want %v", k, got["tokenreg_rows_by_code"][k], v)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, free := range []string{"Phone", "alice", "60123456789", "E95156D0", "cenToken", "\x1b", "\u202e"} {
		if strings.Contains(string(b), free) {
			t.Errorf("metrics file holds %q:\n%s", free, b)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 && runtime.GOOS != "windows" { // no mode bits there
		t.Errorf("metrics file mode %04o, want 0644 (node_exporter reads it)", fi.Mode().Perm())
	}
}
