package batch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// arrivals is a Registrar that records the order in which requests reach
// it and holds each one in flight a while, as a server would.
type arrivals struct {
	hold time.Duration

	mu    sync.Mutex
	order []string // token serials, in order of arrival
}

func (a *arrivals) Register(ctx context.Context, r client.Registration) (client.Response, error) {
	a.mu.Lock()
	a.order = append(a.order, r.TokenSn)
	a.mu.Unlock()
	time.Sleep(a.hold)
	return client.Response{Code: "0", Message: "Success"}, nil
}

// TestRowsGoOutInFileOrder checks that, without retries, rows reach the
// server in about file order: the canary of --limit N sends the first N
// rows, and a stop leaves a prefix of the file done. With W requests in
// flight, the W rows sent together may reach the server in any order, so a
// row's arrival position may differ from its file position by up to W-1;
// going further takes a goroutine that holds a row ready to send being
// left unscheduled for two whole requests (2×hold) while the others send.
// The bound is W.
func TestRowsGoOutInFileOrder(t *testing.T) {
	for _, workers := range []int{2, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			const rows = 120
			var b strings.Builder
			b.WriteString("username,tokenSn,tokenType\n")
			pos := map[string]int{}
			for i := range rows {
				sn := fmt.Sprintf("SN%04d", i)
				pos[sn] = i
				fmt.Fprintf(&b, "user%d,%s,OTP\n", i, sn)
			}
			rec := &arrivals{hold: 3 * time.Millisecond}
			got, err := runCSV(t, context.Background(), b.String(), Config{Registrar: rec, Workers: workers}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != rows || len(rec.order) != rows {
				t.Fatalf("%d result rows, %d requests; want %d of each", len(got), len(rec.order), rows)
			}
			worst, worstSn, worstAt := -1, "", 0
			for at, sn := range rec.order {
				if d := abs(at - pos[sn]); d > worst {
					worst, worstSn, worstAt = d, sn, at
				}
			}
			t.Logf("largest distance between a row's file position and its arrival: %d (%s, row %d, request %d)", worst, worstSn, pos[worstSn]+1, worstAt+1)
			if worst > workers {
				first := rec.order[:min(12, len(rec.order))]
				t.Errorf("row %d (%s) was request %d: more than --workers %d positions from its place in the file; first requests: %v",
					pos[worstSn]+1, worstSn, worstAt+1, workers, first)
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
