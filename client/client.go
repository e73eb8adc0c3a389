package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// Config configures a Client. Only Credentials is required.
type Config struct {
	Credentials Credentials
	// Timeout bounds each wait of a request: the connection, the TLS
	// handshake, the answer's headers once the request is sent, and its
	// body. Default 15s.
	Timeout time.Duration
	// Conns is the number of keep-alive connections to hold open, normally
	// the number of workers. Default 4.
	Conns int
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile, KeyFile string
	// InsecureSkipVerify turns off TLS verification. Dangerous; the caller
	// must warn the operator.
	InsecureSkipVerify bool
	// AllowHTTP permits plain http:// to a host that is not loopback.
	AllowHTTP bool
	// UserAgent is sent with every request.
	UserAgent string
	// Transport replaces the HTTP transport (tests). The TLS settings above
	// are then ignored.
	Transport http.RoundTripper
}

// Client sends registrations to one CENTAGATE server. It is safe for
// concurrent use; create one per run.
type Client struct {
	cenToken string
	secrets  []string // lower-cased; scrubbed from whatever the server echoes back
	timeout  time.Duration
	// bounded says the transport is ours and puts Timeout on every step up
	// to the answer's headers, so that a request needs no context with a
	// deadline (and the transport's own context no parent to register with).
	bounded bool
	hc      *http.Client
	now     func() time.Time
	// request is every request's method, URL and headers, built once:
	// each request is a shallow copy that shares its URL and Header
	// read-only (net/http's client and transport do not write them).
	request *http.Request
}

// ErrConfig is wrapped by errors about an unusable client configuration.
var ErrConfig = errors.New("client configuration")

// ConfigError is an unusable setting of Config. Its text says what is wrong
// with the setting, never how a program's user sets it: the caller, which
// knows its flags or keys, adds that from Field. It wraps ErrConfig.
type ConfigError struct {
	Field string // the Config field at fault: "AllowHTTP", "CAFile", "CertFile" or "KeyFile"
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%v: %v", ErrConfig, e.Err) }

func (e *ConfigError) Unwrap() []error { return []error{ErrConfig, e.Err} }

// New checks cfg and returns a Client. The cenToken is computed here, once.
func New(cfg Config) (*Client, error) {
	if err := cfg.Credentials.Check(); err != nil {
		return nil, err
	}
	endpoint, err := Endpoint(cfg.Credentials.URL, cfg.Credentials.Admin, cfg.AllowHTTP)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.Conns <= 0 {
		cfg.Conns = 4
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "tokenreg"
	}
	rt := cfg.Transport
	if rt == nil {
		tlsConf, err := tlsConfig(cfg)
		if err != nil {
			return nil, err
		}
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsConf,
			TLSHandshakeTimeout:   cfg.Timeout,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          cfg.Conns + 4,
			MaxIdleConnsPerHost:   cfg.Conns + 4,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
			ExpectContinueTimeout: time.Second,
		}
	}
	origin, _ := url.Parse(endpoint)
	hc := &http.Client{
		Transport: rt,
		// No Client.Timeout: Register puts the one deadline on the request's
		// context, which also covers reading the body.
		// A redirect to another host would carry the signed request (and the
		// cenToken) somewhere the operator did not configure: refuse it.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != origin.Host || req.URL.Scheme != origin.Scheme {
				return fmt.Errorf("refusing redirect to %s://%s: only the configured server is trusted", req.URL.Scheme, req.URL.Host)
			}
			// Go turns a PUT into a bodiless GET on 301, 302 and 303.
			if req.Method != via[0].Method {
				return fmt.Errorf("refusing redirect that turns %s into %s", via[0].Method, req.Method)
			}
			if len(via) >= 3 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	request, err := http.NewRequest(http.MethodPut, endpoint, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: server URL: %v", ErrConfig, stripURL(err))
	}
	request.Header.Set("Content-Type", "application/json")
	request.Header.Set("Accept", "application/json")
	request.Header.Set("User-Agent", cfg.UserAgent)
	return &Client{
		cenToken: cfg.Credentials.CenToken(),
		secrets:  secretsOf(cfg.Credentials),
		timeout:  cfg.Timeout,
		bounded:  cfg.Transport == nil,
		hc:       hc,
		now:      time.Now,
		request:  request,
	}, nil
}

