package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tokenreg/tokenreg/client/clienttest"
	"github.com/tokenreg/tokenreg/internal/safetext"
	"github.com/tokenreg/tokenreg/report"
)

// corpusDir holds the malformed inputs and their expectations; see its
// README.md for the .want format.
const corpusDir = "../../testdata/inputs"

// generated makes the corpus inputs too big to commit, by name.
var generated = map[string]func() []byte{
	"field-1mib":        genField1MiB,
	"header-1m-columns": func() []byte { return []byte(strings.Repeat(",", 1_000_000) + "\n") },
}

// genField1MiB: 1 MiB fields in tokenSn (line 2) and username (line 3), an
// ordinary row (line 4), then a quoted 1 MiB tokenSn of 1,024 lines starting
// on line 5, so that the next record starts on line 5+1024+1 = 1030.
func genField1MiB() []byte {
	const mib = 1 << 20
	var b bytes.Buffer
	b.WriteString("username,tokenSn,tokenType\n")
	b.WriteString("alice," + strings.Repeat("A", mib) + ",2\n")
	b.WriteString(strings.Repeat("u", mib) + ",OTP-BIG-1,2\n")
	b.WriteString("bob,+60120000040,1\n")
	b.WriteString(`carol,"` + strings.Repeat(strings.Repeat("x", 1023)+"\n", 1024) + "\",2\n")
	b.WriteString("dave,OTP-BIG-1,2\n")
	return b.Bytes()
}

// want is a parsed NAME.want.
type want struct {
	exit   int
	stderr []string
	lines  map[int]wantRow
}

type wantRow struct {
	status report.Status // as run reports it
	msg    string        // a substring of the message
	vmsg   string        // a substring of validate's message (a warning)
}

func parseWant(t *testing.T, path string) want {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := want{exit: -1, lines: map[int]wantRow{}}
	for i, text := range strings.Split(string(data), "\n") {
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		bad := func() { t.Fatalf("%s:%d: cannot parse %q", path, i+1, text) }
		verb, rest, _ := strings.Cut(text, " ")
		switch verb {
		case "exit":
			if w.exit, err = strconv.Atoi(rest); err != nil {
				bad()
			}
		case "stderr":
			w.stderr = append(w.stderr, rest)
		case "line":
			f := strings.SplitN(rest, " ", 3)
			if len(f) < 2 {
				bad()
			}
			n, err := strconv.Atoi(f[0])
			if err != nil || n < 2 {
				bad()
			}
			st := report.Status(f[1])
			if !st.Known() || st == report.StatusValid {
				bad()
			}
			if _, dup := w.lines[n]; dup {
				bad()
			}
			r := wantRow{status: st}
			if len(f) == 3 {
				r.msg = f[2]
			}
			w.lines[n] = r
		case "warn":
			n, text, _ := strings.Cut(rest, " ")
			line, err := strconv.Atoi(n)
			r, ok := w.lines[line]
			if err != nil || !ok || text == "" {
				bad()
			}
			r.vmsg = text
			w.lines[line] = r
		default:
			bad()
		}
	}
	if w.exit < 0 {
		t.Fatalf("%s: no exit line", path)
	}
	if w.exit == exitUsage && len(w.lines) > 0 {
		t.Fatalf("%s: exit 2 stops the run before any row: it cannot list lines", path)
	}
	return w
}

// sent is the number of rows the run must send: each ok row once.
func (w want) sent() int {
	n := 0
	for _, r := range w.lines {
		if r.status == report.StatusOK {
			n++
		}
	}
	return n
}

