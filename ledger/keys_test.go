package ledger

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// Lookup from the in-memory key set agrees with the database: for keys
// imported before the first Lookup (the scan), keys recorded after it
// (enough to be merged into the sorted set), times an entry cannot hold,
// and keys that are absent.
func TestKeySetAgreesWithDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, path, Options{})
	var csv strings.Builder
	csv.WriteString("username,tokenSn,tokenType,registered_at,run_id\n")
	const seeded = 500
	for i := range seeded {
		fmt.Fprintf(&csv, "user%d,OTP-%d,OTP,%s,seed\n", i, i, t1.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano))
	}
	fmt.Fprintf(&csv, "old,OTP-old,OTP,1990-01-02T03:04:05.678Z,seed\n")
	fmt.Fprintf(&csv, "future,OTP-future,OTP,2200-01-02T03:04:05.678Z,seed\n")
	if _, _, err := l.Import(ctx, strings.NewReader(csv.String()), ""); err != nil {
		t.Fatal(err)
	}
	wantLookup(t, l, "user0", client.OTP, "OTP-0", true, t1) // loads the set
	// Recorded after the scan: more than enough to trigger a merge.
	old := mergeMin
	mergeMin = 300
	t.Cleanup(func() { mergeMin = old })
	const added = 700
	// Concurrent callers share commits, as a run's successes do.
	var wg sync.WaitGroup
	errs := make(chan error, added)
	for w := range 50 {
		wg.Go(func() {
			for i := w; i < added; i += 50 {
				errs <- l.Record(ctx, fmt.Sprintf("new%d", i), client.SMS, fmt.Sprintf("+601%d", i), t2, false)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A later record of a seeded key moves its time; an earlier one does not.
	record(t, l, reg{"user1", client.OTP, "OTP-1", t2}, reg{"user2", client.OTP, "OTP-2", t1.Add(-time.Hour)})

	ro := open(t, path, Options{ReadOnly: true}) // answers from the database
	check := func(user string, tt client.TokenType, sn string) {
		t.Helper()
		wantAt, wantFound, err := ro.Lookup(ctx, user, tt, sn)
		if err != nil {
			t.Fatal(err)
		}
		wantLookup(t, l, user, tt, sn, wantFound, wantAt)
	}
	for i := range seeded {
		check(fmt.Sprintf("user%d", i), client.OTP, fmt.Sprintf("OTP-%d", i))
		check(fmt.Sprintf("user%d", i), client.SMS, fmt.Sprintf("OTP-%d", i)) // absent
		check(fmt.Sprintf("user%d", i), client.OTP, fmt.Sprintf("OTP-%d", i+1))
	}
	for i := range added {
		check(fmt.Sprintf("new%d", i), client.SMS, fmt.Sprintf("+601%d", i))
	}
	check("old", client.OTP, "OTP-old")
	check("future", client.OTP, "OTP-future")
	wantLookup(t, l, "user1", client.OTP, "OTP-1", true, t2)
	wantLookup(t, l, "user2", client.OTP, "OTP-2", true, t1.Add(2*time.Second))
	if n := len(l.keys.extra); n >= added {
		t.Errorf("%d keys still outside the sorted set after %d records, want them merged", n, added)
	}
}

// TestForgetOwnKeys: a run's ledger (ForgetOwnKeys) keeps the keys it
// records out of memory, so a fresh run of a million rows does not grow by
// them; what earlier runs recorded is still found, from memory; and the
// database has every key, for the next run.
func TestForgetOwnKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	l := open(t, path, Options{})
	record(t, l, reg{"alice", client.OTP, "OTP-1", t1})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	l = open(t, path, Options{ForgetOwnKeys: true})
	wantLookup(t, l, "alice", client.OTP, "OTP-1", true, t1) // loads the key set
	for i := range 100 {
		record(t, l, reg{fmt.Sprintf("user%d", i), client.SMS, fmt.Sprintf("+6012345%04d", i), t2})
	}
	l.keys.mu.RLock()
	held := len(l.keys.base) + len(l.keys.extra) + len(l.keys.odd)
	l.keys.mu.RUnlock()
	if held != 1 {
		t.Errorf("the key set holds %d keys after 100 records of its own, want 1 (the earlier run's)", held)
	}
	wantLookup(t, l, "alice", client.OTP, "OTP-1", true, t1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// The next run finds all of them; a Ledger without the option sees its
	// own records at once.
	l = open(t, path, Options{})
	wantLookup(t, l, "user7", client.SMS, "+60123450007", true, t2)
	record(t, l, reg{"bob", client.OTP, "OTP-2", t2})
	wantLookup(t, l, "bob", client.OTP, "OTP-2", true, t2)
}
