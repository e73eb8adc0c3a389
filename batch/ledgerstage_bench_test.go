package batch

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tokenreg/tokenreg/ledger"
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
			cfg := Config{Rate: 0}
			var after func() error
			if withLedger {
				l, err := ledger.Open(context.Background(), filepath.Join(b.TempDir(), "ledger.db"), ledger.Options{ForgetOwnKeys: true})
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				cfg.Ledger, after = l, l.Close
			}
			benchRun(b, cfg, after)
		})
	}
}
