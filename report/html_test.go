package report

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)

// res is a result row finished at t0+sec.
func res(line int, user, sn, typ string, st Status, code, msg string, attempts int, sec float64) Result {
	return Result{
		Line: line, Username: user, TokenSn: sn, TokenType: typ, Status: st, Code: code, Message: msg,
		Attempts: attempts, Duration: 20 * time.Millisecond * time.Duration(attempts),
		FinishedAt: t0.Add(time.Duration(sec * float64(time.Second))),
	}
}

// writeResults writes rows as a result file and returns its path.
func writeResults(t *testing.T, dir, name string, rows ...Result) string {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t *testing.T, opts PageOptions, srcs ...ResultSource) (*Page, string) {
	t.Helper()
	p, err := BuildPage(context.Background(), srcs, opts)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	return p, buf.String()
}

var figureRE = regexp.MustCompile(`data-figure="([^"]+)" data-value="([^"]*)"`)

// figures returns the page's data-figure values, as the browser check reads
// them.
func figures(page string) map[string]string {
	out := map[string]string{}
	for _, m := range figureRE.FindAllStringSubmatch(page, -1) {
		out[m[1]] = m[2]
	}
	return out
}

func wantFigures(t *testing.T, page string, want map[string]int) {
	t.Helper()
	got := figures(page)
	for k, v := range want {
		if got[k] != strconv.Itoa(v) {
			t.Errorf("figure %s = %q, want %d", k, got[k], v)
		}
	}
}

// A run and its retry: the retry's rows supersede the run's rows of the
// same registration (matched by username, type and serial, since a retry's
// lines point into the result it retried); a skipped row stands.
func TestPageMergesRetry(t *testing.T) {
	dir := t.TempDir()
	run := writeResults(t, dir, "run.csv",
		res(2, "alice", "+60100000001", "SMS", StatusOK, "0", "Success", 1, 0.1),
		res(3, "bob", "+60100000002", "SMS", StatusFailed, "29004", "Phone number had been used", 1, 0.2),
		res(4, "carol", "OTP1", "OTP", StatusError, "", "HTTP 503 after 5 attempt(s)", 5, 0.3),
		res(5, "dave", "12", "SMS", StatusInvalid, "", "SMS number \"12\" must be 8 to 15 digits", 0, 0.3),
		res(6, "erin", "+60100000001", "SMS", StatusSkipped, "", "duplicate of line 2", 0, 0.3),
	)
	retry := writeResults(t, dir, "run.retry.csv",
		res(3, "bob", "+60100000002", "SMS", StatusOK, "0", "Success", 1, 60),
		res(4, "carol", "OTP1", "OTP", StatusFailed, "29008", "An OTP token already registered to this user", 1, 60.1),
	)
	p, page := build(t, PageOptions{}, ResultSource{Path: run}, ResultSource{Path: retry})
	wantFigures(t, page, map[string]int{"rows": 5, "ok": 2, "failed": 1, "error": 0, "invalid": 1, "skipped": 1, "sent": 3})
	if n := p.files[0].superseded; n != 2 {
		t.Errorf("run.csv: %d rows superseded, want 2", n)
	}
	if !strings.Contains(page, `data-code="29008" data-count="1"`) || strings.Contains(page, `data-code="29004"`) {
		t.Errorf("codes: want 29008 once and no 29004 (superseded)")
	}
	for _, g := range []string{`data-group="29008" data-count="1"`, `data-group="invalid" data-count="1"`} {
		if !strings.Contains(page, g) {
			t.Errorf("page lacks the needs-action group %s", g)
		}
	}
	if strings.Contains(page, `data-group="error"`) {
		t.Errorf("the error row was retried: no error group expected")
	}

	// Alone, each file counts all its rows.
	_, page = build(t, PageOptions{}, ResultSource{Path: run})
	wantFigures(t, page, map[string]int{"rows": 5, "ok": 1, "failed": 1, "error": 1, "invalid": 1, "skipped": 1})
}

// Shard results each hold every line; the rows left to another shard are
// placeholders that only a single-file report counts.
func TestPageMergesShards(t *testing.T) {
	dir := t.TempDir()
	other := func(line int, user, sn, shard string) Result {
		return res(line, user, sn, "SMS", StatusSkipped, "", OtherShardPrefix+" (this is shard "+shard+")", 0, 0)
	}
	s0 := writeResults(t, dir, "s0.csv",
		res(2, "alice", "+60100000001", "SMS", StatusOK, "0", "Success", 1, 1),
		other(3, "bob", "+60100000002", "0/2"),
		res(4, "carol", "+60100000003", "SMS", StatusFailed, "22002", "User not found", 1, 1),
	)
	s1 := writeResults(t, dir, "s1.csv",
		other(2, "alice", "+60100000001", "1/2"),
		res(3, "bob", "+60100000002", "SMS", StatusOK, "0", "Success", 1, 2),
		other(4, "carol", "+60100000003", "1/2"),
	)
	p, page := build(t, PageOptions{}, ResultSource{Path: s0}, ResultSource{Path: s1})
	wantFigures(t, page, map[string]int{"rows": 3, "ok": 2, "failed": 1, "skipped": 0})
	if p.files[0].otherShard != 1 || p.files[1].otherShard != 2 {
		t.Errorf("other-shard rows: %d and %d, want 1 and 2", p.files[0].otherShard, p.files[1].otherShard)
	}
	_, page = build(t, PageOptions{}, ResultSource{Path: s1})
	wantFigures(t, page, map[string]int{"rows": 3, "ok": 1, "skipped": 2})
}