// corpusInput returns the path of NAME's input, generating it if need be.
func corpusInput(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(corpusDir, name+".csv")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	gen, ok := generated[name]
	if !ok {
		t.Fatalf("%s.want has neither %s nor a generator", name, p)
	}
	p = filepath.Join(t.TempDir(), name+".csv")
	if err := os.WriteFile(p, gen(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func corpusState(t *testing.T) clienttest.State {
	t.Helper()
	st, err := clienttest.LoadState(filepath.Join(corpusDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCorpus runs every input of testdata/inputs through `tokenreg run`
// against the fake server and through `tokenreg validate`, and checks the
// exit code, stderr and each result row against NAME.want.
func TestCorpus(t *testing.T) {
	wants, err := filepath.Glob(filepath.Join(corpusDir, "*.want"))
	if err != nil || len(wants) == 0 {
		t.Fatalf("no .want files in %s: %v", corpusDir, err)
	}
	// Every committed input must have its expectations.
	inputs, _ := filepath.Glob(filepath.Join(corpusDir, "*.csv"))
	for _, in := range inputs {
		if _, err := os.Stat(strings.TrimSuffix(in, ".csv") + ".want"); err != nil {
			t.Errorf("%s has no .want file", in)
		}
	}
	state := corpusState(t)
	for _, wp := range wants {
		name := strings.TrimSuffix(filepath.Base(wp), ".want")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := parseWant(t, wp)
			in := corpusInput(t, name)
			t.Run("run", func(t *testing.T) { corpusRun(t, state, in, w) })
			t.Run("validate", func(t *testing.T) { corpusValidate(t, in, w, false) })
			t.Run("validate-stdin", func(t *testing.T) { corpusValidate(t, in, w, true) })
		})
	}
}

func corpusRun(t *testing.T, state clienttest.State, in string, w want) {
	s := clienttest.NewServer(state, clienttest.Options{})
	defer s.Close()
	out := filepath.Join(t.TempDir(), "result.csv")
	code, stdout, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), "",
		"run", in, "--out", out, "--rate", "0", "--progress", "never")
	checkCommon(t, code, stderr, w)
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", truncate(stdout))
	}
	st := s.Stats()
	if w.exit == exitUsage {
		if st.Requests != 0 {
			t.Errorf("server saw %d requests, want 0: a fatal input must stop the run before anything is sent", st.Requests)
		}
		if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a fatal input left a result file (stat: %v)", err)
		}
		return
	}
	if got, want := int(st.Requests), w.sent(); got != want {
		t.Errorf("server saw %d requests, want %d (one per ok row)", got, want)
	}
	if d := st.DoubleRegistrations(); len(d) > 0 {
		t.Errorf("registered twice: %v", d)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, raw, w, false)
}

// corpusValidate runs validate on the file, or on stdin with the result on
// stdout.
func corpusValidate(t *testing.T, in string, w want, stdin bool) {
	out := filepath.Join(t.TempDir(), "result.csv")
	args, input := []string{"validate", in, "--out", out}, ""
	if stdin {
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		args, input = []string{"validate", "-", "--out", "-"}, string(data)
	}
	code, stdout, stderr := cli{}.run(t, context.Background(), input, args...)
	checkCommon(t, code, stderr, w)
	raw := []byte(stdout)
	if !stdin {
		if stdout != "" {
			t.Errorf("stdout = %q, want nothing (the result goes to --out)", truncate(stdout))
		}
		var err error
		raw, err = os.ReadFile(out)
		if w.exit == exitUsage {
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a fatal input left a result file (read: %v)", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if w.exit != exitUsage {
		checkResult(t, raw, w, true)
	}
}

func checkCommon(t *testing.T, code int, stderr string, w want) {
	t.Helper()
	if code != w.exit {
		t.Errorf("exit = %d, want %d; stderr:\n%s", code, w.exit, truncate(stderr))
	}
	for _, s := range w.stderr {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, truncate(stderr))
		}
	}
	for _, s := range []string{"internal error", "panic", "goroutine "} {
		if strings.Contains(stderr, s) {
			t.Errorf("stderr has %q:\n%s", s, truncate(stderr))
		}
	}
}

