package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const basePath = "/CentagateWS/webresources"

func testCredentials(serverURL string) Credentials {
	return Credentials{URL: serverURL + basePath, Admin: "admin", AuthToken: "tok123", SecretCode: "s3cret"}
}

// newTestClient returns a Client for cfg whose idle connections are closed
// when the test ends, so that goleak sees no transport goroutine.
func newTestClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%v) = %v", cfg, err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// answer writes a CENTAGATE response.
func answer(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"code": code, "message": message, "object": nil})
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	answer(w, "0", "Success")
}

var sms = Registration{Username: "alice", TokenSn: "+60123456789", TokenType: SMS}

type captured struct {
	method, requestURI, escapedPath, path string
	header                                http.Header
	body                                  []byte
}

func TestRegisterWire(t *testing.T) {
	got := make(chan captured, 1)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- captured{r.Method, r.RequestURI, r.URL.EscapedPath(), r.URL.Path, r.Header.Clone(), body}
		answer(w, "0", "Success")
	}))
	defer s.Close()

	tests := []struct {
		name  string
		admin string
		reg   Registration
		want  string // the tokenType on the wire
	}{
		{"plain SMS", "admin", Registration{"alice", "+60123456789", SMS}, "1"},
		{"plain OTP", "admin", Registration{"bob", "OTP-0001", OTP}, "2"},
		{"slash in admin", "ops/admin", sms, "1"},
		{"dot-dot slash in admin", "../../etc", sms, "1"},
		{"question mark in admin", "admin?x=1", sms, "1"},
		{"hash in admin", "admin#frag", sms, "1"},
		{"space in admin", "web admin", sms, "1"},
		{"percent in admin", "admin%2F", sms, "1"},
		{"unicode admin", "ádmín", sms, "1"},
		{"unicode user and HTML characters", "admin", Registration{"zoë <&>\"", "SN 1", OTP}, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := testCredentials(s.URL)
			creds.Admin = tt.admin
			c := newTestClient(t, Config{Credentials: creds, UserAgent: "tokenreg-test"})
			resp, err := c.Register(context.Background(), tt.reg)
			if err != nil || !resp.OK() {
				t.Fatalf("Register(%+v) = %+v, %v; want success", tt.reg, resp, err)
			}
			r := <-got
			if r.method != http.MethodPut {
				t.Errorf("method = %s, want PUT", r.method)
			}
			wantPath := basePath + "/token/registerActiveToken/" + url.PathEscape(tt.admin)
			if r.requestURI != wantPath {
				t.Errorf("request URI = %q, want %q", r.requestURI, wantPath)
			}
			if r.escapedPath != wantPath {
				t.Errorf("escaped path = %q, want %q", r.escapedPath, wantPath)
			}
			if got, want := r.path, basePath+"/token/registerActiveToken/"+tt.admin; got != want {
				t.Errorf("decoded path = %q, want %q", got, want)
			}
			if segs := strings.Split(r.escapedPath, "/"); len(segs) != 6 {
				t.Errorf("path %q has %d segments, want 6: the admin must stay one segment", r.escapedPath, len(segs))
			}
			for _, h := range []struct{ key, want string }{
				{"Content-Type", "application/json"},
				{"Accept", "application/json"},
				{"User-Agent", "tokenreg-test"},
			} {
				if got := r.header.Get(h.key); got != h.want {
					t.Errorf("header %s = %q, want %q", h.key, got, h.want)
				}
			}
			var fields map[string]any
			if err := json.Unmarshal(r.body, &fields); err != nil {
				t.Fatalf("body %s is not a JSON object: %v", r.body, err)
			}
			want := map[string]string{
				"username":  tt.reg.Username,
				"tokenSn":   tt.reg.TokenSn,
				"tokenType": tt.want,
				"cenToken":  CenToken(tt.admin, creds.AuthToken, creds.SecretCode),
			}
			if len(fields) != len(want) {
				t.Errorf("body %s has %d fields, want exactly %d", r.body, len(fields), len(want))
			}
			for k, w := range want {
				v, ok := fields[k].(string)
				if !ok {
					t.Errorf("body field %s = %#v, want the string %q", k, fields[k], w)
					continue
				}
				if v != w {
					t.Errorf("body field %s = %q, want %q", k, v, w)
				}
			}
		})
	}
}

