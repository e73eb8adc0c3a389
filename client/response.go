package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tokenreg/tokenreg/internal/safetext"
)

// MaxBodyBytes caps the response body read from the server; a larger body is
// a transport failure.
const MaxBodyBytes = 1 << 20

// Response is the server's verdict on one registration.
type Response struct {
	// Code is the server's code as text: "0" for success. It is always an
	// integer: an optional '-' and 1 to 18 ASCII digits. A numeric code in
	// the JSON is converted to its decimal text; a string code is kept as
	// written (leading zeros too), less surrounding spaces.
	Code string
	// Message is the server's message, verbatim but for what
	// safetext.Sanitize replaces (control and invisible format characters,
	// invalid UTF-8), so that it is safe to print anywhere, and cut to
	// MaxMessageBytes.
	Message string
	// Object is the raw JSON of the "object" field (null when absent).
	Object json.RawMessage
}

// OK reports whether the server applied the registration.
func (r Response) OK() bool { return r.Code == CodeSuccess }

// Class is Classify(r.Code).
func (r Response) Class() Class { return Classify(r.Code) }

// TransportError is a request that got no server verdict: the connection
// failed, timed out, or the answer was not a CENTAGATE response (non-2xx
// status, HTML from a proxy, truncated or non-JSON body, no code).
type TransportError struct {
	// Op says what failed, e.g. "send", "read body", "decode".
	Op string
	// StatusCode is the HTTP status, 0 if no response arrived.
	StatusCode int
	// RetryAfter is the server's Retry-After, 0 if absent or unparsable.
	RetryAfter time.Duration
	// MaybeSent is true when the request may have reached the server, so
	// that it may have been applied although no verdict came back. It is
	// false when nothing was written (connection refused, TLS handshake
	// failed) and when the server refused the request with a 3xx or 4xx
	// status (a 429 rate limit, a 404 from a proxy): those were not applied.
	MaybeSent bool
	// Timeout is true when the request's deadline passed.
	Timeout bool
	// Snippet is the start of an unusable body, for the operator's eyes:
	// one line of at most 80 bytes, sanitised (safetext.Sanitize).
	Snippet string
	// Err is the underlying error, if any.
	Err error
}

// Error describes the failure on one line. Everything in it that may come
// from the server (the snippet, and the text of an underlying error such
// as a refused redirect's host) is sanitised.
func (e *TransportError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.Snippet != "" {
		fmt.Fprintf(&b, " (body starts %q)", e.Snippet)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return safetext.Sanitize(b.String())
}

func (e *TransportError) Unwrap() error { return e.Err }

// ErrNoCode is wrapped when a JSON body has no usable "code" field.
var ErrNoCode = errors.New("response has no code")

// ErrBadCode is wrapped when the "code" field is not an integer (SPEC §1: a
// CENTAGATE code is a number, sent as a JSON number or string).
var ErrBadCode = errors.New("response code is not an integer")

// maxCodeDigits bounds a code's digits: every int64 fits, and no code a
// server means can be longer.
const maxCodeDigits = 18

// DecodeResponse turns an HTTP answer into a Response or a *TransportError.
// It accepts an integer code given as a JSON number or string, and an object
// that is null, missing, a JSON string or any other JSON value; it refuses
// non-2xx statuses, bodies that are not a JSON object with an integer code
// (ErrNoCode, ErrBadCode), and bodies over MaxBodyBytes. The message and
// the snippet are sanitised (safetext.Sanitize).
// now is used to interpret a Retry-After given as an HTTP date.
func DecodeResponse(status int, header http.Header, body []byte, now time.Time) (Response, error) {
	if status < 200 || status > 299 {
		return Response{}, &TransportError{
			Op:         "server answered",
			StatusCode: status,
			RetryAfter: ParseRetryAfter(header.Get("Retry-After"), now),
			MaybeSent:  maybeApplied(status),
			Snippet:    snippet(body),
		}
	}
	bad := func(err error) (Response, error) {
		return Response{}, &TransportError{Op: "decode response", StatusCode: status, MaybeSent: true, Snippet: snippet(body), Err: err}
	}
	if len(body) > MaxBodyBytes {
		return bad(fmt.Errorf("body over %d bytes", MaxBodyBytes))
	}
	var raw struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
		Object  json.RawMessage `json:"object"`
	}
	// Some Java and .NET stacks start their JSON with a UTF-8 byte order mark.
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(body, []byte("\uFEFF")))
	if len(trimmed) == 0 {
		return bad(errors.New("empty body"))
	}
	if trimmed[0] != '{' {
		return bad(errors.New("body is not a JSON object"))
	}
	if c, m, o, ok := splitPlain(trimmed); ok {
		raw.Code, raw.Message, raw.Object = c, m, o
	} else if err := json.Unmarshal(trimmed, &raw); err != nil {
		return bad(err)
	}
	code, ok := jsonScalar(raw.Code)
	code = strings.TrimSpace(code)
	if !ok || code == "" {
		return bad(ErrNoCode)
	}
	if !isIntegerCode(code) {
		return bad(ErrBadCode)
	}
	msg, _ := jsonScalar(raw.Message)
	msg = capMessage(safetext.Sanitize(msg))
	obj := raw.Object
	if len(obj) == 0 {
		obj = json.RawMessage("null")
	}
	return Response{Code: code, Message: msg, Object: obj}, nil
}

