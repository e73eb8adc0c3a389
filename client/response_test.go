package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/internal/safetext"
)

var testNow = time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC)

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Response
	}{
		{"string code", `{"code":"0","message":"Success","object":null}`, Response{"0", "Success", json.RawMessage("null")}},
		{"numeric code 0", `{"code":0,"message":"Success"}`, Response{"0", "Success", json.RawMessage("null")}},
		{"numeric code 29004", `{"code":29004,"message":"Phone number had been used"}`, Response{"29004", "Phone number had been used", json.RawMessage("null")}},
		{"numeric code 29004.0", `{"code":29004.0,"message":"m"}`, Response{"29004", "m", json.RawMessage("null")}},
		{"numeric code with exponent", `{"code":2.9004e4,"message":"m"}`, Response{"29004", "m", json.RawMessage("null")}},
		{"negative code", `{"code":-1,"message":"m"}`, Response{"-1", "m", json.RawMessage("null")}},
		{"negative string code", `{"code":"-1","message":"m"}`, Response{"-1", "m", json.RawMessage("null")}},
		{"code with spaces", `{"code":" 29004 ","message":"m"}`, Response{"29004", "m", json.RawMessage("null")}},
		{"string code leading zeros kept", `{"code":"007","message":"m"}`, Response{"007", "m", json.RawMessage("null")}},
		{"18-digit code", `{"code":"123456789012345678"}`, Response{"123456789012345678", "", json.RawMessage("null")}},
		{"message verbatim but its line ends", `{"code":"0","message":"  Success \n"}`, Response{"0", "  Success  ", json.RawMessage("null")}},
		{"message ESC sequence escaped", `{"code":"0","message":"\u001b]0;pwned\u0007\u001b[2Jok"}`, Response{"0", `\u001b]0;pwned\u0007\u001b[2Jok`, json.RawMessage("null")}},
		{"message raw C1 CSI escaped", "{\"code\":\"0\",\"message\":\"a\u009b2Jb\"}", Response{"0", `a\u009b2Jb`, json.RawMessage("null")}},
		{"message bidi override escaped", `{"code":"29004","message":"used by \u202eresu"}`, Response{"29004", `used by \u202eresu`, json.RawMessage("null")}},
		{"message raw bidi isolate escaped", "{\"code\":\"29004\",\"message\":\"a\u2066b\u2069\"}", Response{"29004", `a\u2066b\u2069`, json.RawMessage("null")}},
		{"numeric message", `{"code":"0","message":42}`, Response{"0", "42", json.RawMessage("null")}},
		{"object message ignored", `{"code":"0","message":{"a":1}}`, Response{"0", "", json.RawMessage("null")}},
		{"no message", `{"code":"22002"}`, Response{"22002", "", json.RawMessage("null")}},
		{"object null", `{"code":"0","message":"ok","object":null}`, Response{"0", "ok", json.RawMessage("null")}},
		{"object missing", `{"code":"0","message":"ok"}`, Response{"0", "ok", json.RawMessage("null")}},
		{"object string holding JSON", `{"code":"0","message":"ok","object":"{\"tokenSn\":\"A1\"}"}`, Response{"0", "ok", json.RawMessage(`"{\"tokenSn\":\"A1\"}"`)}},
		{"object object", `{"code":"0","message":"ok","object":{"tokenSn":"A1"}}`, Response{"0", "ok", json.RawMessage(`{"tokenSn":"A1"}`)}},
		{"object array", `{"code":"0","message":"ok","object":[1,2]}`, Response{"0", "ok", json.RawMessage(`[1,2]`)}},
		{"extra fields", `{"code":"29008","message":"m","object":null,"trace":"x","time":123,"nested":{"a":[1]}}`, Response{"29008", "m", json.RawMessage("null")}},
		{"surrounding whitespace", " \r\n\t{\"code\":\"0\"}\r\n", Response{"0", "", json.RawMessage("null")}},
		{"UTF-8 byte order mark", "\uFEFF{\"code\":\"0\",\"message\":\"ok\"}", Response{"0", "ok", json.RawMessage("null")}},
		{"unicode message", `{"code":"22002","message":"Utilisateur introuvable: ádmín"}`, Response{"22002", "Utilisateur introuvable: ádmín", json.RawMessage("null")}},
		{"non-UTF-8 message replaced", "{\"code\":\"22002\",\"message\":\"n\xe3o\"}", Response{"22002", "n\uFFFDo", json.RawMessage("null")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeResponse(200, nil, []byte(tt.body), testNow)
			if err != nil {
				t.Fatalf("DecodeResponse(200, %q) error = %v, want %+v", tt.body, err, tt.want)
			}
			if got.Code != tt.want.Code || got.Message != tt.want.Message || !bytes.Equal(got.Object, tt.want.Object) {
				t.Errorf("DecodeResponse(200, %q) = %+v (object %s), want %+v (object %s)", tt.body, got, got.Object, tt.want, tt.want.Object)
			}
		})
	}
}

