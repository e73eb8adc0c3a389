package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/ledger"
	"github.com/tokenreg/tokenreg/report"
)

func inventory(from, to int) string {
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "user%d,HW%04d,OTP\n", i, i)
	}
	return b.String()
}

func ledgerState(n int) clienttest.State {
	var st clienttest.State
	for i := range n {
		st.Users = append(st.Users, fmt.Sprintf("user%d", i))
		st.Tokens = append(st.Tokens, clienttest.Token{Serial: fmt.Sprintf("HW%04d", i), Status: "deactivated"})
	}
	return st
}

func TestLedgerNightlySendsOnlyNewRows(t *testing.T) {
	s := clienttest.NewServer(ledgerState(30), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "ledger.db")
	c := cli{env: demoEnv(s.URL)}

	night1 := writeFile(t, dir, "night1.csv", inventory(0, 20))
	if code, _, stderr := c.run(t, context.Background(), "", "run", night1, "--ledger", db, "--rate", "0"); code != exitOK {
		t.Fatalf("night 1 exit %d:\n%s", code, stderr)
	}
	if n := s.Stats().Requests; n != 20 {
		t.Fatalf("night 1 sent %d requests, want 20", n)
	}
	// Night 2: the inventory grew by 10 rows.
	night2 := writeFile(t, dir, "night2.csv", inventory(0, 30))
	if code, _, stderr := c.run(t, context.Background(), "", "run", night2, "--ledger", db, "--rate", "0"); code != exitOK {
		t.Fatalf("night 2 exit %d:\n%s", code, stderr)
	}
	if n := s.Stats().Requests; n != 30 {
		t.Errorf("after night 2 the server saw %d requests, want 30 (only the 10 new rows)", n)
	}
	got := readResults(t, filepath.Join(dir, "night2.result.csv"))
	skipped := 0
	for _, r := range got {
		if r.Status == report.StatusSkipped && strings.HasSuffix(r.Message, "(ledger)") && strings.HasPrefix(r.Message, "registered on ") {
			skipped++
		}
	}
	if skipped != 20 {
		t.Errorf("night 2 skipped %d rows as in the ledger, want 20", skipped)
	}
	// The ledger exports the 30 registrations.
	code, stdout, stderr := c.run(t, context.Background(), "", "ledger", "export", "--ledger", db)
	if code != exitOK || strings.Count(stdout, "\n") != 31 {
		t.Errorf("ledger export exit %d, %d lines, want 0 and 31:\n%s%s", code, strings.Count(stdout, "\n"), stdout, stderr)
	}
}

func TestLedgerCrashBetweenSuccessAndRecord(t *testing.T) {
	st := ledgerState(3)
	// The crashed run's request was applied: the server has the token bound.
	st.Tokens[1] = clienttest.Token{Serial: "HW0001", Status: "active", Owner: "user1"}
	st.UsersWithOTP = []string{"user1"}
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "ledger.db")
	// ... and it had noted its intent, then died before recording.
	lg, err := ledger.Open(context.Background(), db, ledger.Options{RunID: "crashed-run"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lg.Intent(context.Background(), "user1", client.OTP, "HW0001"); err != nil {
		t.Fatal(err)
	}
	lg.Close()

	in := writeFile(t, dir, "in.csv", inventory(0, 3))
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--ledger", db, "--rate", "0")
	if code != exitNotAllOK {
		t.Fatalf("exit %d, want 1:\n%s", code, stderr)
	}
	r := readResults(t, filepath.Join(dir, "in.result.csv"))[3]
	if r.Status != report.StatusFailed || (r.Code != "29008" && r.Code != "29017") || !strings.Contains(r.Message, "probably registered to this user") {
		t.Errorf("line 3 = %s %s %q, want failed 29008/29017 saying the token is probably this user's", r.Status, r.Code, r.Message)
	}
}

func TestLedgerTwoRunsAtOnce(t *testing.T) {
	// The second run waits for the first this long, not 5 s.
	old := ledgerWait.Swap(int64(50 * time.Millisecond))
	t.Cleanup(func() { ledgerWait.Store(old) })
	s := clienttest.NewServer(ledgerState(3), clienttest.Options{})
	defer s.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "ledger.db")
	holder, err := ledger.Open(context.Background(), db, ledger.Options{RunID: "first-run"})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	in := writeFile(t, dir, "in.csv", inventory(0, 3))
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "", "run", in, "--ledger", db)
	if code != exitUsage || !strings.Contains(stderr, "in use by another tokenreg run") {
		t.Fatalf("second run: exit %d, want 2 saying the ledger is in use:\n%s", code, stderr)
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("the refused run sent %d requests, want 0", n)
	}
}

// ledger export --out never writes into an existing file without --force,
// and with it replaces the file (or a planted link) rather than writing
// through it.
func TestLedgerExportOut(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "ledger.db")
	lg, err := ledger.Open(ctx, db, ledger.Options{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if err := lg.Record(ctx, "alice", client.OTP, "HW0001", time.Date(2026, 11, 28, 2, 15, 0, 0, time.UTC), false); err != nil {
		t.Fatal(err)
	}
	lg.Close()
	const want = "username,tokenSn,tokenType,registered_at,run_id,lost\nalice,HW0001,OTP,2026-11-28T02:15:00.000Z,r,false\n"
	const precious = "the victim's data\n"
	c := cli{}

	out := filepath.Join(dir, "ledger.csv")
	if code, _, stderr := c.run(t, ctx, "", "ledger", "export", "--ledger", db, "--out", out); code != exitOK {
		t.Fatalf("export to a new file: exit %d:\n%s", code, stderr)
	}
	if got, _ := os.ReadFile(out); string(got) != want {
		t.Errorf("export wrote %q, want %q", got, want)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}

	existing := writeFile(t, dir, "existing.csv", precious)
	code, _, stderr := c.run(t, ctx, "", "ledger", "export", "--ledger", db, "--out", existing)
	if code != exitUsage || !strings.Contains(stderr, "already exists: pass --force") {
		t.Errorf("export onto an existing file: exit %d, want 2 asking for --force:\n%s", code, stderr)
	}
	if got, _ := os.ReadFile(existing); string(got) != precious {
		t.Errorf("the refused export changed the file to %q", got)
	}

	victim := writeFile(t, dir, "precious.txt", precious)
	link := filepath.Join(dir, "planted.csv")
	if err := os.Symlink(victim, link); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := c.run(t, ctx, "", "ledger", "export", "--ledger", db, "--out", link); code != exitUsage {
		t.Errorf("export onto a planted link without --force: exit %d, want 2:\n%s", code, stderr)
	}
	if code, _, stderr := c.run(t, ctx, "", "ledger", "export", "--ledger", db, "--out", link, "--force"); code != exitOK {
		t.Fatalf("export --force onto a link: exit %d:\n%s", code, stderr)
	}
	if got, _ := os.ReadFile(victim); string(got) != precious {
		t.Errorf("export --force wrote through the link: the victim's file holds %q", got)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("after export --force, %s is %v, %v; want a regular file that replaced the link", link, fi.Mode(), err)
	}
	if got, _ := os.ReadFile(link); string(got) != want {
		t.Errorf("export --force wrote %q, want %q", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %q", left)
	}
}