// MaxMessageBytes bounds the server message kept for a row: a CENTAGATE
// message is a short sentence, and a hostile server must not make every row
// of a result file, a log line and the summary a megabyte long.
const MaxMessageBytes = 1024

// capMessage cuts msg to at most MaxMessageBytes, on a character boundary,
// and says how long it was.
func capMessage(msg string) string {
	if len(msg) <= MaxMessageBytes {
		return msg
	}
	tail := fmt.Sprintf(" …[%d bytes in all]", len(msg))
	cut := MaxMessageBytes - len(tail)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + tail
}

// maybeApplied reports whether an answer with this HTTP status leaves open
// that the server applied the request: a 3xx or 4xx means it was refused.
func maybeApplied(status int) bool { return status < 300 || status >= 500 }

// isIntegerCode reports whether code is an optional '-' and 1 to
// maxCodeDigits ASCII digits.
func isIntegerCode(code string) bool {
	digits := strings.TrimPrefix(code, "-")
	if digits == "" || len(digits) > maxCodeDigits {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// plainJSONString reports whether b, the inside of a JSON string literal,
// needs no decoding.
func plainJSONString(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c == '"' || c < 0x20 {
			return false
		}
	}
	return utf8.Valid(b)
}

// jsonScalar returns the text of a JSON string (verbatim) or number (in
// decimal when it is a whole number); null and absent give "", true; other
// values give false.
func jsonScalar(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || string(v) == "null" {
		return "", true
	}
	switch v[0] {
	case '"':
		// Fast path: a plain string (no escapes, no control bytes, valid
		// UTF-8) is its own text; this saves a decode per answer.
		if len(v) >= 2 && v[len(v)-1] == '"' && plainJSONString(v[1:len(v)-1]) {
			return string(v[1 : len(v)-1]), true
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", false
		}
		return s, true
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return "", false
		}
		if i, err := n.Int64(); err == nil {
			return strconv.FormatInt(i, 10), true
		}
		// 29004.0 and 2.9004e4 are the code 29004. The bound keeps the
		// conversion exact (and defined) for every float it accepts.
		if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return strconv.FormatInt(int64(f), 10), true
		}
		return n.String(), true
	}
	return "", false
}

// maxRetryAfter caps a Retry-After: a server asking for more is treated as
// asking for this much, so that one bad header cannot stall a run for years.
const maxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads a Retry-After header given in seconds or as an HTTP
// date; it returns 0 when the header is empty, malformed or not in the
// future, and at most 24 hours.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// On ErrRange, secs is the largest or smallest int64.
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxRetryAfter)
		}
	}
	return 0
}

