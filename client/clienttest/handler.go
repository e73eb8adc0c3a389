package clienttest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/tokenreg/tokenreg/client"
)

// The simulator's demo credentials, documented in samples/README.md. An
// Options field left empty takes the matching default.
const (
	DefaultAdmin      = "admin"
	DefaultAuthToken  = "demo-auth-token"
	DefaultSecretCode = "demo-secret-code"
)

// DefaultBasePath is the web-service root of a CENTAGATE deployment.
const DefaultBasePath = "/CentagateWS/webresources"

// maxRequestBody bounds the request body read; a real body is ~150 bytes.
const maxRequestBody = 64 << 10

// Options configure a Handler or a Server. The zero value expects the demo
// credentials and adds no latency, no rate limit and no faults.
type Options struct {
	// Admin, AuthToken and SecretCode are the credentials the server
	// expects: the admin path segment must equal Admin and the cenToken
	// must equal client.CenToken(Admin, AuthToken, SecretCode), else the
	// answer is 10002 "Invalid cenToken". Empty fields take the Default
	// values.
	Admin, AuthToken, SecretCode string
	// Latency delays every answer by Latency ± a uniform Jitter (never
	// below 0). The wait ends early if the client goes away; Close cuts it
	// short and the request is answered at once.
	Latency, Jitter time.Duration
	// RateLimit is the number of requests per second accepted, with a
	// token bucket of burst max(1, ceil(RateLimit/10)); the excess gets
	// HTTP 429 with Retry-After: 1 and is not applied. 0 means no limit.
	RateLimit float64
	// Faults are the kinds injected; each request, with probability
	// FaultRate (0..1), gets one chosen uniformly from Faults. Unknown
	// kinds are answered normally.
	Faults    []Fault
	FaultRate float64
	// Seed seeds the random source of faults and jitter, so that a run is
	// deterministic for a given request order.
	Seed int64
	// BasePath is the web-service root the endpoint lives under; default
	// DefaultBasePath.
	BasePath string
}

// Handler is the fake server's engine: an http.Handler serving
// PUT {BasePath}/token/registerActiveToken/{admin}. It is safe for
// concurrent use. The caller must Close it when done, to end hanging
// requests.
type Handler struct {
	basePath  string
	prefix    string // escaped path up to the admin segment
	admin     []byte
	cenToken  []byte
	latency   time.Duration
	jitter    time.Duration
	limiter   *rate.Limiter // nil: no limit
	faults    []Fault
	faultRate float64
	done      chan struct{}  // closed by Close
	handlers  sync.WaitGroup // the requests in the handler, for Close
	rngMu     sync.Mutex
	rng       *rand.Rand
	stateMu   sync.Mutex
	db        *db
	statsMu   sync.Mutex // guards rec and closed
	rec       recorder
	closed    bool
}

// NewHandler returns a Handler serving st, which it copies: later changes
// to st do not reach the server.
func NewHandler(st State, opts Options) *Handler {
	if opts.Admin == "" {
		opts.Admin = DefaultAdmin
	}
	if opts.AuthToken == "" {
		opts.AuthToken = DefaultAuthToken
	}
	if opts.SecretCode == "" {
		opts.SecretCode = DefaultSecretCode
	}
	base := "/" + strings.Trim(opts.BasePath, "/")
	if base == "/" {
		base = DefaultBasePath
	}
	h := &Handler{
		basePath:  base,
		prefix:    (&url.URL{Path: base + "/token/registerActiveToken/"}).EscapedPath(),
		admin:     []byte(opts.Admin),
		cenToken:  []byte(client.CenToken(opts.Admin, opts.AuthToken, opts.SecretCode)),
		latency:   max(opts.Latency, 0),
		jitter:    max(opts.Jitter, 0),
		faultRate: min(max(opts.FaultRate, 0), 1),
		done:      make(chan struct{}),
		rng:       rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
		db:        newDB(st),
		rec:       newRecorder(),
	}
	for _, f := range opts.Faults {
		if f.valid() {
			h.faults = append(h.faults, f)
		}
	}
	if opts.RateLimit > 0 {
		h.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit), max(1, int(math.Ceil(opts.RateLimit/10))))
	}
	return h
}

// BasePath returns the web-service root the handler serves, e.g.
// "/CentagateWS/webresources".
func (h *Handler) BasePath() string { return h.basePath }

// Stats returns a snapshot of what the handler saw.
func (h *Handler) Stats() Stats {
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	return h.rec.snapshot()
}