func TestRegisterInvalidTokenTypeSendsNothing(t *testing.T) {
	var hits atomic.Int32
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		okHandler(w, r)
	}))
	defer s.Close()
	c := newTestClient(t, Config{Credentials: testCredentials(s.URL)})
	_, err := c.Register(context.Background(), Registration{Username: "u", TokenSn: "1", TokenType: 0})
	checkTransportError(t, "Register(type 0)", err, wantTransport{op: "encode request", text: "invalid token type"})
	if n := hits.Load(); n != 0 {
		t.Errorf("server saw %d requests, want 0", n)
	}
}

func TestRegisterVerdicts(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Response
	}{
		{"success", `{"code":"0","message":"Success","object":null}`, Response{Code: "0", Message: "Success"}},
		{"business error", `{"code":"29004","message":"Phone number had been used","object":null}`, Response{Code: "29004", Message: "Phone number had been used"}},
		{"numeric code", `{"code":29008,"message":"An OTP token already registered to this user"}`, Response{Code: "29008", Message: "An OTP token already registered to this user"}},
		{"unknown code", `{"code":"77777","message":"Something new"}`, Response{Code: "77777", Message: "Something new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, tt.body)
			}))
			defer s.Close()
			c := newTestClient(t, Config{Credentials: testCredentials(s.URL)})
			got, err := c.Register(context.Background(), sms)
			if err != nil {
				t.Fatalf("Register() error = %v, want %+v", err, tt.want)
			}
			if got.Code != tt.want.Code || got.Message != tt.want.Message {
				t.Errorf("Register() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// streamBody writes chunks of n bytes (forever if n < 0) until the client
// goes away.
func streamBody(status, n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		chunk := []byte(`{"code":"0","message":"` + strings.Repeat("x", 32<<10))
		for sent := 0; n < 0 || sent < n; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			if r.Context().Err() != nil {
				return
			}
		}
	}
}