// snippet returns the start of body, at most 80 bytes, as one line of
// sanitised, valid UTF-8 for an error message: a proxy's page in Latin-1 is
// still shown (its odd bytes as U+FFFD), not dropped, no character is cut in
// two, and no escape sequence or bidirectional override gets through.
func snippet(body []byte) string {
	const maxLen = 80
	var b strings.Builder
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body) // utf8.RuneError, 1 for a bad byte
		c := string(r)
		if n > 1 || r < utf8.RuneSelf {
			c = safetext.Sanitize(string(body[:n]))
		}
		if b.Len()+len(c) > maxLen {
			break
		}
		b.WriteString(c)
		body = body[n:]
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// splitPlain is the fast path of the answer every server gives nearly
// always: one flat JSON object whose keys are exactly "code", "message" and
// "object", each at most once, and whose values are strings (valid UTF-8,
// no control bytes, JSON's escapes left as they are), integers or null. It returns the
// raw value of each, exactly as json.Unmarshal would put them in a
// json.RawMessage (a fuzz test holds it to that); anything else — another
// key, a key in another case or escaped, a nested value — returns false,
// for encoding/json to decode. An answer cost 2 µs in encoding/json, most
// of a row's decoding.
func splitPlain(b []byte) (code, message, object json.RawMessage, ok bool) {
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	// str returns the end of the string starting at b[i] == '"': valid
	// UTF-8, no control bytes, and only JSON's escapes (the server's object
	// is a string of escaped JSON). Its value is not decoded here.
	str := func() int {
		for j := i + 1; j < len(b); j++ {
			switch c := b[j]; {
			case c == '"':
				if !utf8.Valid(b[i+1 : j]) {
					return -1
				}
				return j + 1
			case c < 0x20:
				return -1
			case c == '\\':
				if j+1 >= len(b) {
					return -1
				}
				switch b[j+1] {
				case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
					j++
				case 'u':
					if j+5 >= len(b) {
						return -1
					}
					for _, h := range b[j+2 : j+6] {
						if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
							return -1
						}
					}
					j += 5
				default:
					return -1
				}
			}
		}
		return -1
	}
	ws()
	if i >= len(b) || b[i] != '{' {
		return nil, nil, nil, false
	}
	i++
	ws()
	if i < len(b) && b[i] == '}' {
		i++
		ws()
		return nil, nil, nil, i == len(b)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, nil, nil, false
		}
		end := str()
		if end < 0 {
			return nil, nil, nil, false
		}
		var dst *json.RawMessage
		switch string(b[i+1 : end-1]) {
		case "code":
			dst = &code
		case "message":
			dst = &message
		case "object":
			dst = &object
		default:
			return nil, nil, nil, false
		}
		if *dst != nil {
			return nil, nil, nil, false // a key twice: encoding/json's rule decides
		}
		i = end
		ws()
		if i >= len(b) || b[i] != ':' {
			return nil, nil, nil, false
		}
		i++
		ws()
		start := i
		switch {
		case i < len(b) && b[i] == '"':
			if i = str(); i < 0 {
				return nil, nil, nil, false
			}
		case i+4 <= len(b) && string(b[i:i+4]) == "null":
			i += 4
		case i < len(b) && (b[i] == '-' || b[i] >= '0' && b[i] <= '9'):
			if b[i] == '-' {
				i++
			}
			d := i
			for i < len(b) && b[i] >= '0' && b[i] <= '9' {
				i++
			}
			if i == d || b[d] == '0' && i-d > 1 {
				return nil, nil, nil, false // no digits, or a leading zero
			}
			if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
				return nil, nil, nil, false
			}
		default:
			return nil, nil, nil, false
		}
		*dst = b[start:i:i]
		ws()
		if i >= len(b) {
			return nil, nil, nil, false
		}
		switch b[i] {
		case ',':
			i++
			ws()
			continue
		case '}':
			i++
			ws()
			if i != len(b) {
				return nil, nil, nil, false
			}
			return code, message, object, true
		}
		return nil, nil, nil, false
	}
}