// State returns a copy of the current state, lists sorted: what the
// registrations so far have changed, and the failures still scripted.
func (h *Handler) State() State {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	return h.db.snapshot()
}

// Close ends hanging requests and latency waits, then waits for the
// requests in flight to finish. Requests arriving later get HTTP 503 and are
// not counted. Close is idempotent.
func (h *Handler) Close() {
	h.statsMu.Lock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	h.statsMu.Unlock()
	h.handlers.Wait()
}

// arrive records a request and reports whether it may proceed. The
// WaitGroup is added to under statsMu and never after Close, so Close's
// Wait cannot race with a late Add.
func (h *Handler) arrive() bool {
	h.statsMu.Lock()
	defer h.statsMu.Unlock()
	if h.closed {
		return false
	}
	h.handlers.Add(1)
	h.rec.arrive()
	return true
}

// record counts o now, for the paths that reset the connection: the client
// sees the reset at once, and a test reading Stats after it must find the
// fault counted. leave then does not count o again.
func (h *Handler) record(o *outcome) {
	h.statsMu.Lock()
	h.rec.record(*o)
	h.statsMu.Unlock()
	o.recorded = true
}

func (h *Handler) leave(o *outcome) {
	h.statsMu.Lock()
	if !o.recorded {
		h.rec.record(*o)
	}
	h.rec.inFlight--
	h.statsMu.Unlock()
	h.handlers.Done()
}

// ServeHTTP implements http.Handler. The checks run in this order: path
// (404) and method (405), rate limit (429), the fault draw, latency, the
// fault itself, then input (10002 "Invalid Input"), credentials (10002
// "Invalid cenToken"), user (22002), scripted failures, and the SMS or OTP
// rules. FaultLost applies the registration and then drops the answer.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.arrive() {
		w.Header().Set("Connection", "close")
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	var o outcome
	defer h.leave(&o)

	admin, ok := h.route(r)
	if !ok {
		o.status = http.StatusNotFound
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPut {
		o.status = http.StatusMethodNotAllowed
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "method not allowed: use PUT", http.StatusMethodNotAllowed)
		return
	}
	if h.limiter != nil && !h.limiter.Allow() {
		o.status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
		writeRaw(w, http.StatusTooManyRequests, "application/json", `{"status":429,"error":"Too Many Requests","message":"rate limit exceeded, retry later"}`)
		return
	}
	// Read the body first: only once it is consumed does net/http watch
	// the connection and cancel r.Context() when the client goes away,
	// which a hang or a long latency must notice.
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil || len(body) > maxRequestBody {
		body = nil // answered as invalid input, after latency and faults
	}
	fault, delay := h.draw()
	if delay > 0 && !h.wait(r.Context(), delay) {
		return // the client went away: nobody to answer
	}
	o.fault = fault

	switch fault {
	case Fault500:
		o.status = http.StatusInternalServerError
		writeRaw(w, o.status, "text/html; charset=utf-8", page500)
		return
	case Fault429:
		o.status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
		writeRaw(w, o.status, "application/json", `{"status":429,"error":"Too Many Requests","message":"throttled, retry later"}`)
		return
	case Fault503:
		o.status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "1")
		writeRaw(w, o.status, "text/html; charset=utf-8", page503)
		return
	case FaultReset:
		h.record(&o)
		reset(w)
		return
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-h.done:
			reset(w) // the server is going away mid-request
		}
		return
	case FaultBadJSON:
		o.status = http.StatusOK
		writeRaw(w, o.status, "application/json", `{"code":"0","mess`)
		return
	case FaultHTML:
		o.status = http.StatusOK
		writeRaw(w, o.status, "text/html; charset=utf-8", pageLogin)
		return
	}

	code, msg, key, tokenSn := h.register(body, admin)
	if code == client.CodeSuccess {
		o.registered = key
	}
	if fault == FaultLost {
		h.record(&o)
		reset(w) // applied, but the answer never leaves
		return
	}
	o.status, o.code = http.StatusOK, code
	writeAnswer(w, code, msg, tokenSn)
}

// route returns the unescaped admin path segment of a registerActiveToken
// path. The match is on the escaped path so that an escaped '/' in the admin
// username stays inside its segment, as the client sends it.
func (h *Handler) route(r *http.Request) (string, bool) {
	p := r.URL.EscapedPath()
	seg, ok := strings.CutPrefix(p, h.prefix)
	if !ok || seg == "" || strings.Contains(seg, "/") {
		return "", false
	}
	admin, err := url.PathUnescape(seg)
	if err != nil {
		return "", false
	}
	return admin, true
}