// Endpoint builds the registerActiveToken URL for a base URL and admin
// username. The admin username is one escaped path segment, so a '/' or '?'
// in it cannot change the request path. Plain http:// is refused unless the
// host is loopback or allowHTTP is set. A query or fragment in base is
// dropped; a user or password in base is refused (and never echoed).
func Endpoint(base, admin string, allowHTTP bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		// url.Error's text repeats the URL, which may hold a password.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("%w: server URL: %v", ErrConfig, err)
	}
	if u.User != nil {
		return "", fmt.Errorf("%w: server URL must not carry a user or password", ErrConfig)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("%w: server URL %q must start with https:// (for example https://mfa.example.com/CentagateWS/webresources)", ErrConfig, base)
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("%w: server URL %q has no host", ErrConfig, base)
	}
	if u.Scheme == "http" && !allowHTTP && !isLoopback(u.Hostname()) {
		return "", &ConfigError{Field: "AllowHTTP", Err: fmt.Errorf("refusing plain http:// to %s: the request carries the cenToken; use https://, or allow plain http:// if the network is trusted", u.Host)}
	}
	// "." and ".." survive url.PathEscape, and a server or proxy that
	// normalises the path would resolve them into another resource.
	switch admin {
	case "", ".", "..":
		return "", fmt.Errorf("%w: admin username %q cannot be a path segment", ErrConfig, admin)
	}
	// ForceQuery is set by a bare trailing '?': left alone, String would
	// keep the '?' and the path appended below would become the query.
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return strings.TrimRight(u.String(), "/") + "/token/registerActiveToken/" + url.PathEscape(admin), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, &ConfigError{Field: "CAFile", Err: fmt.Errorf("CA certificates: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "CAFile", Err: fmt.Errorf("CA certificates: %s holds no PEM certificate", cfg.CAFile)}
		}
		tc.RootCAs = pool
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		field := "KeyFile" // the one missing
		if cfg.CertFile == "" {
			field = "CertFile"
		}
		return nil, &ConfigError{Field: field, Err: errors.New("a client certificate and its key go together: give both or neither")}
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, &ConfigError{Field: "CertFile", Err: fmt.Errorf("client certificate and key (%s, %s): %w", cfg.CertFile, cfg.KeyFile, err)}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Registration is one row to register.
type Registration struct {
	Username  string
	TokenSn   string
	TokenType TokenType
}

type requestBody struct {
	Username  string `json:"username"`
	TokenSn   string `json:"tokenSn"`
	TokenType string `json:"tokenType"`
	CenToken  string `json:"cenToken"`
}

// encodeRequest renders the request body: the JSON object of requestBody,
// every field a string, as the vendor's samples send it. Plain values are
// appended as they are; anything that needs escaping goes through
// encoding/json.
func encodeRequest(r Registration, cenToken string) []byte {
	b := make([]byte, 0, 96+len(r.Username)+len(r.TokenSn)+len(cenToken))
	b = append(b, `{"username":`...)
	b = appendJSONString(b, r.Username)
	b = append(b, `,"tokenSn":`...)
	b = appendJSONString(b, r.TokenSn)
	b = append(b, `,"tokenType":`...)
	b = appendJSONString(b, r.TokenType.Wire())
	b = append(b, `,"cenToken":`...)
	b = appendJSONString(b, cenToken)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	if plainJSONString([]byte(s)) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

// Register sends one registration and returns the server's verdict. A
// non-zero code is a Response, not an error; the error is a
// *TransportError when no verdict arrived, or ctx's error.
func (c *Client) Register(parent context.Context, r Registration) (Response, error) {
	ctx := parent
	if !c.bounded {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, c.timeout)
		defer cancel()
	}
	if !r.TokenType.Valid() {
		// The server would answer 10002 at best; nothing is sent.
		return Response{}, &TransportError{Op: "encode request", Err: fmt.Errorf("invalid token type %d: want SMS (1) or OTP (2)", int(r.TokenType))}
	}
	body := encodeRequest(r, c.cenToken)
	// wrote is set once any byte of the request may have left: from then on
	// the server may have applied the registration whatever happens next.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}
	req := c.request.WithContext(httptrace.WithClientTrace(ctx, trace))
	// io.NopCloser of a *bytes.Reader, as http.NewRequest makes it: net/http
	// knows it is in memory and writes headers and body in one write, where
	// any other reader gets the headers flushed first (two packets).
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	// A same-host 307 or 308 redirect sends the body again.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	resp, err := c.hc.Do(req)
	if err != nil {
		if parent.Err() != nil {
			return Response{}, parent.Err()
		}
		te := &TransportError{Op: "send", MaybeSent: wrote.Load(), Timeout: isTimeout(err), Err: stripURL(err)}
		if resp != nil {
			// Only a refused redirect returns a response with the error
			// (its body already closed): the server answered 3xx, so it
			// did not apply the registration.
			te.StatusCode, te.MaybeSent = resp.StatusCode, maybeApplied(resp.StatusCode)
		}
		return Response{}, te
	}
	defer resp.Body.Close()
	var late atomic.Bool
	if c.bounded {
		// The transport's timeouts end with the headers; closing the body
		// ends a read that waits longer.
		t := time.AfterFunc(c.timeout, func() { late.Store(true); resp.Body.Close() })
		defer t.Stop()
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		if parent.Err() != nil {
			return Response{}, parent.Err()
		}
		if late.Load() {
			err = fmt.Errorf("no complete answer within %s", c.timeout)
		}
		return Response{}, &TransportError{Op: "read body", StatusCode: resp.StatusCode, MaybeSent: true, Timeout: late.Load() || isTimeout(err), Err: stripURL(err)}
	}
	out, err := DecodeResponse(resp.StatusCode, resp.Header, data, c.now())
	return c.scrubAnswer(resp.StatusCode, out, err)
}

// CloseIdleConnections closes the keep-alive connections.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// stripURL drops the *url.Error wrapper, whose text repeats the method and
// endpoint on every line of a result file.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
