package batch

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/report"
)

// A canary (Config.Limit) sends at most Limit rows, decides the invalid and
// duplicate rows met before the next row to send, leaves the rest without a
// result row, and says so with ErrLimit; a limit the file never reaches
// ends the run normally.
func TestRunLimit(t *testing.T) {
	in := strings.Join([]string{
		"username,tokenSn,tokenType",
		"alice,+60100000001,SMS", // 2 sent
		"bob,1234,1",             // 3 invalid
		"alice,OTP1,OTP",         // 4 sent (alice's second row: parked, still counted)
		"carol,+60100000001,1",   // 5 skipped: duplicate of line 2
		"carol,OTP2,2",           // 6 sent
		"dave,OTP3,2",            // 7 not sent: the limit
		"frank,+60100000003,1",   // 8 not sent
	}, "\n") + "\n"
	tests := []struct {
		limit     int
		wantLines []int
		wantErr   error
	}{
		{1, []int{2, 3}, ErrLimit},
		{3, []int{2, 3, 4, 5, 6}, ErrLimit},
		{5, []int{2, 3, 4, 5, 6, 7, 8}, nil},
		{9, []int{2, 3, 4, 5, 6, 7, 8}, nil},
	}
	for _, tt := range tests {
		s := clienttest.NewServer(sampleState(), clienttest.Options{})
		cfg := Config{Registrar: newClient(t, s, 0, false), Workers: 4, Limit: tt.limit}
		got, err := runCSV(t, context.Background(), in, cfg, nil)
		s.Close()
		if !errors.Is(err, tt.wantErr) {
			t.Errorf("Limit %d: Run error %v, want %v", tt.limit, err, tt.wantErr)
		}
		if len(got) != len(tt.wantLines) {
			t.Errorf("Limit %d: %d result rows, want lines %v", tt.limit, len(got), tt.wantLines)
		}
		for _, line := range tt.wantLines {
			if _, ok := got[line]; !ok {
				t.Errorf("Limit %d: no result row for line %d", tt.limit, line)
			}
		}
		sent := 0
		for _, r := range got {
			if r.Attempts > 0 {
				sent++
			}
		}
		if n := s.Stats().Requests; sent > tt.limit || n != int64(sent) {
			t.Errorf("Limit %d: %d rows sent, %d requests, want at most %d", tt.limit, sent, n, tt.limit)
		}
	}
}

// With a limit, a resumed run continues where the canary stopped.
func TestRunLimitThenResume(t *testing.T) {
	s := clienttest.NewServer(sampleState(), clienttest.Options{})
	defer s.Close()
	in := "username,tokenSn,tokenType\nalice,OTP1,2\nbob,OTP2,2\ncarol,OTP3,2\ndave,+60100000002,1\n"
	var buf bytes.Buffer
	first, err := runCSV(t, context.Background(), in, Config{Registrar: newClient(t, s, 0, false), Limit: 2}, &buf)
	if !errors.Is(err, ErrLimit) || len(first) != 2 {
		t.Fatalf("canary: %d rows, error %v; want 2 rows and ErrLimit", len(first), err)
	}
	rs, _, _, err := LoadResume("r.csv", bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	all, err := runCSV(t, context.Background(), in, Config{Registrar: newClient(t, s, 0, false), Resume: rs}, &buf)
	if err != nil {
		t.Fatalf("resume: %v", err)
	}
	for line := 2; line <= 5; line++ {
		if r, ok := all[line]; !ok || r.Status != report.StatusOK {
			t.Errorf("line %d after resume: %+v, want ok", line, r)
		}
	}
	if n := s.Stats().Requests; n != 4 {
		t.Errorf("%d requests over both runs, want 4 (nothing sent twice)", n)
	}
}