// checkResult compares a result file with the expectations. validate
// reports valid where run reports ok.
func checkResult(t *testing.T, raw []byte, w want, validate bool) {
	t.Helper()
	header := strings.Join(report.Header(), ",") + "\n"
	if !bytes.HasPrefix(raw, []byte(header)) {
		t.Fatalf("result does not start with the header:\n%s", truncate(string(raw)))
	}
	// A result row stays readable however long the input field was.
	for i, l := range bytes.Split(raw, []byte("\n")) {
		if len(l) > 2048 {
			t.Errorf("result line %d is %d bytes long: long input fields must be cut short", i+1, len(l))
		}
	}
	rr, err := report.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for {
		r, err := rr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("result: %v", err)
		}
		if seen[r.Line] {
			t.Errorf("line %d has two result rows", r.Line)
		}
		seen[r.Line] = true
		wr, ok := w.lines[r.Line]
		if !ok {
			t.Errorf("line %d has a result row (%s: %s), want none", r.Line, r.Status, r.Message)
			continue
		}
		st := wr.status
		if validate && st == report.StatusOK {
			st = report.StatusValid
		}
		if r.Status != st {
			t.Errorf("line %d: status %s (%s), want %s", r.Line, r.Status, r.Message, st)
		}
		if !strings.Contains(r.Message, wr.msg) {
			t.Errorf("line %d: message %q lacks %q", r.Line, r.Message, wr.msg)
		}
		if validate && !strings.Contains(r.Message, wr.vmsg) {
			t.Errorf("line %d: validate's message %q lacks the warning %q", r.Line, r.Message, wr.vmsg)
		}
		if st == report.StatusOK && (r.Code != "0" || r.Attempts != 1) {
			t.Errorf("line %d: code %q after %d attempts, want code 0 after 1", r.Line, r.Code, r.Attempts)
		}
		if st != report.StatusOK && r.Attempts != 0 {
			t.Errorf("line %d: %s after %d attempts, want none sent", r.Line, r.Status, r.Attempts)
		}
	}
	for n := range w.lines {
		if !seen[n] {
			t.Errorf("line %d has no result row, want %s", n, w.lines[n].status)
		}
	}
}

func truncate(s string) string {
	const maxLen = 4000
	if len(s) > maxLen {
		return s[:maxLen] + fmt.Sprintf("… (%d bytes)", len(s))
	}
	return s
}

// TestCorpusStdinUnterminatedQuote is the unterminated-quote input read
// from stdin, after enough good rows that the run has started sending
// before the reader meets the quote that is never closed.
func TestCorpusStdinUnterminatedQuote(t *testing.T) {
	s := clienttest.NewServer(clienttest.State{Users: []string{"alice"}}, clienttest.Options{})
	defer s.Close()
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "alice,+6011%08d,1\n", i)
	}
	b.WriteString("alice,\"+60119999999,1\n")
	out := filepath.Join(t.TempDir(), "r.csv")
	code, _, stderr := cli{env: demoEnv(s.URL)}.run(t, context.Background(), b.String(), "run", "-", "--out", out, "--rate", "0")
	if code != exitUsage || !strings.Contains(stderr, "line 5002") {
		t.Errorf("exit %d, want 2 naming line 5002:\n%s", code, truncate(stderr))
	}
	if n := s.Stats().Requests; n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

// TestCorpusMillionRowsValidate validates a generated 1,000,000-row file:
// one result row per data row, the invalid ones found. Its speed is for
// the benchmarks (SPEC §7); here it only has to finish.
func TestCorpusMillionRowsValidate(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 rows: skipped with -short")
	}
	t.Parallel() // the longest test here: let the others run beside it
	rows := 1_000_000
	if raceEnabled() {
		// The race detector makes this take minutes, and a million rows
		// find no race that a hundred thousand do not.
		rows = 100_000
		t.Logf("race detector on: %d rows instead of 1,000,000", rows)
	}
	const invalidEvery = 10_000 // rows 10000, 20000, ... have type 3
	dir := t.TempDir()
	in := filepath.Join(dir, "million.csv")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString("username,tokenSn,tokenType\n")
	var line []byte
	for i := 1; i <= rows; i++ {
		line = line[:0]
		line = append(line, "user"...)
		line = strconv.AppendInt(line, int64(i), 10)
		switch {
		case i%invalidEvery == 0:
			line = append(line, ",OTP-M"...)
			line = strconv.AppendInt(line, int64(i), 10)
			line = append(line, ",3\n"...)
		case i%2 == 0:
			line = append(line, ",OTP-M"...)
			line = strconv.AppendInt(line, int64(i), 10)
			line = append(line, ",2\n"...)
		default:
			line = append(line, ",+601"...)
			line = strconv.AppendInt(line, int64(10_000_000+i), 10)
			line = append(line, ",1\n"...)
		}
		bw.Write(line)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "million.result.csv")
	code, stdout, stderr := cli{}.run(t, context.Background(), "", "validate", in, "--out", out)
	if code != exitNotAllOK {
		t.Fatalf("exit = %d, want %d (some rows are invalid); stderr:\n%s", code, exitNotAllOK, truncate(stderr))
	}
	if stdout != "" {
		t.Errorf("stdout = %q, want nothing", truncate(stdout))
	}
	rf, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	rr, err := report.NewReader(bufio.NewReaderSize(rf, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, rows+2)
	n, invalid := 0, 0
	for {
		r, err := rr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if r.Line < 2 || r.Line > rows+1 || seen[r.Line] {
			t.Fatalf("result row for line %d: out of range or twice", r.Line)
		}
		seen[r.Line] = true
		wantInvalid := (r.Line-1)%invalidEvery == 0
		switch {
		case r.Status == report.StatusInvalid && wantInvalid:
			invalid++
		case r.Status != report.StatusValid || wantInvalid:
			t.Fatalf("line %d: %s %q", r.Line, r.Status, r.Message)
		}
	}
	if n != rows || invalid != rows/invalidEvery {
		t.Errorf("result has %d rows, %d invalid; want %d rows, %d invalid", n, invalid, rows, rows/invalidEvery)
	}
	if !strings.Contains(stderr, strconv.Itoa(rows)) {
		t.Errorf("summary does not count %d rows:\n%s", rows, truncate(stderr))
	}
}

