//go:build unix

package batch

import (
	"bytes"
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/ledger"
	"github.com/tokenreg/tokenreg/report"
)

// BenchmarkPipelineLedger is BenchmarkPipeline at the default workers,
// without and with a fresh --ledger: the process's CPU time per row (user
// and system, the in-process server's included) shows what the ledger adds.
func BenchmarkPipelineLedger(b *testing.B) {
	for _, withLedger := range []bool{false, true} {
		name := "without"
		if withLedger {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
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
			rd, err := NewReader("bench.csv", bytes.NewReader(in), ReaderOptions{})
			if err != nil {
				b.Fatal(err)
			}
			var out bytes.Buffer
			w := report.NewWriter(&out)
			if err := w.WriteHeader(); err != nil {
				b.Fatal(err)
			}
			cfg := Config{Registrar: c, Rate: 0}
			if withLedger {
				l, err := ledger.Open(context.Background(), filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				cfg.Ledger = l
			}
			sum := report.NewSummary(time.Now())
			cpu0 := processCPU()
			b.ResetTimer()
			_, err = Run(context.Background(), rd, w, sum, cfg)
			if cfg.Ledger != nil {
				if err := cfg.Ledger.(*ledger.Ledger).Close(); err != nil {
					b.Fatal(err)
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
		})
	}
}

// processCPU is the user + system time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
