package report

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// WriteMetrics writes the run's metrics in the Prometheus text format to
// path, for the node_exporter textfile collector (--metrics, SPEC §3). The
// file is replaced with WriteFileAtomic, mode 0644 so that node_exporter
// (another user) can read it; the temporary file's name starts with a dot
// and does not end in .prom, so the collector never reads half a file.
// Call it after s.Finish.
//
// The file carries no free text: no server message, and a code label only
// for an integer code (SPEC §1); the rows of any other code (one read back
// from an old result file, or OtherCode) are counted under code="other".
//
// Every metric carries the label job=<job> ("tokenreg" if job is empty), so
// several cron jobs can share a textfile directory. Prometheus renames it
// exported_job on scrape unless the scrape config sets honor_labels.
//
//	tokenreg_rows{status}                      rows by status (the five run statuses always, others when seen)
//	tokenreg_rows_by_code{code}                rows by server code (integer codes; "other")
//	tokenreg_duration_seconds                  the run's elapsed time
//	tokenreg_rate_per_second                   achieved rate over the rows sent
//	tokenreg_last_run_timestamp_seconds        when the run finished, whatever its end (the last completion)
//	tokenreg_last_success_timestamp_seconds    when the run finished, if it ran to the end: exit 0 or 1 (absent otherwise)
//	tokenreg_exit_code                         the run's exit code
//
// A run "succeeds" when it gave every row a result (exit 0 or 1): rows that
// are not ok are the result file's business and the rows gauge's, so that a
// nightly run whose inventory holds one bad row still shows it ran.
func WriteMetrics(path string, s *Summary, job string) error {
	if job == "" {
		job = "tokenreg"
	}
	reg, err := s.Metrics(prometheus.Labels{"job": job})
	if err != nil {
		return err
	}
	return writeTextfile(path, reg)
}

// Succeeded reports whether a run that ended with this exit code ran to the
// end (SPEC §5: 0, or 1 with some rows not ok): what
// tokenreg_last_success_timestamp_seconds records.
func Succeeded(exitCode int) bool { return exitCode == 0 || exitCode == 1 }

// Metrics returns a new registry that holds the run's metrics (those listed
// at WriteMetrics) as gauges with the given constant labels, for
// WriteMetrics and for a push to a Pushgateway (which adds the job label
// itself). Call it after s.Finish.
func (s *Summary) Metrics(labels prometheus.Labels) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	// Register, not MustRegister: a job name that is not valid UTF-8 is
	// the operator's error, not a reason to panic.
	var err error
	gauge := func(name, help string, v float64) {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels})
		g.Set(v)
		if e := reg.Register(g); e != nil && err == nil {
			err = e
		}
	}
	gaugeVec := func(name, help, label string, values map[string]float64) {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: labels}, []string{label})
		for lv, v := range values {
			m, e := g.GetMetricWithLabelValues(lv)
			if e != nil {
				if err == nil {
					err = e
				}
				continue
			}
			m.Set(v)
		}
		if e := reg.Register(g); e != nil && err == nil {
			err = e
		}
	}

	rows := make(map[string]float64)
	for _, st := range runStatuses {
		rows[string(st)] = 0
	}
	for st, n := range s.byStatus {
		rows[string(st)] += float64(n)
	}
	gaugeVec("tokenreg_rows", "Rows of the last run by status.", "status", rows)
	byCode := make(map[string]float64)
	for code, c := range s.byCode {
		if !isIntegerCode(code) {
			// A code read back from an old result file could be any
			// bytes: never free text in a label.
			code = OtherCode
		}
		byCode[code] += float64(c.Count)
	}
	gaugeVec("tokenreg_rows_by_code", "Rows of the last run by the server's answer code.", "code", byCode)
	gauge("tokenreg_duration_seconds", "Elapsed time of the last run.", s.Elapsed().Seconds())
	gauge("tokenreg_rate_per_second", "Achieved rate of the last run over the rows sent.", s.Rate())
	gauge("tokenreg_last_run_timestamp_seconds", "When the last run finished, whatever its end, in Unix seconds.", unixSeconds(s.end))
	if Succeeded(s.ExitCode) {
		gauge("tokenreg_last_success_timestamp_seconds", "When the last run that gave every row a result (exit 0 or 1) finished, in Unix seconds.", unixSeconds(s.end))
	}
	gauge("tokenreg_exit_code", "Exit code of the last run.", float64(s.ExitCode))
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	return reg, nil
}

// writeTextfile writes g's metrics in the text format to path with
// WriteFileAtomic, mode 0644. It replaces prometheus.WriteToTextfile, which
// sets the mode by name after closing the file (a window in which a link
// planted at the temporary name would make it chmod another file) and never
// syncs.
func writeTextfile(path string, g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return WriteFileAtomic(path, buf.Bytes(), 0o644)
}

// isIntegerCode reports whether code is an optional '-' and 1 to 18 ASCII
// digits, the only codes the client accepts from a server.
func isIntegerCode(code string) bool {
	digits := strings.TrimPrefix(code, "-")
	if digits == "" || len(digits) > 18 {
		return false
	}
	return allDigits(digits)
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixMilli()) / 1e3
}