// With a summary, the page shows the run's own figures: they must equal
// the summary's, which is what the browser check compares.
func TestPageFiguresEqualSummary(t *testing.T) {
	dir := t.TempDir()
	rows := []Result{
		res(2, "alice", "+60100000001", "SMS", StatusOK, "0", "Success", 1, 0.5),
		res(3, "bob", "OTP9", "OTP", StatusFailed, "29017", "Invalid token status", 2, 1),
		res(4, "carol", "x", "SMS", StatusInvalid, "", "bad", 0, 1),
	}
	sum := NewSummary(t0)
	for _, r := range rows {
		sum.Add(r)
	}
	sum.InputSHA256 = strings.Repeat("ab", 32)
	sum.Version = "v1.2.3"
	sum.Parameters = map[string]string{"command": "run", "rate": "10"}
	sum.Limited, sum.Remaining = true, 7
	sum.Finish(t0.Add(1500 * time.Millisecond))
	snap := sum.Snapshot()
	path := writeResults(t, dir, "r.csv", rows...)
	_, page := build(t, PageOptions{}, ResultSource{Path: path, Summary: &snap})
	got := figures(page)
	want := map[string]string{
		"rows": "3", "ok": "1", "failed": "1", "invalid": "1", "error": "0", "skipped": "0", "sent": "2",
		"elapsed_seconds": "1.5", "rate_per_second": strconv.FormatFloat(snap.RatePerSecond, 'f', -1, 64),
		"input_sha256": snap.InputSHA256, "version": "v1.2.3", "remaining": "7",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("figure %s = %q, want %q (the summary's)", k, got[k], v)
		}
	}
	if got["parameters"] != "run --rate 10" {
		t.Errorf("parameters = %q, want %q", got["parameters"], "run --rate 10")
	}
}