// wantTransport describes the *TransportError a case must produce.
type wantTransport struct {
	op         string
	status     int
	retryAfter time.Duration
	maybeSent  bool
	errIs      error  // if set, errors.Is(err, errIs)
	text       string // if set, the error text contains it
}

func checkTransportError(t *testing.T, what string, err error, want wantTransport) *TransportError {
	t.Helper()
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("%s error = %v (%T), want a *TransportError", what, err, err)
	}
	if want.op != "" && te.Op != want.op {
		t.Errorf("%s Op = %q, want %q", what, te.Op, want.op)
	}
	if te.StatusCode != want.status {
		t.Errorf("%s StatusCode = %d, want %d", what, te.StatusCode, want.status)
	}
	if te.RetryAfter != want.retryAfter {
		t.Errorf("%s RetryAfter = %v, want %v", what, te.RetryAfter, want.retryAfter)
	}
	if te.MaybeSent != want.maybeSent {
		t.Errorf("%s MaybeSent = %t, want %t", what, te.MaybeSent, want.maybeSent)
	}
	if want.errIs != nil && !errors.Is(err, want.errIs) {
		t.Errorf("%s error = %v, want errors.Is %v", what, err, want.errIs)
	}
	if want.text != "" && !strings.Contains(err.Error(), want.text) {
		t.Errorf("%s error = %q, want it to contain %q", what, err, want.text)
	}
	return te
}

