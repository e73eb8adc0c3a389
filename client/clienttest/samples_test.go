package clienttest

import (
	"encoding/csv"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/tokenreg/tokenreg/client"
)

const (
	sampleState    = "../../samples/sim-state.json"
	sampleTokens   = "../../samples/tokens.csv"
	sampleExpected = "../../samples/tokens.expected.csv"
	sampleAttempts = 5 // tokenreg's default --attempts
)

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return records
}

// smsNumber is SPEC §4's rule for a mobile number.
var smsNumber = regexp.MustCompile(`^\+?[0-9]{8,15}$`)

// localProblem mirrors the SPEC §4 checks the samples exercise; the batch
// package owns the real ones.
func localProblem(user, sn, typ string) string {
	tt, err := client.ParseTokenType(typ)
	switch {
	case user == "" || sn == "":
		return "empty field"
	case err != nil:
		return err.Error()
	case tt == client.SMS && !smsNumber.MatchString(sn):
		return "SMS number not 8 to 15 digits"
	case tt == client.OTP && strings.ContainsFunc(sn, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "OTP serial with spaces or control characters"
	}
	return ""
}

// TestSamples replays samples/tokens.csv against samples/sim-state.json the
// way tokenreg does (file order, transient codes retried up to 5 attempts)
// and checks the outcome against samples/tokens.expected.csv, so the
// expectations the demo and the batch tests rely on are proven here.
func TestSamples(t *testing.T) {
	st, err := LoadState(sampleState)
	if err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, sampleTokens)
	if got, want := strings.Join(rows[0], ","), "username,tokenSn,tokenType"; got != want {
		t.Fatalf("%s header = %q, want %q", sampleTokens, got, want)
	}
	type expectation struct{ status, code string }
	expected := map[int]expectation{}
	for _, r := range readCSV(t, sampleExpected)[1:] {
		line, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("%s: bad line %q", sampleExpected, r[0])
		}
		expected[line] = expectation{r[1], r[2]}
	}
	if len(expected) != len(rows)-1 {
		t.Errorf("%s has %d rows, want one per data line of %s (%d)", sampleExpected, len(expected), sampleTokens, len(rows)-1)
	}

	s := newServer(t, st, Options{})
	c := newClient(t, s, nil)
	seen := map[string]int{} // (type, serial) -> line
	codes := map[string]bool{}
	for i, r := range rows[1:] {
		line := i + 2 // the header is line 1 and no field spans lines
		want, ok := expected[line]
		if !ok {
			t.Errorf("line %d: no expectation in %s", line, sampleExpected)
			continue
		}
		user, sn, typ := r[0], r[1], r[2]
		if problem := localProblem(user, sn, typ); problem != "" {
			if want.status != "invalid" || want.code != "" {
				t.Errorf("line %d %v is invalid locally (%s), but %s expects %s %q", line, r, problem, sampleExpected, want.status, want.code)
			}
			continue
		}
		tt, _ := client.ParseTokenType(typ)
		key := tt.String() + ":" + sn
		if first, dup := seen[key]; dup {
			if want.status != "skipped" || want.code != "" {
				t.Errorf("line %d %v duplicates line %d, but %s expects %s %q", line, r, first, sampleExpected, want.status, want.code)
			}
			continue
		}
		seen[key] = line

		reg := client.Registration{Username: user, TokenSn: sn, TokenType: tt}
		var resp client.Response
		for attempt := 1; attempt <= sampleAttempts; attempt++ {
			resp, err = c.Register(t.Context(), reg)
			if err != nil {
				t.Fatalf("line %d: Register(%+v): %v", line, reg, err)
			}
			if resp.Class() != client.Transient {
				break
			}
		}
		status := "failed"
		if resp.OK() {
			status = "ok"
		}
		codes[resp.Code] = true
		if status != want.status || resp.Code != want.code {
			t.Errorf("line %d: Register(%+v) ended %s %s %q, want %s %s", line, reg, status, resp.Code, resp.Message, want.status, want.code)
		}
	}

	for _, code := range []string{"0", "10002", "10003", "10004", "22002", "29001", "29002", "29004", "29008", "29011", "29017", "6002", "6007"} {
		if !codes[code] {
			t.Errorf("no sample row ends with documented code %s (%s)", code, client.Message(code))
		}
	}
	if d := s.Stats().DoubleRegistrations(); len(d) != 0 {
		t.Errorf("DoubleRegistrations() = %v, want none", d)
	}
}