// Every text from a result file or a server is escaped, the page loads
// nothing and runs nothing, and the one style sheet is allowed by its hash.
func TestPageIsSelfContainedAndEscaped(t *testing.T) {
	dir := t.TempDir()
	evil := `<script>alert("x")</script><img src=http://evil.example/p.png>` + "\u202eevil\x1b[2J"
	path := writeResults(t, dir, "evil.csv",
		res(2, `"><svg onload=alert(1)>`, "+60100000001", "SMS", StatusFailed, "<b>99</b>", evil, 1, 1),
		res(3, "bob", "OTP1", "OTP", StatusError, "", evil, 3, 2),
	)
	_, page := build(t, PageOptions{Title: "</title><script>x</script>"}, ResultSource{Path: path})
	lower := strings.ToLower(page)
	// Text is escaped, so every '<' left starts one of the page's own tags.
	for _, bad := range []string{"<script", "<img", "<b>", "<svg onload", "url(", "@import"} {
		if strings.Contains(lower, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if m := regexp.MustCompile(`<[^>]*\s(on[a-z]+|src|href|style)\s*=`).FindString(lower); m != "" {
		t.Errorf("page has a tag with an event handler, a source or a link: %s", m)
	}
	if strings.ContainsAny(page, "\u202e\x1b") || !strings.Contains(page, `\u202eevil\u001b[2J`) {
		t.Errorf("a bidirectional override or an escape from the server reached the page unsanitised")
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Errorf("the server's message is not shown escaped")
	}
	m := regexp.MustCompile(`(?s)<meta http-equiv="Content-Security-Policy" content="([^"]+)">.*<style>(.*?)</style>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSP meta before the style sheet")
	}
	csp := html.UnescapeString(m[1])
	sum := sha256.Sum256([]byte(m[2]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src "+hash) {
		t.Errorf("CSP %q: want default-src 'none' and style-src %s (the style sheet's hash)", csp, hash)
	}
	if strings.Count(lower, "<style") != 1 || strings.Contains(lower, " style=") {
		t.Errorf("want exactly one <style> element and no style attribute (the CSP allows only the hashed sheet)")
	}
}

// Each needs-action group lists at most RowsPerGroup rows and counts the
// rest, and carries the runbook's action for its code.
func TestPageGroupsAreBounded(t *testing.T) {
	dir := t.TempDir()
	var rows []Result
	for i := range 10 {
		rows = append(rows, res(2+i, fmt.Sprintf("u%d", i), fmt.Sprintf("+6010000%04d", i), "SMS", StatusFailed, "29004", "Phone number had been used", 1, float64(i)))
	}
	rows = append(rows, res(20, "z", "OTPZ", "OTP", StatusFailed, "77777", "Something new", 1, 11))
	path := writeResults(t, dir, "r.csv", rows...)
	p, page := build(t, PageOptions{RowsPerGroup: 3}, ResultSource{Path: path})
	g := p.groups["code 29004"]
	if g == nil || g.count != 10 || len(g.rows) != 3 {
		t.Fatalf("group 29004: %+v, want 10 rows counted and 3 kept", g)
	}
	if !strings.Contains(page, "… and 7 more") {
		t.Errorf("page does not count the 7 rows not listed")
	}
	if !strings.Contains(page, "free the number (or fix the row), then <code>tokenreg retry R.csv --codes 29004</code>") {
		t.Errorf("group 29004 lacks the runbook's action")
	}
	if !strings.Contains(page, "not documented by the vendor") || !strings.Contains(page, string(inlineMarkdown(RunbookFor(StatusFailed, "77777").Action))) {
		t.Errorf("an undocumented code lacks the runbook's 'other' action")
	}
}

// A malformed row is counted and quoted; the others are reported.
func TestPageUnreadableRows(t *testing.T) {
	dir := t.TempDir()
	path := writeResults(t, dir, "r.csv", res(2, "alice", "+60100000001", "SMS", StatusOK, "0", "Success", 1, 1))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "3,bob,+60100000002,SMS,weird,,,1,2,2026-11-28T13:00:02Z")
	f.Close()
	p, page := build(t, PageOptions{}, ResultSource{Path: path})
	wantFigures(t, page, map[string]int{"rows": 1, "ok": 1})
	if p.files[0].unreadable != 1 || !strings.Contains(page, "unknown status") {
		t.Errorf("unreadable row not reported: %d, %q", p.files[0].unreadable, p.rowErrors)
	}
}

// The throughput histogram keeps its bucket count whatever the span: the
// width doubles, and no row is lost, also for times before the first.
func TestTimeHistogram(t *testing.T) {
	tests := []struct {
		name  string
		times []time.Duration
		width time.Duration
	}{
		{"one second", []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond}, 10 * time.Millisecond},
		{"an hour", []time.Duration{0, time.Minute, time.Hour}, 40960 * time.Millisecond},
		{"back in time", []time.Duration{time.Second, 0, -3 * time.Second}, 80 * time.Millisecond},
	}
	for _, tt := range tests {
		var h timeHistogram
		for _, d := range tt.times {
			h.add(t0.Add(d))
		}
		total := 0
		for _, n := range h.n {
			total += n
		}
		if total != len(tt.times) || h.width != tt.width {
			t.Errorf("%s: %d counted, width %s; want %d, %s", tt.name, total, h.width, len(tt.times), tt.width)
		}
		for _, d := range tt.times {
			at := t0.Add(d)
			if at.Before(h.start) || !at.Before(h.start.Add(timeBuckets*h.width)) {
				t.Errorf("%s: %s outside [%s, +%d×%s)", tt.name, d, h.start, timeBuckets, h.width)
			}
		}
	}
}

func TestInlineMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain <text> & more", "plain &lt;text&gt; &amp; more"},
		{"run `a<b` then", "run <code>a&lt;b</code> then"},
		{"on **every** row", "on <strong>every</strong> row"},
		{"says *lost*, ok", "says <em>lost</em>, ok"},
		{"a lone * star", "a lone * star"},
	}
	for _, tt := range tests {
		if got := string(inlineMarkdown(tt.in)); got != tt.want {
			t.Errorf("inlineMarkdown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// BenchmarkPage reads a 100,000-row result, the work of `tokenreg report`;
// the 1,000,000-row time and peak RSS are cmd/e2ebench's "report" figure.
func BenchmarkPage(b *testing.B) {
	dir := b.TempDir()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.WriteHeader()
	for i := range 100_000 {
		st, code, msg := StatusOK, "0", "Success"
		if i%50 == 0 {
			st, code, msg = StatusFailed, "29004", "Phone number had been used"
		}
		w.Write(res(i+2, fmt.Sprintf("user%07d", i), fmt.Sprintf("+6011%08d", i), "SMS", st, code, msg, 1+i%3, float64(i)/1000))
	}
	path := filepath.Join(dir, "r.csv")
	os.WriteFile(path, buf.Bytes(), 0o600)
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		p, err := BuildPage(context.Background(), []ResultSource{{Path: path}}, PageOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.WriteHTML(&bytes.Buffer{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
