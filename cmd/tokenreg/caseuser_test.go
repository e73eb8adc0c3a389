package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// TestUsernamesDifferingInCaseAreOneUser: outside a dry run, rows whose
// usernames differ only in case are one user's (SPEC: a user's rows are sent
// one at a time, in file order), so with many workers and a slow server no
// two of them are ever in flight at once and they finish in file order. Rows
// of different users, sent the same way, do overlap: the server would see
// it.
func TestUsernamesDifferingInCaseAreOneUser(t *testing.T) {
	const latency = 40 * time.Millisecond
	run := func(t *testing.T, users []string) (clienttest.Stats, map[int]report.Result) {
		t.Helper()
		s := clienttest.NewServer(clienttest.State{Users: users}, clienttest.Options{Latency: latency})
		defer s.Close()
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("username,tokenSn,tokenType\n")
		for i, u := range users {
			fmt.Fprintf(&b, "%s,+6010%07d,SMS\n", u, i)
		}
		in := writeFile(t, dir, "in.csv", b.String())
		out := filepath.Join(dir, "in.result.csv")
		code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--out", out, "--rate", "0", "--workers", "8", "--progress", "never")
		if code != exitOK {
			t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
		}
		got := readResults(t, out)
		if len(got) != len(users) {
			t.Fatalf("%d result rows, want %d", len(got), len(users))
		}
		return s.Stats(), got
	}

	t.Run("one user in six spellings", func(t *testing.T) {
		st, got := run(t, []string{"Alice", "alice", "ALICE", "aLiCe", "alicE", "AlIcE"})
		if st.Requests != 6 {
			t.Errorf("server saw %d requests, want 6", st.Requests)
		}
		for line := 3; line <= 7; line++ {
			if got[line].FinishedAt.Before(got[line-1].FinishedAt) {
				t.Errorf("line %d (%s) finished at %v, before line %d (%s) at %v: one user's rows out of file order",
					line, got[line].Username, got[line].FinishedAt, line-1, got[line-1].Username, got[line-1].FinishedAt)
			}
		}
		if st.MaxInFlight != 1 {
			t.Errorf("%d requests of one user in flight at once, want 1: usernames differing in case must be one user", st.MaxInFlight)
		}
	})
	t.Run("six users", func(t *testing.T) {
		st, _ := run(t, []string{"alice", "bob", "carol", "dave", "erin", "frank"})
		if st.MaxInFlight < 2 {
			t.Errorf("rows of six users never overlapped (max in flight %d): the check above could not see overlap", st.MaxInFlight)
		}
	})
}