func TestRegisterTransportErrors(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    wantTransport
		// retryAfterMin, if set, replaces an exact RetryAfter check: an
		// HTTP date has one-second resolution and the clock runs.
		retryAfterMin time.Duration
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, wantTransport{op: "server answered", status: 404}, 0},
		{"500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "internal", 500)
		}, wantTransport{op: "server answered", status: 500, maybeSent: true}, 0},
		{"502 HTML page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			io.WriteString(w, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
		}, wantTransport{status: 502, maybeSent: true, text: "502 Bad Gateway</title>"}, 0},
		{"429 Retry-After seconds", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(429)
		}, wantTransport{status: 429, retryAfter: 3 * time.Second}, 0},
		{"429 Retry-After date", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", future.Format(http.TimeFormat))
			w.WriteHeader(429)
		}, wantTransport{status: 429}, 59 * time.Minute},
		{"200 HTML", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<!DOCTYPE html><html><body>Login</body></html>")
		}, wantTransport{op: "decode response", status: 200, maybeSent: true, text: "Login"}, 0},
		{"200 empty body", func(w http.ResponseWriter, r *http.Request) {}, wantTransport{status: 200, maybeSent: true, text: "empty body"}, 0},
		{"JSON with no code", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"message":"Success"}`)
		}, wantTransport{status: 200, maybeSent: true, errIs: ErrNoCode}, 0},
		{"JSON array", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `[]`)
		}, wantTransport{status: 200, maybeSent: true}, 0},
		{"truncated JSON, complete message", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"code":"0","mess`)
		}, wantTransport{op: "decode response", status: 200, maybeSent: true}, 0},
		{"truncated body, connection closed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, `{"code":"0","mess`)
		}, wantTransport{op: "read body", status: 200, maybeSent: true}, 0},
		{"non-UTF-8 bytes", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("\xff\xfe{\x00\"\x00c\x00"))
		}, wantTransport{status: 200, maybeSent: true}, 0},
		{"2 MiB body", streamBody(200, 2<<20), wantTransport{status: 200, maybeSent: true, text: "body over"}, 0},
		{"endless body", streamBody(200, -1), wantTransport{status: 200, maybeSent: true, text: "body over"}, 0},
		{"endless error page", streamBody(500, -1), wantTransport{status: 500, maybeSent: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewServer(tt.handler)
			defer s.Close()
			c := newTestClient(t, Config{Credentials: testCredentials(s.URL), Timeout: 20 * time.Second})
			got, err := c.Register(context.Background(), sms)
			if err == nil {
				t.Fatalf("Register() = %+v, want a transport error", got)
			}
			want := tt.want
			if tt.retryAfterMin > 0 {
				var te *TransportError
				if errors.As(err, &te) {
					if te.RetryAfter < tt.retryAfterMin || te.RetryAfter > time.Hour {
						t.Errorf("RetryAfter = %v, want within [%v, 1h]", te.RetryAfter, tt.retryAfterMin)
					}
					want.retryAfter = te.RetryAfter
				}
			}
			te := checkTransportError(t, "Register()", err, want)
			if te.Timeout {
				t.Errorf("Timeout = true, want false")
			}
		})
	}
}

func TestRegisterMaybeSent(t *testing.T) {
	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		c := newTestClient(t, Config{Credentials: testCredentials("http://" + addr)})
		_, err = c.Register(context.Background(), sms)
		te := checkTransportError(t, "Register()", err, wantTransport{op: "send", maybeSent: false, text: "refused"})
		if te.Timeout {
			t.Errorf("Timeout = true, want false")
		}
	})

	t.Run("connection closed after the request was read", func(t *testing.T) {
		var read atomic.Bool
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, err := io.ReadAll(r.Body); err == nil {
				read.Store(true)
			}
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			conn.Close()
		}))
		defer s.Close()
		c := newTestClient(t, Config{Credentials: testCredentials(s.URL)})
		_, err := c.Register(context.Background(), sms)
		checkTransportError(t, "Register()", err, wantTransport{op: "send", maybeSent: true})
		if !read.Load() {
			t.Errorf("server did not read the request")
		}
	})

	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-r.Context().Done():
			case <-release:
			}
			answer(w, "0", "Success")
		}))
		defer s.Close()
		defer close(release)
		c := newTestClient(t, Config{Credentials: testCredentials(s.URL), Timeout: 50 * time.Millisecond})
		_, err := c.Register(context.Background(), sms)
		te := checkTransportError(t, "Register()", err, wantTransport{op: "send", maybeSent: true})
		if !te.Timeout {
			t.Errorf("Timeout = false, want true (error %v)", err)
		}
	})

	t.Run("timeout while reading the body", func(t *testing.T) {
		release := make(chan struct{})
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, `{"code":`)
			http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer s.Close()
		defer close(release)
		c := newTestClient(t, Config{Credentials: testCredentials(s.URL), Timeout: 50 * time.Millisecond})
		_, err := c.Register(context.Background(), sms)
		te := checkTransportError(t, "Register()", err, wantTransport{op: "read body", status: 200, maybeSent: true})
		if !te.Timeout {
			t.Errorf("Timeout = false, want true (error %v)", err)
		}
	})

	t.Run("context cancelled before the call", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(okHandler))
		defer s.Close()
		c := newTestClient(t, Config{Credentials: testCredentials(s.URL)})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := c.Register(ctx, sms)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Register() error = %v, want context.Canceled", err)
		}
		var te *TransportError
		if errors.As(err, &te) {
			t.Errorf("Register() error = %v, want ctx's error, not a *TransportError", err)
		}
	})

	t.Run("context cancelled in flight", func(t *testing.T) {
		arrived := make(chan struct{})
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Reading the body to its end lets the server notice the
			// client hanging up, which cancels r.Context().
			io.Copy(io.Discard, r.Body)
			close(arrived)
			<-r.Context().Done()
		}))
		defer s.Close()
		c := newTestClient(t, Config{Credentials: testCredentials(s.URL)})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-arrived
			cancel()
		}()
		_, err := c.Register(ctx, sms)
		if err != context.Canceled {
			t.Errorf("Register() error = %v (%T), want context.Canceled", err, err)
		}
	})

	t.Run("context deadline", func(t *testing.T) {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}))
		defer s.Close()
		c := newTestClient(t, Config{Credentials: testCredentials(s.URL)})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		_, err := c.Register(ctx, sms)
		if err != context.DeadlineExceeded {
			t.Errorf("Register() error = %v (%T), want context.DeadlineExceeded", err, err)
		}
	})
}

func TestEndpoint(t *testing.T) {
	const path = "/token/registerActiveToken/admin"
	tests := []struct {
		name      string
		base      string
		admin     string
		allowHTTP bool
		want      string // "" means an error is wanted
		wantText  string // in the error
	}{
		{"https", "https://mfa.example.com/CentagateWS/webresources", "admin", false, "https://mfa.example.com/CentagateWS/webresources" + path, ""},
		{"https with port", "https://mfa.example.com:8443/ws", "admin", false, "https://mfa.example.com:8443/ws" + path, ""},
		{"upper-case scheme", "HTTPS://mfa.example.com/ws", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"surrounding spaces", "  https://mfa.example.com/ws \n", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"no path", "https://mfa.example.com", "admin", false, "https://mfa.example.com" + path, ""},
		{"trailing slash", "https://mfa.example.com/ws/", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"trailing slashes", "https://mfa.example.com/ws//", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"query dropped", "https://mfa.example.com/ws?debug=1", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"empty query dropped", "https://mfa.example.com/ws?", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"empty query after slash dropped", "https://mfa.example.com/ws/?#", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"fragment dropped", "https://mfa.example.com/ws#top", "admin", false, "https://mfa.example.com/ws" + path, ""},
		{"escaped admin", "https://h/ws", "a/b?c d", false, "https://h/ws/token/registerActiveToken/a%2Fb%3Fc%20d", ""},
		{"unicode admin", "https://h/ws", "ádmín", false, "https://h/ws/token/registerActiveToken/%C3%A1dm%C3%ADn", ""},
		{"http to 127.0.0.1", "http://127.0.0.1:8080/ws", "admin", false, "http://127.0.0.1:8080/ws" + path, ""},
		{"http to 127.0.0.2", "http://127.0.0.2/ws", "admin", false, "http://127.0.0.2/ws" + path, ""},
		{"http to ::1", "http://[::1]:8080/ws", "admin", false, "http://[::1]:8080/ws" + path, ""},
		{"http to localhost", "http://localhost:8080/ws", "admin", false, "http://localhost:8080/ws" + path, ""},
		{"http to LOCALHOST", "http://LOCALHOST/ws", "admin", false, "http://LOCALHOST/ws" + path, ""},
		{"http to example.com refused", "http://example.com/ws", "admin", false, "", "refusing plain http://"},
		{"http to example.com allowed", "http://example.com/ws", "admin", true, "http://example.com/ws" + path, ""},
		{"http to 10.0.0.1 refused", "http://10.0.0.1/ws", "admin", false, "", "refusing plain http://"},
		{"http to localhost.example.com refused", "http://localhost.example.com/ws", "admin", false, "", "refusing plain http://"},
		{"ftp refused", "ftp://mfa.example.com/ws", "admin", false, "", "https://"},
		{"ftp refused with allowHTTP", "ftp://mfa.example.com/ws", "admin", true, "", "https://"},
		{"no scheme", "mfa.example.com/ws", "admin", false, "", "https://"},
		{"host and port, no scheme", "mfa.example.com:443", "admin", false, "", "https://"},
		{"empty", "", "admin", false, "", "https://"},
		{"missing host", "https:///ws", "admin", false, "", "no host"},
		{"port but no host", "https://:443/ws", "admin", false, "", "no host"},
		{"http missing host", "http:///ws", "admin", false, "", "no host"},
		{"opaque", "https:mfa.example.com", "admin", false, "", "no host"},
		{"user refused", "https://user@mfa.example.com/ws", "admin", false, "", "user or password"},
		{"user and password refused", "https://user:hunter2@mfa.example.com/ws", "admin", false, "", "user or password"},
		{"user and password with a bad scheme", "ftp://user:hunter2@mfa.example.com/ws", "admin", false, "", "user or password"},
		{"unparsable", "https://user:hunter2@mfa.example.com:port/ws", "admin", false, "", "server URL"},
		{"control character", "https://mfa.example.com/w\x7fs\n\x00", "admin", false, "", "server URL"},
		{"empty admin", "https://h/ws", "", false, "", "admin"},
		{"dot admin", "https://h/ws", ".", false, "", "admin"},
		{"dot-dot admin", "https://h/ws", "..", false, "", "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Endpoint(tt.base, tt.admin, tt.allowHTTP)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Endpoint(%q, %q, %t) = %q, want an error", tt.base, tt.admin, tt.allowHTTP, got)
				}
				if !errors.Is(err, ErrConfig) {
					t.Errorf("Endpoint(%q) error = %v, want it to wrap ErrConfig", tt.base, err)
				}
				if !strings.Contains(err.Error(), tt.wantText) {
					t.Errorf("Endpoint(%q) error = %q, want it to contain %q", tt.base, err, tt.wantText)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("Endpoint(%q) error = %q, echoes the password", tt.base, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Endpoint(%q, %q, %t) error = %v, want %q", tt.base, tt.admin, tt.allowHTTP, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("Endpoint(%q, %q, %t) = %q, want %q", tt.base, tt.admin, tt.allowHTTP, got, tt.want)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		okHandler(w, r)
	}))
	defer other.Close()

	tests := []struct {
		name     string
		status   int
		sameHost bool
		wantOK   bool
		wantText string
	}{
		{"307 to another host", http.StatusTemporaryRedirect, false, false, "refusing redirect"},
		{"308 to another host", http.StatusPermanentRedirect, false, false, "refusing redirect"},
		{"302 to another host", http.StatusFound, false, false, "refusing redirect"},
		{"301 to the same host", http.StatusMovedPermanently, true, false, "PUT into GET"},
		{"303 to the same host", http.StatusSeeOther, true, false, "PUT into GET"},
		{"307 to the same host", http.StatusTemporaryRedirect, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			otherHits.Store(0)
			var bodies []string
			var mu sync.Mutex
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				bodies = append(bodies, r.Method+" "+string(b))
				mu.Unlock()
				if r.URL.Query().Get("moved") != "" {
					answer(w, "0", "Success")
					return
				}
				target := other.URL + r.URL.Path
				if tt.sameHost {
					target = r.URL.Path + "?moved=1"
				}
				http.Redirect(w, r, target, tt.status)
			}))
			defer s.Close()
			c := newTestClient(t, Config{Credentials: testCredentials(s.URL)})
			resp, err := c.Register(context.Background(), sms)
			if n := otherHits.Load(); n != 0 {
				t.Errorf("the other host saw %d requests, want 0", n)
			}
			if tt.wantOK {
				if err != nil || !resp.OK() {
					t.Fatalf("Register() = %+v, %v; want success", resp, err)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(bodies) != 2 || bodies[0] != bodies[1] || !strings.HasPrefix(bodies[1], "PUT {") {
					t.Errorf("requests = %q, want the same PUT twice", bodies)
				}
				return
			}
			checkTransportError(t, "Register()", err, wantTransport{op: "send", status: tt.status, maybeSent: false, text: tt.wantText})
		})
	}
}

func TestKeepAlive(t *testing.T) {
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	defer s.Close()

	const workers, perWorker = 4, 50
	c := newTestClient(t, Config{Credentials: testCredentials(s.URL), Conns: workers})
	var failed atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range perWorker {
				if resp, err := c.Register(context.Background(), sms); err != nil || !resp.OK() {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d Registers failed", n, workers*perWorker)
	}
	t.Logf("%d connections", conns.Load())
	if n := conns.Load(); n < 1 || n > 2*workers {
		t.Errorf("%d Registers from %d goroutines opened %d connections, want at most %d", workers*perWorker, workers, n, 2*workers)
	}
}

// TestKeepAliveAfterErrors checks that answers the client reads in full (a
// business error, an HTTP error) leave the connection reusable.
func TestKeepAliveAfterErrors(t *testing.T) {
	var conns, n atomic.Int32
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch n.Add(1) % 3 {
		case 0:
			answer(w, "29004", "Phone number had been used")
		case 1:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "slow down", http.StatusTooManyRequests)
		default:
			answer(w, "0", "Success")
		}
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	defer s.Close()
	c := newTestClient(t, Config{Credentials: testCredentials(s.URL), Conns: 1})
	for range 30 {
		c.Register(context.Background(), sms)
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("30 sequential Registers opened %d connections, want 1", got)
	}
}

func BenchmarkRegister(b *testing.B) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"code":"0","message":"Success","object":null}`)
	}))
	defer s.Close()
	c := newTestClient(b, Config{Credentials: testCredentials(s.URL), Conns: 64})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Register(context.Background(), sms)
			if err != nil || !resp.OK() {
				b.Errorf("Register() = %+v, %v", resp, err)
				return
			}
		}
	})
}