// formulaCells are cells a spreadsheet would run (SPEC §5), as usernames,
// serials and server messages, and a phone number that must stay readable.
var formulaCells = []struct {
	username, tokenSn, tokenType, message string
}{
	{"=1+1", "=OTP-F1", "2", "=HYPERLINK(\"http://evil.example/\",\"click\")"},
	{"+SUM(1,2)", "@OTP-F2", "2", "+cmd|' /C calc'!A0"},
	{"-2+3", "-OTP-F3", "OTP", "-2+3"},
	{"@SUM(A1)", "+OTP-F4", "2", "@SUM(A1:A9)"},
	{"tab.msg", "+60123456780", "1", "\t=cmd"}, // reaches the result as " =cmd"
	{"cr.msg", "+60123456781", "1", "\r=cmd"},
	{"'=quoted", "+60123456782", "SMS", "'=already quoted"},
	{"-42", "60123456783", "1", "-42"},
	{"plus.phone", "+60123456789", "1", "+60123456789"},
}

// messageServer answers every registration with code 29004 and the message
// formulaCells gives for its username, and records what it was sent.
type messageServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen [][2]string // username, tokenSn
}

func newMessageServer(t *testing.T) *messageServer {
	t.Helper()
	ms := &messageServer{}
	ms.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Username, TokenSn string }
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ms.mu.Lock()
		ms.seen = append(ms.seen, [2]string{req.Username, req.TokenSn})
		ms.mu.Unlock()
		msg := "no such row"
		for _, c := range formulaCells {
			if c.username == req.Username {
				msg = c.message
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"code": "29004", "message": msg, "object": nil})
	}))
	return ms
}

func (ms *messageServer) sent() [][2]string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := slices.Clone(ms.seen)
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	return out
}

