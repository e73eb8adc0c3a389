package batch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// okRegistrar answers success after a millisecond, so that rows overlap.
type okRegistrar struct{}

func (okRegistrar) Register(ctx context.Context, r client.Registration) (client.Response, error) {
	time.Sleep(time.Millisecond) // hold the row in flight a while
	return client.Response{Code: "0", Message: "Success"}, nil
}

// TestSchedulerUserCaseInsensitive: "U1" and "u1" are one user (SPEC §4),
// so their rows must never be in flight together and must go out in file
// order, whatever the case of each spelling.
func TestSchedulerUserCaseInsensitive(t *testing.T) {
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	spellings := []string{"u1", "U1", "u2", "U2", "u3"}
	const rows = 300
	for i := range rows {
		fmt.Fprintf(&b, "%s,SN%04d,2\n", spellings[i%len(spellings)], i)
	}
	log := &callLog{next: okRegistrar{}}
	got, err := runCSV(t, context.Background(), b.String(), Config{Registrar: log, Workers: 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != rows {
		t.Fatalf("got %d results, want %d", len(got), rows)
	}
	checkUserOrder(t, log.calls, b.String())
	if log.maxIn < 2 {
		t.Errorf("max in flight = %d, want rows of different users to run together", log.maxIn)
	}
}

// TestSchedulerParksInFileOrder drives the scheduler alone: rows of a busy
// user wait, in file order, and come out one at a time as each is done.
func TestSchedulerParksInFileOrder(t *testing.T) {
	sc := newScheduler(8)
	jobs := make(chan job, 8)
	ctx := context.Background()
	rows := []Row{{Line: 2, Username: "Ann"}, {Line: 3, Username: "bob"}, {Line: 4, Username: "ANN"}, {Line: 5, Username: "ann"}}
	for _, r := range rows {
		if !sc.submit(ctx, jobs, job{row: r}) {
			t.Fatal("submit = false")
		}
	}
	close(jobs)
	var sent []int
	for j := range jobs {
		sent = append(sent, j.row.Line)
	}
	if fmt.Sprint(sent) != "[2 3]" {
		t.Fatalf("handed to the workers: %v, want [2 3] (ann's later rows parked)", sent)
	}
	var next []int
	for j, ok := sc.next(userKey("Ann")); ok; j, ok = sc.next(userKey(j.row.Username)) {
		next = append(next, j.row.Line)
	}
	if fmt.Sprint(next) != "[4 5]" {
		t.Errorf("ann's parked rows came out as %v, want [4 5]", next)
	}
	if _, ok := sc.next(userKey("bob")); ok {
		t.Error("bob has a parked row, want none")
	}
	if len(sc.waiting) != 0 || len(sc.parked) != 0 {
		t.Errorf("after every row is done: %d users waiting, %d parking slots taken; want none", len(sc.waiting), len(sc.parked))
	}
}
