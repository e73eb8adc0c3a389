package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// benchRows is the size of the ledger the benchmarks look up in.
const benchRows = 200_000

// filled opens a ledger holding benchRows registrations, alice0..N with
// serial OTP-0..N, seeded through Import (one transaction).
func filled(b *testing.B) *Ledger {
	b.Helper()
	var csv strings.Builder
	csv.WriteString("username,tokenSn,tokenType,registered_at,run_id\n")
	for i := range benchRows {
		fmt.Fprintf(&csv, "user%d,OTP-%08d,OTP,2026-11-28T02:15:00.000Z,seed\n", i, i)
	}
	l := open(b, filepath.Join(b.TempDir(), "ledger.db"), Options{})
	if _, _, err := l.Import(context.Background(), strings.NewReader(csv.String()), ""); err != nil {
		b.Fatal(err)
	}
	return l
}

func BenchmarkLookup(b *testing.B) {
	l := filled(b)
	ctx, cancel := context.WithCancel(context.Background()) // as batch's reader has
	defer cancel()
	// The first Lookup loads every key into memory: do it before the clock
	// runs, so that the figure is a lookup's cost, not the load's.
	if _, _, err := l.Lookup(ctx, "warm-up", client.OTP, "warm-up"); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		found bool
		sn    func(i int) (string, string)
	}{
		{"hit", true, func(i int) (string, string) {
			i = i * 7919 % benchRows
			return fmt.Sprintf("user%d", i), fmt.Sprintf("OTP-%08d", i)
		}},
		{"miss", false, func(i int) (string, string) {
			return fmt.Sprintf("user%d", i), fmt.Sprintf("OTP-X%07d", i)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				user, sn := bc.sn(i)
				i++
				_, found, err := l.Lookup(ctx, user, client.OTP, sn)
				if err != nil || found != bc.found {
					b.Fatalf("Lookup(%s, %s) = %t, %v, want %t", user, sn, found, err, bc.found)
				}
			}
		})
	}
}

// BenchmarkRecord measures one durable Record: a transaction and an fsync
// of the WAL (synchronous=FULL) on the file system of b.TempDir().
func BenchmarkRecord(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "ledger.db"), Options{})
	ctx := context.Background()
	at := time.Now()
	i := 0
	for b.Loop() {
		if err := l.Record(ctx, fmt.Sprintf("user%d", i), client.OTP, fmt.Sprintf("OTP-%08d", i), at, false); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkIntentRecord is a run's ledger traffic for one new row: an
// Intent from one of 4 workers, then the row's Record, concurrently.
func BenchmarkIntentRecord(b *testing.B) {
	l := open(b, filepath.Join(b.TempDir(), "ledger.db"), Options{})
	ctx := context.Background()
	at := time.Now()
	var next atomic.Int64
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			user, sn := fmt.Sprintf("user%d", i), fmt.Sprintf("OTP-%08d", i)
			if _, err := l.Intent(ctx, user, client.OTP, sn); err != nil {
				b.Fatal(err)
			}
			if err := l.Record(ctx, user, client.OTP, sn, at, false); err != nil {
				b.Fatal(err)
			}
		}
	})
}