func TestScrub(t *testing.T) {
	const cen = "e95156d009b369eae824aa2292b71553c79b21be972f9d84627c4c5ce4e0d439"
	secrets := []string{cen, "tok123", "s3cret-code"}
	tests := []struct{ in, want string }{
		{"Success", "Success"},
		{"Invalid cenToken " + cen, "Invalid cenToken [REDACTED]"},
		{"echo " + cen[:40], "echo [REDACTED]"},
		{cen[30:] + " tail", "[REDACTED] tail"},
		{"token tok123 and s3cret-code!", "token [REDACTED] and [REDACTED]!"},
		{"Phone number had been used", "Phone number had been used"},
	}
	for _, tt := range tests {
		if got := scrub(tt.in, secrets); got != tt.want {
			t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodeRequestMatchesEncodingJSON(t *testing.T) {
	for _, r := range []Registration{
		{Username: "alice", TokenSn: "+60123456789", TokenType: SMS},
		{Username: `quo"te\back`, TokenSn: "tab\there", TokenType: OTP},
		{Username: "ünïcødé <b>&", TokenSn: "\x00\x1f", TokenType: OTP},
		{Username: "bad\xffutf8", TokenSn: "x", TokenType: SMS},
	} {
		got := encodeRequest(r, "abc")
		var back requestBody
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("encodeRequest(%+v) = %s: not JSON: %v", r, got, err)
		}
		want, _ := json.Marshal(requestBody{Username: r.Username, TokenSn: r.TokenSn, TokenType: r.TokenType.Wire(), CenToken: "abc"})
		var wantBack requestBody
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("encodeRequest(%+v) decodes to %+v, want %+v", r, back, wantBack)
		}
	}
}
