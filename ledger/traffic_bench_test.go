//go:build unix

package ledger

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// BenchmarkRunTraffic is a --ledger run's ledger traffic as batch makes it:
// 4 workers each note an Intent and hand the row on (as if sent and
// answered at once); a record stage records up to 1024 of them at a time
// with RecordAsync, as batch's recordAhead does. It reports the process's CPU time per row (user +
// system, all goroutines), the figure e2ebench's ledger cost is made of.
func BenchmarkRunTraffic(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "ledger.db"), Options{})
	ctx := context.Background()
	rows := make(chan [2]string, 64)
	var next atomic.Int64
	var recorders sync.WaitGroup
	recorders.Add(1)
	go func() {
		defer recorders.Done()
		var wg sync.WaitGroup
		slots := make(chan struct{}, 1024)
		for r := range rows {
			slots <- struct{}{}
			wg.Add(1)
			l.RecordAsync(ctx, r[0], client.OTP, r[1], time.Now(), false, func(err error) {
				if err != nil {
					b.Error(err)
				}
				<-slots
				wg.Done()
			})
		}
		wg.Wait()
	}()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.SetParallelism(2) // 4 goroutines on 2 CPUs: --workers 4
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			user, sn := "user"+strconv.FormatInt(i, 10), "OTP-"+strconv.FormatInt(i, 10)
			if _, err := l.Intent(ctx, user, client.OTP, sn); err != nil {
				b.Error(err)
				return
			}
			rows <- [2]string{user, sn}
		}
	})
	close(rows)
	recorders.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/row")
}