// draw decides the request's fault and delay from the seeded source.
func (h *Handler) draw() (Fault, time.Duration) {
	if h.jitter == 0 && (h.faultRate == 0 || len(h.faults) == 0) {
		return "", h.latency
	}
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	var f Fault
	if h.faultRate > 0 && len(h.faults) > 0 && h.rng.Float64() < h.faultRate {
		f = h.faults[h.rng.IntN(len(h.faults))]
	}
	d := h.latency
	if h.jitter > 0 {
		d += time.Duration(h.rng.Int64N(int64(2*h.jitter)+1)) - h.jitter
	}
	return f, max(d, 0)
}

// wait sleeps for d; it returns false if ctx ended first, and true early if
// the handler is closing, so that the request is answered at once.
func (h *Handler) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// registerRequest is the body; pointers tell a missing field from an empty
// one, and tokenType is raw to accept both "1" and 1.
type registerRequest struct {
	Username  *string         `json:"username"`
	TokenSn   *string         `json:"tokenSn"`
	TokenType json.RawMessage `json:"tokenType"`
	CenToken  *string         `json:"cenToken"`
}

// register runs the input, credential and state checks and returns the
// code and message to answer, the registered token's key and its serial.
func (h *Handler) register(body []byte, admin string) (code, msg, key, tokenSn string) {
	var req registerRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Username == nil || req.TokenSn == nil || req.CenToken == nil {
		return client.CodeInvalidInput, "Invalid Input", "", ""
	}
	typ, ok := parseWireType(req.TokenType)
	if !ok || *req.Username == "" || *req.TokenSn == "" {
		return client.CodeInvalidInput, "Invalid Input", "", ""
	}
	adminOK := subtle.ConstantTimeCompare([]byte(admin), h.admin)
	tokenOK := subtle.ConstantTimeCompare([]byte(*req.CenToken), h.cenToken)
	if adminOK&tokenOK != 1 {
		return client.CodeInvalidInput, "Invalid cenToken", "", ""
	}
	h.stateMu.Lock()
	code = h.db.register(*req.Username, *req.TokenSn, typ)
	h.stateMu.Unlock()
	msg = client.Message(code)
	if msg == "" {
		msg = "Error"
	}
	return code, msg, typ.String() + ":" + *req.TokenSn, *req.TokenSn
}

// parseWireType accepts the tokenType as the JSON string "1"/"2", as the
// vendor's samples send it, or as the number 1/2.
func parseWireType(raw json.RawMessage) (client.TokenType, bool) {
	switch string(bytes.TrimSpace(raw)) {
	case `"1"`, `1`:
		return client.SMS, true
	case `"2"`, `2`:
		return client.OTP, true
	}
	return 0, false
}

// answer is the server's JSON reply. Object is a string holding JSON, or
// null, as the real server sends it.
type answer struct {
	Code    string  `json:"code"`
	Message string  `json:"message"`
	Object  *string `json:"object"`
}

func writeAnswer(w http.ResponseWriter, code, msg, tokenSn string) {
	a := answer{Code: code, Message: msg}
	if code == client.CodeSuccess {
		obj, _ := json.Marshal(struct {
			TokenSn string `json:"tokenSn"`
		}{tokenSn})
		s := string(obj)
		a.Object = &s
	}
	body, _ := json.Marshal(a) // strings only: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func writeRaw(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// reset takes the connection over and closes it with SO_LINGER 0, so the
// client sees a TCP reset and no answer. Where the connection cannot be
// taken (HTTP/2, a ResponseRecorder), the handler returns without writing,
// which also gives the client no verdict (an empty body).
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

const page500 = `<!DOCTYPE html>
<html><head><title>500 Internal Server Error</title></head>
<body><h1>HTTP Status 500 - Internal Server Error</h1>
<p>The server encountered an internal error that prevented it from fulfilling this request.</p>
<hr><h3>GlassFish Server Open Source Edition 4.1</h3></body></html>
`

const page503 = `<!DOCTYPE html>
<html><head><title>503 Service Unavailable</title></head>
<body><h1>Service Unavailable</h1>
<p>The server is temporarily unable to service your request. Please try again later.</p></body></html>
`

const pageLogin = `<!DOCTYPE html>
<html><head><title>Sign in</title></head>
<body><form method="post" action="/login">
<h1>Please sign in</h1>
<input name="username" placeholder="Username"><input name="password" type="password">
<button type="submit">Sign in</button>
</form></body></html>
`
