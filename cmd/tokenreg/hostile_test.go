package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileBytes are what a hostile server sends to take over a terminal or
// hide text: ESC sequences (retitle, clear screen), BEL, the 8-bit CSI, a
// right-to-left override and a bidirectional isolate.
var hostileBytes = []string{"\x1b", "\x07", "\u009b", "\u202e", "\u2066"}

const hostileText = "\x1b]0;owned\x07\x1b[2J\x1b[H\u009b31m\u202eevil\u2066"

// hostileServer answers every registration on 127.0.0.1 with what the
// answer function makes of the request's username and cenToken.
func hostileServer(t *testing.T, answer func(w http.ResponseWriter, username, cenToken string)) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Username, CenToken string }
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &req)
		answer(w, req.Username, req.CenToken)
	}))
	t.Cleanup(s.Close)
	return s
}

// jsonString is s as a JSON string literal; control characters escaped as
// JSON wants, the bidirectional characters raw.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// assertNoHostileBytes fails if data holds a raw control or bidirectional
// character of hostileBytes.
func assertNoHostileBytes(t *testing.T, where string, data []byte) {
	t.Helper()
	for _, b := range hostileBytes {
		if i := bytes.Index(data, []byte(b)); i >= 0 {
			lo, hi := max(0, i-60), min(len(data), i+60)
			t.Errorf("%s holds the raw character %q at byte %d: …%q…", where, b, i, data[lo:hi])
		}
	}
}

// checkOutputs runs assertNoHostileBytes on stderr and every file in dir but
// the input, and checks the modes of the summary (private) and the metrics
// (readable by node_exporter).
func checkOutputs(t *testing.T, dir, stderr string) {
	t.Helper()
	assertNoHostileBytes(t, "stderr", []byte(stderr))
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "in.csv" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		assertNoHostileBytes(t, e.Name(), data)
	}
	for name, want := range map[string]os.FileMode{"summary.json": 0o600, "tokenreg.prom": 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("the run did not write %s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", name, fi.Mode().Perm(), want)
		}
	}
}

// TestHostileServer runs the whole CLI against a server that echoes escape
// sequences, bidirectional overrides and the cenToken (as sent, and
// upper-cased) in its codes and messages, with debug logs in both formats:
// none of it reaches the result, stderr, the summary or the metrics raw
// (issue 16.2).
func TestHostileServer(t *testing.T) {
	s := hostileServer(t, func(w http.ResponseWriter, username, cen string) {
		switch username {
		case "alice": // a business error quoting the request back
			fmt.Fprintf(w, `{"code":"29004","message":%s}`, jsonString("used "+hostileText+" "+strings.ToUpper(cen)+" "+cen))
		case "bob": // the cenToken as the code
			fmt.Fprintf(w, `{"code":%s,"message":"m"}`, jsonString(strings.ToUpper(cen)))
		case "carol": // a code carrying an escape sequence
			fmt.Fprintf(w, `{"code":%s,"message":"m"}`, jsonString("0"+hostileText))
		case "dave": // an error page quoting the request
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, hostileText+"<html>"+strings.ToUpper(cen)+"</html>")
		case "erin": // success, with a hostile message
			fmt.Fprintf(w, `{"code":0,"message":%s}`, jsonString(hostileText+cen))
		default: // a code with a bidi override inside a JSON number's place
			io.WriteString(w, "{\"code\":\"\u202e4009\",\"message\":\"m\"}")
		}
	})
	const input = "username,tokenSn,tokenType\nalice,+60100000001,1\nbob,+60100000002,1\ncarol,+60100000003,1\ndave,+60100000004,1\nerin,+60100000005,1\nfrank,+60100000006,1\n"
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", input)
			args := append(append([]string{"run", in}, outputArgs(dir)...), "--attempts", "2", "--log-format", format, "--abort-after", "0")
			code, stderr := leakRun(t, dir, canaryEnv(s.URL), args...)
			if code != exitNotAllOK {
				t.Errorf("exit = %d, want %d; stderr:\n%s", code, exitNotAllOK, stderr)
			}
			checkOutputs(t, dir, stderr)
			res := readResults(t, filepath.Join(dir, "result.csv"))
			want := map[int]struct{ status, code, msg string }{
				2: {"failed", "29004", `used \u001b]0;owned\u0007\u001b[2J\u001b[H\u009b31m\u202eevil\u2066 [REDACTED] [REDACTED]`},
				3: {"error", "", "response code is not an integer"},
				4: {"error", "", "response code is not an integer"},
				5: {"error", "", `HTTP 502 Bad Gateway (body starts "\\u001b]0;owned\\u0007`},
				6: {"ok", "0", `\u001b]0;owned\u0007\u001b[2J\u001b[H\u009b31m\u202eevil\u2066[REDACTED]`},
				7: {"error", "", "response code is not an integer"},
			}
			for line, w := range want {
				r := res[line]
				if string(r.Status) != w.status || r.Code != w.code || !strings.Contains(r.Message, w.msg) {
					t.Errorf("line %d: %s %q %q, want %s %q with %q", line, r.Status, r.Code, r.Message, w.status, w.code, w.msg)
				}
			}
			prom, _ := os.ReadFile(filepath.Join(dir, "tokenreg.prom"))
			for _, l := range strings.Split(string(prom), "\n") {
				if strings.HasPrefix(l, "tokenreg_rows_by_code{") && !strings.Contains(l, `code="0"`) && !strings.Contains(l, `code="29004"`) {
					t.Errorf("metrics line %q: want only the integer codes 0 and 29004", l)
				}
			}
		})
	}
}

// TestHostileServerBreaker: the breaker's reason and the summary's aborted
// line quote the server's code and message; a hostile message reaches
// neither raw, in stderr or in the --summary JSON.
func TestHostileServerBreaker(t *testing.T) {
	s := hostileServer(t, func(w http.ResponseWriter, _, cen string) {
		fmt.Fprintf(w, `{"code":10002,"message":%s}`, jsonString("Invalid cenToken "+strings.ToUpper(cen)+hostileText))
	})
	var b strings.Builder
	b.WriteString("username,tokenSn,tokenType\n")
	for i := range 30 {
		fmt.Fprintf(&b, "user%d,+6010%08d,1\n", i, i)
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			in := writeFile(t, dir, "in.csv", b.String())
			args := append(append([]string{"run", in}, outputArgs(dir)...), "--log-format", format)
			code, stderr := leakRun(t, dir, canaryEnv(s.URL), args...)
			if code != exitAborted {
				t.Errorf("exit = %d, want %d; stderr:\n%s", code, exitAborted, stderr)
			}
			checkOutputs(t, dir, stderr)
			data, err := os.ReadFile(filepath.Join(dir, "summary.json"))
			if err != nil {
				t.Fatal(err)
			}
			var sum struct{ Aborted string }
			if err := json.Unmarshal(data, &sum); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sum.Aborted, `10002 (Invalid cenToken [REDACTED]\u001b]0;owned`) {
				t.Errorf("summary aborted = %q, want the code and the message, scrubbed and escaped", sum.Aborted)
			}
			if !strings.Contains(stderr, `[REDACTED]\u001b]0;owned`) {
				t.Errorf("stderr lacks the escaped message:\n%s", stderr)
			}
		})
	}
}