func TestDecodeResponseTransportErrors(t *testing.T) {
	const htmlPage = "<html>\n<head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center></body></html>"
	big := `{"code":"0","message":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   wantTransport
	}{
		{"404", 404, nil, "Not Found", wantTransport{op: "server answered", status: 404, text: "HTTP 404 Not Found"}},
		{"500", 500, nil, `{"code":"0"}`, wantTransport{op: "server answered", status: 500, maybeSent: true}},
		{"502 HTML page", 502, http.Header{"Content-Type": {"text/html"}}, htmlPage, wantTransport{op: "server answered", status: 502, maybeSent: true, text: "502 Bad Gateway</title>"}},
		{"503 Retry-After", 503, http.Header{"Retry-After": {"7"}}, "", wantTransport{status: 503, retryAfter: 7 * time.Second, maybeSent: true, text: "retry after 7s"}},
		{"429 Retry-After seconds", 429, http.Header{"Retry-After": {"5"}}, "slow down", wantTransport{status: 429, retryAfter: 5 * time.Second}},
		{"429 Retry-After date", 429, http.Header{"Retry-After": {testNow.Add(90 * time.Second).Format(http.TimeFormat)}}, "", wantTransport{status: 429, retryAfter: 90 * time.Second}},
		{"429 Retry-After garbage", 429, http.Header{"Retry-After": {"soon"}}, "", wantTransport{status: 429}},
		{"429 no Retry-After", 429, nil, "", wantTransport{status: 429}},
		{"301", 301, http.Header{"Location": {"https://elsewhere/"}}, "", wantTransport{status: 301}},
		{"100", 100, nil, "", wantTransport{status: 100, maybeSent: true}},
		{"200 HTML", 200, nil, htmlPage, wantTransport{op: "decode response", status: 200, maybeSent: true, text: "not a JSON object"}},
		{"200 empty body", 200, nil, "", wantTransport{op: "decode response", status: 200, maybeSent: true, text: "empty body"}},
		{"204 empty body", 204, nil, "", wantTransport{status: 204, maybeSent: true}},
		{"200 whitespace body", 200, nil, " \r\n", wantTransport{status: 200, maybeSent: true, text: "empty body"}},
		{"truncated JSON", 200, nil, `{"code":"0","mess`, wantTransport{status: 200, maybeSent: true}},
		{"JSON array", 200, nil, `[{"code":"0"}]`, wantTransport{status: 200, maybeSent: true}},
		{"JSON string", 200, nil, `"0"`, wantTransport{status: 200, maybeSent: true}},
		{"JSON number", 200, nil, `0`, wantTransport{status: 200, maybeSent: true}},
		{"JSON null", 200, nil, `null`, wantTransport{status: 200, maybeSent: true}},
		{"no code", 200, nil, `{"message":"Success","object":null}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"empty object", 200, nil, `{}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"code null", 200, nil, `{"code":null,"message":"m"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"code empty string", 200, nil, `{"code":"","message":"m"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"code blank string", 200, nil, `{"code":"  ","message":"m"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"code object", 200, nil, `{"code":{"value":"0"},"message":"m"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"code array", 200, nil, `{"code":["0"]}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"code bool", 200, nil, `{"code":true}`, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}},
		{"fractional code", 200, nil, `{"code":1.5,"message":"m"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"huge code", 200, nil, `{"code":1e300}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"19-digit code", 200, nil, `{"code":"1234567890123456789"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"word code", 200, nil, `{"code":"OK","message":"m"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"hex code (a cenToken)", 200, nil, `{"code":"e95156d009b369eae824aa2292b71553c79b21be972f9d84627c4c5ce4e0d439"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"code with ESC", 200, nil, `{"code":"0\u001b[2J"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"code with bidi override", 200, nil, `{"code":"\u202e4009"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"code with plus sign", 200, nil, `{"code":"+0"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"code with inner space", 200, nil, `{"code":"29 004"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"code non-ASCII digits", 200, nil, `{"code":"٠"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"code minus only", 200, nil, `{"code":"-"}`, wantTransport{status: 200, maybeSent: true, errIs: ErrBadCode}},
		{"trailing garbage", 200, nil, `{"code":"0"} {"code":"1"}`, wantTransport{status: 200, maybeSent: true}},
		{"body over MaxBodyBytes", 200, nil, big, wantTransport{status: 200, maybeSent: true, text: "body over"}},
		{"non-UTF-8 bytes", 200, nil, "\xff\xfe<\x00h\x00t\x00m\x00l\x00>", wantTransport{status: 200, maybeSent: true}},
		{"Latin-1 error page", 500, nil, "\xc9chec: serveur indisponible", wantTransport{status: 500, maybeSent: true, text: "\uFFFDchec: serveur indisponible"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeResponse(tt.status, tt.header, []byte(tt.body), testNow)
			if err == nil {
				t.Fatalf("DecodeResponse(%d, %.40q) = %+v, want a transport error", tt.status, tt.body, got)
			}
			te := checkTransportError(t, "DecodeResponse", err, tt.want)
			if len(te.Snippet) > 80 || strings.ContainsAny(te.Snippet, "\n\r\t") || !isValidUTF8(te.Snippet) {
				t.Errorf("Snippet = %q, want one line of at most 80 valid UTF-8 bytes", te.Snippet)
			}
		})
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestSnippet(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"short", "Bad Gateway", "Bad Gateway"},
		{"whitespace folded", "<html>\n\t<body>  x  </body>\r\n", "<html> <body> x </body>"},
		{"cut at 80 bytes", strings.Repeat("a", 100), strings.Repeat("a", 80)},
		{"no character cut in two", strings.Repeat("a", 79) + "é and more", strings.Repeat("a", 79)},
		{"invalid bytes shown", "\xc9chec", "\uFFFDchec"},
		{"invalid first byte", "\xff<html>", "\uFFFD<html>"},
		{"replacements within 80 bytes", strings.Repeat("\xff", 100), strings.Repeat("\uFFFD", 26)},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := snippet([]byte(tt.body)); got != tt.want {
				t.Errorf("snippet(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestTransportErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *TransportError
		want string
	}{
		{"send", &TransportError{Op: "send", Err: errors.New("connection refused")}, "send: connection refused"},
		{"status", &TransportError{Op: "server answered", StatusCode: 429, RetryAfter: 5 * time.Second, Snippet: "slow down"}, `server answered: HTTP 429 Too Many Requests (body starts "slow down") (retry after 5s)`},
		{"decode", &TransportError{Op: "decode response", StatusCode: 200, Err: ErrNoCode, Snippet: "{}"}, `decode response: HTTP 200 OK: response has no code (body starts "{}")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	inner := errors.New("inner")
	if err := (&TransportError{Op: "x", Err: inner}); !errors.Is(err, inner) {
		t.Errorf("errors.Is(%v, inner) = false, want true", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
	}{
		{"empty", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"seconds with spaces", " 3 ", 3 * time.Second},
		{"zero", "0", 0},
		{"negative", "-5", 0},
		{"garbage", "soon", 0},
		{"fraction", "1.5", 0},
		{"seconds and unit", "5s", 0},
		{"one day", "86400", 24 * time.Hour},
		{"over a day capped", "86401", 24 * time.Hour},
		{"huge capped", "999999999", 24 * time.Hour},
		{"beyond int64 capped", "99999999999999999999999", 24 * time.Hour},
		{"beyond int64 negative", "-99999999999999999999999", 0},
		{"date in the future", testNow.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{"date now", testNow.Format(http.TimeFormat), 0},
		{"date in the past", testNow.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"date far in the future capped", testNow.AddDate(10, 0, 0).Format(http.TimeFormat), 24 * time.Hour},
		{"RFC 850 date", testNow.Add(time.Minute).Format("Monday, 02-Jan-06 15:04:05 GMT"), time.Minute},
		{"ANSI C date", testNow.Add(time.Minute).Format(time.ANSIC), time.Minute},
		{"date garbage", "Fri, 99 Foo 2026 25:00:00 GMT", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseRetryAfter(tt.in, testNow); got != tt.want {
				t.Errorf("ParseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzDecodeResponse(f *testing.F) {
	seeds := []struct {
		status     int
		retryAfter string
		body       string
	}{
		{200, "", `{"code":"0","message":"Success","object":null}`},
		{200, "", `{"code":29004,"message":"Phone number had been used"}`},
		{200, "", `{"code":29004.0}`},
		{200, "", `{"code":" 0 ","object":"{\"a\":1}"}`},
		{200, "", `{"code":null}`},
		{200, "", `{"code":{"x":1}}`},
		{200, "", `{"message":"no code"}`},
		{200, "", `[{"code":"0"}]`},
		{200, "", `{"code":"0","mess`},
		{200, "", ""},
		{200, "", "<html><body>Gateway</body></html>"},
		{200, "", "\uFEFF{\"code\":\"0\"}"},
		{200, "", "{\"code\":\"0\",\"message\":\"\xff\xfe\"}"},
		{201, "", `{"code":1e400}`},
		{204, "", ""},
		{404, "", "Not Found"},
		{429, "5", `{"code":"0"}`},
		{429, "Wed, 21 Oct 2015 07:28:00 GMT", ""},
		{500, "", `{"code":"0"}`},
		{502, "", "<html>502 Bad Gateway</html>"},
		{0, "", `{"code":"0"}`},
		{-1, "", `{"code":"0"}`},
		{200, "", "{\"code\":\"0\",\"message\":\"\x1b[2J\u202e\"}"},
		{200, "", `{"code":"0\u001b"}`},
		{502, "", "\x1b]0;title\x07<html>\u2066"},
	}
	for _, s := range seeds {
		f.Add(s.status, s.retryAfter, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		header := http.Header{}
		if retryAfter != "" {
			header.Set("Retry-After", retryAfter)
		}
		checkSplitPlain(t, bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\uFEFF"))))
		got, err := DecodeResponse(status, header, body, testNow)
		if err != nil {
			var te *TransportError
			if !errors.As(err, &te) {
				t.Fatalf("DecodeResponse(%d, %q) error = %v (%T), want a *TransportError", status, body, err, err)
			}
			if te.RetryAfter < 0 || te.RetryAfter > 24*time.Hour {
				t.Errorf("RetryAfter = %v, want within [0, 24h]", te.RetryAfter)
			}
			if len(te.Snippet) > 80 || !isValidUTF8(te.Snippet) || !safetext.IsClean(te.Snippet) {
				t.Errorf("Snippet = %q, want at most 80 bytes of valid, sanitised UTF-8", te.Snippet)
			}
			if msg := te.Error(); !safetext.IsClean(msg) {
				t.Errorf("Error() = %q, want sanitised text", msg)
			}
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("DecodeResponse(%d, %q) = %+v, nil; want a transport error for a non-2xx status", status, body, got)
		}
		if !isIntegerCode(got.Code) {
			t.Errorf("DecodeResponse(%d, %q).Code = %q, want an integer code", status, body, got.Code)
		}
		if !safetext.IsClean(got.Message) || len(got.Message) > MaxMessageBytes {
			t.Errorf("DecodeResponse(%d, %q).Message = %q, want sanitised text of at most MaxMessageBytes", status, body, got.Message)
		}
		if !json.Valid(got.Object) {
			t.Errorf("DecodeResponse(%d, %q).Object = %q, want valid JSON", status, body, got.Object)
		}
		if len(body) > MaxBodyBytes {
			t.Errorf("DecodeResponse accepted a body of %d bytes, over MaxBodyBytes", len(body))
		}
	})
}

// TestTransportErrorSanitised checks that an error page or a refused
// redirect cannot put an escape sequence or a bidirectional override into
// the text that becomes a row's message, a log line and the breaker's
// reason.
func TestTransportErrorSanitised(t *testing.T) {
	body := "\x1b]0;owned\x07\x1b[2J\u202eerror page\u2066\u009b31m"
	_, err := DecodeResponse(502, nil, []byte(body), testNow)
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("DecodeResponse(502) error = %v, want a *TransportError", err)
	}
	for what, s := range map[string]string{"Snippet": te.Snippet, "Error()": err.Error()} {
		if strings.ContainsAny(s, "\x1b\x07\u202e\u2066\u009b") {
			t.Errorf("%s = %q, holds a raw control or bidi character", what, s)
		}
		if !strings.Contains(s, `\u001b]0;owned`) || !strings.Contains(s, `\u202eerror page`) {
			t.Errorf("%s = %q, want the sequences shown escaped", what, s)
		}
	}
	// An underlying error's text (a refused redirect names the host the
	// server chose) is sanitised too.
	te = &TransportError{Op: "send", Err: errors.New("refusing redirect to https://evil\u202ehost\x1b[2J")}
	if got := te.Error(); strings.ContainsAny(got, "\x1b\u202e") {
		t.Errorf("Error() = %q, holds a raw control or bidi character", got)
	}
}

// TestDecodeResponseCapsMessage: a hostile server cannot make every result
// row, log line and summary entry a megabyte long.
func TestDecodeResponseCapsMessage(t *testing.T) {
	for _, msg := range []string{strings.Repeat("é", MaxBodyBytes/4), strings.Repeat("x", MaxMessageBytes+1), strings.Repeat("\u001b", 500)} {
		body, _ := json.Marshal(map[string]string{"code": "29004", "message": msg})
		got, err := DecodeResponse(200, nil, body, testNow)
		if err != nil {
			t.Fatalf("DecodeResponse(%d-byte message) error = %v", len(msg), err)
		}
		if len(got.Message) > MaxMessageBytes || !isValidUTF8(got.Message) || !strings.Contains(got.Message, "bytes in all]") {
			t.Errorf("DecodeResponse(%d-byte message).Message has %d bytes (%.40q…), want at most %d valid UTF-8 saying how long it was", len(msg), len(got.Message), got.Message, MaxMessageBytes)
		}
	}
	exact := strings.Repeat("x", MaxMessageBytes)
	body, _ := json.Marshal(map[string]string{"code": "0", "message": exact})
	if got, _ := DecodeResponse(200, nil, body, testNow); got.Message != exact {
		t.Errorf("a message of exactly MaxMessageBytes was changed to %d bytes", len(got.Message))
	}
}

// checkSplitPlain holds the fast path of DecodeResponse to encoding/json:
// what it accepts, json.Unmarshal accepts too, with the same raw values.
func checkSplitPlain(t *testing.T, b []byte) {
	t.Helper()
	code, msg, obj, ok := splitPlain(b)
	if !ok {
		return
	}
	var raw struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
		Object  json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("splitPlain(%q) accepted what encoding/json refuses: %v", b, err)
	}
	if !bytes.Equal(code, raw.Code) || !bytes.Equal(msg, raw.Message) || !bytes.Equal(obj, raw.Object) {
		t.Fatalf("splitPlain(%q) = %q, %q, %q; encoding/json gives %q, %q, %q", b, code, msg, obj, raw.Code, raw.Message, raw.Object)
	}
}

// TestSplitPlain: the answers servers give take the fast path, with the
// values encoding/json would give; the others go to encoding/json.
func TestSplitPlain(t *testing.T) {
	for _, c := range []struct {
		body string
		fast bool
	}{
		{`{"code":"0","message":"Success","object":null}`, true},
		{` { "code" : 29004 , "message":"Phone number had been used" } `, true},
		{`{}`, true},
		{`{"object":null,"code":"-1"}`, true},
		{`{"code":"0","message":"Succès ✓"}`, true},
		{`{"code":"0","Code":"1"}`, false},       // case-folded key: encoding/json's rule
		{`{"code":"0","code":"1"}`, false},       // a key twice
		{`{"code":"0","extra":1}`, false},        // another key
		{`{"code":"0","object":{"a":1}}`, false}, // nested
		{`{"code":"0","message":"a\"b"}`, true},  // an escape, left for jsonScalar
		{`{"code":"0","message":"Success","object":"{\"tokenSn\":\"+60155555555\"}"}`, true},
		{`{"code":"0","message":"\u00e9\/\n"}`, true},
		{`{"code":"0","message":"\x"}`, false}, // not an escape
		{`{"code":"0","message":"\u00g9"}`, false},
		{`{"code":"0","message":"ab\`, false},
		{`{"co\u0064e":"0"}`, false}, // an escaped key: encoding/json's rule
		{`{"code":01}`, false},       // a leading zero: not JSON
		{`{"code":29004.0}`, false},
		{`{"code":-}`, false},
		{`{"code":"0",}`, false},
		{`{"code":"0"} x`, false},
		{"{\"code\":\"0\xff\"}", false},
		{`{"code":"0"`, false},
		{`{"code":nul}`, false},
		{`{"code":true}`, false},
	} {
		_, _, _, ok := splitPlain([]byte(c.body))
		if ok != c.fast {
			t.Errorf("splitPlain(%s) ok = %t, want %t", c.body, ok, c.fast)
		}
		checkSplitPlain(t, []byte(c.body))
	}
}