// TestFormulaCellsRoundTrip: run writes formula cells guarded with a
// leading quote (a phone number or a signed number left as it is), and
// retry reads them back to the values the input and the server gave.
func TestFormulaCellsRoundTrip(t *testing.T) {
	ms := newMessageServer(t)
	defer ms.Close()
	dir := t.TempDir()
	var in bytes.Buffer
	cw := csv.NewWriter(&in)
	cw.Write([]string{"username", "tokenSn", "tokenType"})
	var want [][2]string
	for _, c := range formulaCells {
		cw.Write([]string{c.username, c.tokenSn, c.tokenType})
		want = append(want, [2]string{c.username, c.tokenSn})
	}
	cw.Flush()
	slices.SortFunc(want, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	input := writeFile(t, dir, "formulas.csv", in.String())
	c := cli{env: demoEnv(ms.URL)}

	code, _, stderr := c.run(t, context.Background(), "", "run", input, "--rate", "0")
	if code != exitNotAllOK {
		t.Fatalf("run exit %d, want 1 (every row fails with 29004):\n%s", code, stderr)
	}
	if got := ms.sent(); !slices.Equal(got, want) {
		t.Errorf("run sent %q, want %q", got, want)
	}
	result := filepath.Join(dir, "formulas.result.csv")
	raw, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	checkGuards(t, raw)

	// The reader that retry and --resume use gives back the values.
	got := readResults(t, result)
	for i, c := range formulaCells {
		r := got[i+2]
		// Server text is sanitised before output: a tab or CR becomes a space.
		if r.Username != c.username || r.TokenSn != c.tokenSn || r.Message != safetext.Sanitize(c.message) {
			t.Errorf("line %d read back as (%q, %q, %q), want (%q, %q, %q)", i+2, r.Username, r.TokenSn, r.Message, c.username, c.tokenSn, safetext.Sanitize(c.message))
		}
	}

	// retry sends the original values again, and guards them again.
	code, _, stderr = c.run(t, context.Background(), "", "retry", result, "--rate", "0")
	if code != exitNotAllOK {
		t.Fatalf("retry exit %d, want 1:\n%s", code, stderr)
	}
	all := ms.sent()
	if len(all) != 2*len(want) {
		t.Fatalf("retry sent %d rows, want %d", len(all)-len(want), len(want))
	}
	for i, w := range want {
		if all[2*i] != w || all[2*i+1] != w {
			t.Errorf("sent %q and %q for one row, want %q twice", all[2*i], all[2*i+1], w)
		}
	}
	retried := filepath.Join(dir, "formulas.result.retry.csv")
	raw, err = os.ReadFile(retried)
	if err != nil {
		t.Fatal(err)
	}
	checkGuards(t, raw)
	// A retry's lines are those of the result it read, which are in
	// completion order: match the rows by username.
	byUser := map[string]report.Result{}
	for _, r := range readResults(t, retried) {
		byUser[r.Username] = r
	}
	for _, c := range formulaCells {
		r, ok := byUser[c.username]
		if !ok || r.TokenSn != c.tokenSn || r.Message != safetext.Sanitize(c.message) {
			t.Errorf("retry read back %q as (%q, %q), want (%q, %q)", c.username, r.TokenSn, r.Message, c.tokenSn, safetext.Sanitize(c.message))
		}
	}
}

// TestValidateStdinWritesStdout: `tokenreg validate -` without --out writes
// its result to stdout, as its usage says, and leaves no file behind.
func TestValidateStdinWritesStdout(t *testing.T) {
	t.Chdir(t.TempDir())
	for range 2 {
		code, stdout, stderr := cli{}.run(t, context.Background(), okInput, "validate", "-")
		if code != exitOK || !strings.HasPrefix(stdout, strings.Join(report.Header(), ",")) {
			t.Fatalf("exit %d, stdout %q, want 0 and the result on stdout; stderr:\n%s", code, stdout, stderr)
		}
		if ents, _ := os.ReadDir("."); len(ents) > 0 {
			t.Fatalf("validate - left %s in the working directory", ents[0].Name())
		}
	}
}

// checkGuards reads a result file as a spreadsheet would (plain CSV, no
// unescaping) and checks that no cell would run as a formula, while phone
// numbers and signed numbers are left readable.
func checkGuards(t *testing.T, raw []byte) {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(raw))
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec[1:7] {
			if cell == "" {
				continue
			}
			switch cell[0] {
			case '=', '@', '\t', '\r':
				t.Errorf("cell %q is not guarded", cell)
			case '+', '-':
				if strings.Trim(cell[1:], "0123456789") != "" {
					t.Errorf("cell %q is not guarded", cell)
				}
			}
		}
	}
	// A server's tab or CR is sanitised to a space (SECURITY in README), so
	// those messages reach the result as " =cmd", which no spreadsheet runs.
	for _, plain := range []string{",+60123456789,", ",-42,", ",60123456783,", `," =cmd",`} {
		if !bytes.Contains(raw, []byte(plain)) {
			t.Errorf("result lacks the unguarded cell %s:\n%s", plain, raw)
		}
	}
	// A server's leading tab or CR reaches the file as a space (issue 16:
	// server text is sanitised), which no spreadsheet runs.
	for _, guarded := range []string{",'=1+1,", ",'=OTP-F1,", ",'@SUM(A1),", ",'+OTP-F4,", "''=quoted", `" =cmd"`} {
		if !bytes.Contains(raw, []byte(guarded)) {
			t.Errorf("result lacks the guarded cell %q:\n%s", guarded, raw)
		}
	}
}
