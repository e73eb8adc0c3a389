package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// benchInput returns a CSV of n SMS rows, one per user, every number new.
func benchInput(n int) []byte {
	var buf bytes.Buffer
	buf.Grow(40 * (n + 1))
	buf.WriteString("username,tokenSn,tokenType\n")
	for i := range n {
		fmt.Fprintf(&buf, "user%07d,+6010%08d,SMS\n", i, i)
	}
	return buf.Bytes()
}

func benchUsers(n int) []string {
	us := make([]string, n)
	for i := range us {
		us[i] = fmt.Sprintf("user%07d", i)
	}
	return us
}

// BenchmarkReader measures the input stage alone (CSV, validation) over an
// in-memory 100,000-row file: rows/s, ns/row and allocs/row.
func BenchmarkReader(b *testing.B) {
	const rows = 100_000
	in := benchInput(rows)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for range b.N {
		rd, err := NewReader("bench.csv", bytes.NewReader(in), ReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			row, err := rd.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if row.Problem != "" {
				b.Fatalf("line %d: %s", row.Line, row.Problem)
			}
			n++
		}
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	total := float64(rows) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/row")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/total, "allocs/row")
}

// BenchmarkPipeline measures a whole Run of b.N rows against an in-process
// clienttest.Server on loopback, unpaced, with 8 workers, writing the result
// CSV to memory: rows/s of the pipeline and the fake server together (both
// share the CPUs).
func BenchmarkPipeline(b *testing.B) {
	b.ReportAllocs()
	benchRun(b, Config{Rate: 0, Workers: 8}, nil)
}

// benchRun runs b.N new SMS rows through Run with cfg (its Registrar a
// client of a fresh in-process server) and checks every one ended ok;
// after, if not nil, runs before the clock stops (closing a ledger, say).
// It reports rows/s and the process's CPU time a row, the server's
// included.
func benchRun(b *testing.B, cfg Config, after func() error) {
	in := benchInput(b.N)
	s := clienttest.NewServer(clienttest.State{Users: benchUsers(b.N)}, clienttest.Options{})
	defer s.Close()
	c, err := client.New(client.Config{
		Credentials: client.Credentials{URL: s.URL, Admin: clienttest.DefaultAdmin, AuthToken: clienttest.DefaultAuthToken, SecretCode: clienttest.DefaultSecretCode},
		Timeout:     15 * time.Second, Conns: 8,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseIdleConnections()
	cfg.Registrar = c
	rd, err := NewReader("bench.csv", bytes.NewReader(in), ReaderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	out.Grow(100 * (b.N + 1))
	w := report.NewWriter(&out)
	if err := w.WriteHeader(); err != nil {
		b.Fatal(err)
	}
	sum := report.NewSummary(time.Now())
	cpu0 := processCPU()
	b.ResetTimer()
	_, err = Run(context.Background(), rd, w, sum, cfg)
	if after != nil {
		if aerr := after(); aerr != nil {
			b.Fatal(aerr)
		}
	}
	b.StopTimer()
	if err != nil {
		b.Fatalf("Run = %v", err)
	}
	if got := sum.Count(report.StatusOK); got != b.N {
		b.Fatalf("%d rows ok, want %d", got, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/row")
}

// BenchmarkValidate measures what `tokenreg validate` does with a
// 100,000-row file: the pre-pass that counts the rows, then a dry Run that
// checks every row (CSV, values, duplicates, in-file conflicts) and writes
// its result row to a file: rows/s, ns/row and allocs/row.
func BenchmarkValidate(b *testing.B) {
	const rows = 100_000
	in := benchInput(rows)
	out, err := os.Create(filepath.Join(b.TempDir(), "validate.result.csv"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for range b.N {
		rd, err := NewReader("bench.csv", bytes.NewReader(in), ReaderOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n, err := rd.Count()
		if err != nil || n != rows {
			b.Fatalf("Count = %d, %v; want %d", n, err, rows)
		}
		if rd, err = NewReader("bench.csv", bytes.NewReader(in), ReaderOptions{}); err != nil {
			b.Fatal(err)
		}
		if _, err := out.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		w := report.NewWriter(out)
		if err := w.WriteHeader(); err != nil {
			b.Fatal(err)
		}
		sum := report.NewSummary(time.Now())
		if _, err := Run(context.Background(), rd, w, sum, Config{DryRun: true, Rows: n}); err != nil {
			b.Fatalf("Run = %v", err)
		}
		if got := sum.Count(report.StatusValid); got != rows {
			b.Fatalf("%d rows valid, want %d", got, rows)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	total := float64(rows) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/total, "ns/row")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/total, "allocs/row")
}
