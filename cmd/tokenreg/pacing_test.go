package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
)

// TestRunRatePaces drives `run --rate` through the command line and reads
// the pace off the fake server's recorded arrival times: the flag must
// reach the pacer (the default of 10 a second would be four times slower),
// and no second may hold more than rate + burst requests.
func TestRunRatePaces(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 1.5 s: 60 rows at 40 a second")
	}
	const rows, rate = 60, 40.0
	var st clienttest.State
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range rows {
		u := fmt.Sprintf("user%02d", i)
		st.Users = append(st.Users, u)
		fmt.Fprintf(&b, "%s,+6014%08d,SMS\n", u, i)
	}
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	in := writeFile(t, dir, "in.csv", b.String())
	out := filepath.Join(dir, "out.csv")
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--out", out, "--rate", fmt.Sprint(rate), "--progress", "never")
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	stats := s.Stats()
	times := stats.RequestTimes
	if len(times) != rows {
		t.Fatalf("server saw %d requests, want %d", len(times), rows)
	}
	achieved := float64(len(times)-1) / times[len(times)-1].Sub(times[0]).Seconds()
	if achieved > 1.05*rate || achieved < 0.5*rate {
		t.Errorf("requests arrived at %.1f a second, want about --rate %v", achieved, rate)
	}
	// A token bucket of rate r and burst 1 lets at most 1 + r requests
	// through in a second. The server sees them after a delay that varies
	// under -race on a loaded machine, which can move one request into a
	// neighbouring window: allow that one (make bench measures the exact
	// bar on a quiet machine).
	if got, limit := stats.MaxInWindow(time.Second), int(rate)+1+1; got > limit {
		t.Errorf("max requests in one second = %d, want ≤ %d", got, limit)
	}
	for line, r := range readResults(t, out) {
		if r.Status != "ok" {
			t.Errorf("line %d: %s %s %s, want ok", line, r.Status, r.Code, r.Message)
		}
	}
}
