package batch

import (
	"context"
	"encoding/csv"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client/clienttest"
)

// TestSamplesGolden runs samples/tokens.csv against samples/sim-state.json
// and compares each line's status and code with samples/tokens.expected.csv.
func TestSamplesGolden(t *testing.T) {
	st, err := clienttest.LoadState("../samples/sim-state.json")
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.ReadFile("../samples/tokens.csv")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../samples/tokens.expected.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	s := clienttest.NewServer(st, clienttest.Options{})
	defer s.Close()
	got, err := runCSV(t, context.Background(), string(in), Config{
		Registrar: newClient(t, s, 5*time.Second, false), Workers: 4,
		Backoff: Backoff{Base: time.Millisecond, Max: 4 * time.Millisecond},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want)-1 {
		t.Errorf("got %d result rows, want %d", len(got), len(want)-1)
	}
	for _, w := range want[1:] {
		line, _ := strconv.Atoi(w[0])
		r, ok := got[line]
		if !ok {
			t.Errorf("line %d: no result row", line)
			continue
		}
		if string(r.Status) != w[1] || r.Code != w[2] {
			t.Errorf("line %d = %s/%q (%s), want %s/%q", line, r.Status, r.Code, r.Message, w[1], w[2])
		}
	}
}
