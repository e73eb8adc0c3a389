//go:build unix

package ledger

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used: with other work on the
// machine, it varies less than the wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkExportImport: the cost of a row through Export (gocsv) and
// through Import of that export (gocsv) and of a result file
// (report.Reader), 100,000 rows each.
func BenchmarkExportImport(b *testing.B) {
	ctx := context.Background()
	const rows = 100_000
	var exp, res strings.Builder
	exp.WriteString("username,tokenSn,tokenType,registered_at,run_id,lost\n")
	res.WriteString("line,username,tokenSn,tokenType,status,code,message,attempts,duration_ms,finished_at\n")
	for i := range rows {
		fmt.Fprintf(&exp, "user%06d,OTP-%06d,OTP,2026-11-28T02:15:00.123Z,r,false\n", i, i)
		fmt.Fprintf(&res, "%d,user%06d,OTP-%06d,OTP,ok,0,Success,1,12,2026-11-28T02:15:00.123Z\n", i+2, i, i)
	}
	src := open(b, filepath.Join(b.TempDir(), "src.db"), Options{})
	if n, _, err := src.Import(ctx, strings.NewReader(exp.String()), ""); err != nil || n != rows {
		b.Fatalf("Import() = %d, %v", n, err)
	}
	b.Run("export", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			if n, err := src.Export(ctx, io.Discard); err != nil || n != rows {
				b.Fatalf("Export() = %d, %v", n, err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N*rows), "cpu-ns/row")
	})
	for _, tc := range []struct{ name, csv string }{{"import-export", exp.String()}, {"import-result", res.String()}} {
		b.Run(tc.name, func(b *testing.B) {
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				dst := open(b, filepath.Join(b.TempDir(), "dst.db"), Options{})
				b.StartTimer()
				cpu0 := cpuTime()
				if n, _, err := dst.Import(ctx, strings.NewReader(tc.csv), ""); err != nil || n != rows {
					b.Fatalf("Import() = %d, %v", n, err)
				}
				cpu += cpuTime() - cpu0
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
			b.ReportMetric(float64(cpu)/float64(b.N*rows), "cpu-ns/row")
		})
	}
}
