package clienttest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

func TestRegisterCodes(t *testing.T) {
	sms := func(user, sn string) client.Registration {
		return client.Registration{Username: user, TokenSn: sn, TokenType: client.SMS}
	}
	otp := func(user, sn string) client.Registration {
		return client.Registration{Username: user, TokenSn: sn, TokenType: client.OTP}
	}
	tests := []struct {
		name     string
		edit     func(*client.Config)
		reg      client.Registration
		wantCode string
		wantMsg  string
	}{
		{"sms success", nil, sms("alice", "+60123456789"), "0", "Success"},
		{"phone in use", nil, sms("alice", "+60111111111"), "29004", "Phone number had been used"},
		{"user not found", nil, sms("zed", "+60123456789"), "22002", "User not found"},
		{"otp success", nil, otp("alice", "OTP01"), "0", "Success"},
		{"otp status compared case-insensitively", nil, otp("alice", "OTP10"), "0", "Success"},
		{"otp bound to this user", nil, otp("bob", "OTP02"), "0", "Success"},
		{"token not found", nil, otp("alice", "OTP99"), "29001", "Token not found"},
		{"token bound to another user", nil, otp("alice", "OTP02"), "29017", "Invalid token status"},
		{"token active", nil, otp("carol", "OTP03"), "29017", "Invalid token status"},
		{"token locked", nil, otp("alice", "OTP04"), "29002", "Token not active"},
		{"token disabled", nil, otp("alice", "OTP05"), "29002", "Token not active"},
		{"token expired", nil, otp("alice", "OTP06"), "29002", "Token not active"},
		{"token lost", nil, otp("alice", "OTP07"), "29002", "Token not active"},
		{"token pending", nil, otp("alice", "OTP08"), "29011", "Invalid token activation code"},
		{"token in an unknown status", nil, otp("alice", "OTP09"), "29017", "Invalid token status"},
		{"user holds an otp token", nil, otp("holder", "OTP01"), "29008", "An OTP token already registered to this user"},
		{"user not allowed cr otp", nil, otp("nocr", "OTP01"), "6007", "User is not allowed to bind with CR OTP token"},
		{"scripted failure", nil, sms("broken", "+60123456789"), "6002", "Token register to user failed"},
		{"scripted undocumented code", nil, sms("bad", "+60123456789"), "99999", "Error"},
		{"scripted failure before token checks", nil, otp("broken", "OTP99"), "6002", "Token register to user failed"},
		{"user checked before scripted failures", nil, sms("zed", "+60111111111"), "22002", "User not found"},
		{"wrong secret code", func(c *client.Config) { c.Credentials.SecretCode = "nope" }, sms("alice", "+60123456789"), "10002", "Invalid cenToken"},
		{"wrong auth token", func(c *client.Config) { c.Credentials.AuthToken = "nope" }, sms("alice", "+60123456789"), "10002", "Invalid cenToken"},
		{"wrong admin", func(c *client.Config) { c.Credentials.Admin = "root" }, sms("alice", "+60123456789"), "10002", "Invalid cenToken"},
		{"credentials checked before the user", func(c *client.Config) { c.Credentials.SecretCode = "nope" }, sms("zed", "+60123456789"), "10002", "Invalid cenToken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, fixture(), Options{})
			c := newClient(t, s, tt.edit)
			resp, err := c.Register(t.Context(), tt.reg)
			if err != nil {
				t.Fatalf("Register(%+v) error = %v, want code %s", tt.reg, err, tt.wantCode)
			}
			if resp.Code != tt.wantCode || resp.Message != tt.wantMsg {
				t.Errorf("Register(%+v) = %q %q, want %q %q", tt.reg, resp.Code, resp.Message, tt.wantCode, tt.wantMsg)
			}
			wantObject := "null"
			if tt.wantCode == client.CodeSuccess {
				b, _ := json.Marshal(fmt.Sprintf(`{"tokenSn":%q}`, tt.reg.TokenSn))
				wantObject = string(b)
			}
			if got := string(resp.Object); got != wantObject {
				t.Errorf("Register(%+v) object = %s, want %s", tt.reg, got, wantObject)
			}
			st := s.Stats()
			if got := st.ByCode[tt.wantCode]; got != 1 {
				t.Errorf("Stats().ByCode[%q] = %d, want 1 (ByCode %v)", tt.wantCode, got, st.ByCode)
			}
			key := tt.reg.TokenType.String() + ":" + tt.reg.TokenSn
			wantRegs := 0
			if tt.wantCode == client.CodeSuccess {
				wantRegs = 1
			}
			if got := st.Registrations[key]; got != wantRegs {
				t.Errorf("Stats().Registrations[%q] = %d, want %d", key, got, wantRegs)
			}
		})
	}
}

func TestRegisterChangesState(t *testing.T) {
	s := newServer(t, fixture(), Options{})
	c := newClient(t, s, nil)
	steps := []struct {
		reg      client.Registration
		wantCode string
	}{
		{client.Registration{Username: "alice", TokenSn: "+60122222222", TokenType: client.SMS}, "0"},
		{client.Registration{Username: "bob", TokenSn: "+60122222222", TokenType: client.SMS}, "29004"},
		{client.Registration{Username: "alice", TokenSn: "+60122222222", TokenType: client.SMS}, "29004"},
		{client.Registration{Username: "alice", TokenSn: "OTP01", TokenType: client.OTP}, "0"},
		{client.Registration{Username: "alice", TokenSn: "OTP01", TokenType: client.OTP}, "29017"},
		{client.Registration{Username: "carol", TokenSn: "OTP01", TokenType: client.OTP}, "29017"},
		{client.Registration{Username: "alice", TokenSn: "OTP10", TokenType: client.OTP}, "29008"},
		{client.Registration{Username: "flaky", TokenSn: "+60133333333", TokenType: client.SMS}, "10003"},
		{client.Registration{Username: "flaky", TokenSn: "+60133333333", TokenType: client.SMS}, "10003"},
		{client.Registration{Username: "flaky", TokenSn: "+60133333333", TokenType: client.SMS}, "0"},
		{client.Registration{Username: "bad", TokenSn: "+60144444444", TokenType: client.SMS}, "99999"},
		{client.Registration{Username: "bad", TokenSn: "+60144444444", TokenType: client.SMS}, "0"},
		{client.Registration{Username: "broken", TokenSn: "+60155555555", TokenType: client.SMS}, "6002"},
		{client.Registration{Username: "broken", TokenSn: "+60155555555", TokenType: client.SMS}, "6002"},
	}
	for i, st := range steps {
		resp, err := c.Register(t.Context(), st.reg)
		if err != nil {
			t.Fatalf("step %d: Register(%+v) error = %v", i, st.reg, err)
		}
		if resp.Code != st.wantCode {
			t.Errorf("step %d: Register(%+v) = %s %q, want %s", i, st.reg, resp.Code, resp.Message, st.wantCode)
		}
	}
	got := s.State()
	for _, phone := range []string{"+60111111111", "+60122222222", "+60133333333", "+60144444444"} {
		if !slices.Contains(got.PhonesInUse, phone) {
			t.Errorf("State().PhonesInUse = %v, want it to hold %s", got.PhonesInUse, phone)
		}
	}
	if slices.Contains(got.PhonesInUse, "+60155555555") {
		t.Errorf("State().PhonesInUse = %v, want no +60155555555 (its registration always failed)", got.PhonesInUse)
	}
	if !slices.Contains(got.UsersWithOTP, "alice") {
		t.Errorf("State().UsersWithOTP = %v, want alice in it", got.UsersWithOTP)
	}
	i := slices.IndexFunc(got.Tokens, func(tk Token) bool { return tk.Serial == "OTP01" })
	if want := (Token{Serial: "OTP01", Status: "active", Owner: "alice"}); i < 0 || got.Tokens[i] != want {
		t.Errorf("State() token OTP01 = %+v, want %+v", got.Tokens[i], want)
	}
	wantFailures := []Failure{{Username: "broken", Code: "6002", Times: 0}}
	if !slices.Equal(got.Failures, wantFailures) {
		t.Errorf("State().Failures = %+v, want %+v (flaky and bad used up)", got.Failures, wantFailures)
	}
	if d := s.Stats().DoubleRegistrations(); len(d) != 0 {
		t.Errorf("DoubleRegistrations() = %v, want none", d)
	}
}

// TestRawRequests covers what client.Client never sends: malformed bodies,
// other methods and paths, a numeric tokenType.
func TestRawRequests(t *testing.T) {
	cen := client.CenToken(DefaultAdmin, DefaultAuthToken, DefaultSecretCode)
	const path = "/token/registerActiveToken/admin"
	body := func(fields string) string { return "{" + fields + `,"cenToken":"` + cen + `"}` }
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantBody   string // substring
	}{
		{"string token type", "PUT", path, body(`"username":"alice","tokenSn":"+60123456789","tokenType":"1"`), 200, `{"code":"0","message":"Success","object":"{\"tokenSn\":\"+60123456789\"}"}`},
		{"numeric token type", "PUT", path, body(`"username":"alice","tokenSn":"OTP01","tokenType":2`), 200, `"code":"0"`},
		{"extra fields ignored", "PUT", path, body(`"username":"alice","tokenSn":"+60123456789","tokenType":"1","note":"x"`), 200, `"code":"0"`},
		{"token type 3", "PUT", path, body(`"username":"alice","tokenSn":"+60123456789","tokenType":"3"`), 200, `{"code":"10002","message":"Invalid Input","object":null}`},
		{"token type SMS", "PUT", path, body(`"username":"alice","tokenSn":"+60123456789","tokenType":"SMS"`), 200, `"message":"Invalid Input"`},
		{"token type missing", "PUT", path, body(`"username":"alice","tokenSn":"+60123456789"`), 200, `"message":"Invalid Input"`},
		{"username missing", "PUT", path, body(`"tokenSn":"+60123456789","tokenType":"1"`), 200, `"message":"Invalid Input"`},
		{"username empty", "PUT", path, body(`"username":"","tokenSn":"+60123456789","tokenType":"1"`), 200, `"message":"Invalid Input"`},
		{"tokenSn empty", "PUT", path, body(`"username":"alice","tokenSn":"","tokenType":"1"`), 200, `"message":"Invalid Input"`},
		{"username a number", "PUT", path, body(`"username":7,"tokenSn":"+60123456789","tokenType":"1"`), 200, `"message":"Invalid Input"`},
		{"cenToken missing", "PUT", path, `{"username":"alice","tokenSn":"+60123456789","tokenType":"1"}`, 200, `"message":"Invalid Input"`},
		{"cenToken empty", "PUT", path, `{"username":"alice","tokenSn":"+60123456789","tokenType":"1","cenToken":""}`, 200, `{"code":"10002","message":"Invalid cenToken","object":null}`},
		{"not json", "PUT", path, `username=alice`, 200, `"message":"Invalid Input"`},
		{"empty body", "PUT", path, ``, 200, `"message":"Invalid Input"`},
		{"body too large", "PUT", path, body(`"username":"` + strings.Repeat("a", maxRequestBody) + `","tokenSn":"1","tokenType":"1"`), 200, `"message":"Invalid Input"`},
		{"input checked before credentials", "PUT", "/token/registerActiveToken/root", `{}`, 200, `"message":"Invalid Input"`},
		{"other admin", "PUT", "/token/registerActiveToken/root", body(`"username":"alice","tokenSn":"+60123456789","tokenType":"1"`), 200, `"message":"Invalid cenToken"`},
		{"admin with escaped slash", "PUT", "/token/registerActiveToken/ad%2Fmin", body(`"username":"alice","tokenSn":"+60123456789","tokenType":"1"`), 200, `"message":"Invalid cenToken"`},
		{"escaped admin", "PUT", "/token/registerActiveToken/%61dmin", body(`"username":"alice","tokenSn":"+60123456789","tokenType":"1"`), 200, `"code":"0"`},
		{"GET", "GET", path, "", 405, "use PUT"},
		{"POST", "POST", path, body(`"username":"alice","tokenSn":"+60123456789","tokenType":"1"`), 405, "use PUT"},
		{"no admin segment", "PUT", "/token/registerActiveToken/", "{}", 404, "not found"},
		{"two segments", "PUT", "/token/registerActiveToken/admin/x", "{}", 404, "not found"},
		{"other endpoint", "PUT", "/token/unregisterToken/admin", "{}", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, fixture(), Options{})
			status, header, got := send(t, s, tt.method, tt.path, tt.body)
			if status != tt.wantStatus || !strings.Contains(got, tt.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, status, got, tt.wantStatus, tt.wantBody)
			}
			if status == 200 && header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", header.Get("Content-Type"))
			}
			if status == 405 && header.Get("Allow") != "PUT" {
				t.Errorf("Allow = %q, want PUT", header.Get("Allow"))
			}
			if st := s.Stats(); st.HTTPStatus[tt.wantStatus] != 1 || st.Requests != 1 {
				t.Errorf("Stats() Requests %d HTTPStatus %v, want 1 request with status %d", st.Requests, st.HTTPStatus, tt.wantStatus)
			}
		})
	}
}

func TestBasePath(t *testing.T) {
	tests := []struct{ basePath, wantSuffix string }{
		{"", "/CentagateWS/webresources"},
		{"/", "/CentagateWS/webresources"},
		{"api/v1/", "/api/v1"},
		{"/other", "/other"},
	}
	for _, tt := range tests {
		s := newServer(t, fixture(), Options{BasePath: tt.basePath})
		if !strings.HasSuffix(s.URL, tt.wantSuffix) || !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
			t.Errorf("BasePath %q: URL = %q, want http://127.0.0.1:PORT%s", tt.basePath, s.URL, tt.wantSuffix)
		}
		c := newClient(t, s, nil)
		resp, err := c.Register(t.Context(), client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS})
		if err != nil || resp.Code != "0" {
			t.Errorf("BasePath %q: Register = %+v, %v; want code 0", tt.basePath, resp, err)
		}
	}
}

func TestCustomCredentials(t *testing.T) {
	s := newServer(t, fixture(), Options{Admin: "webadmin", AuthToken: "9f8e7d6c5b4a", SecretCode: "Hrz3G92PO2hN"})
	reg := client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS}
	demo, err := newClient(t, s, nil).Register(t.Context(), reg)
	if err != nil || demo.Code != "10002" || demo.Message != "Invalid cenToken" {
		t.Errorf("Register with demo credentials = %+v, %v; want 10002 Invalid cenToken", demo, err)
	}
	right := newClient(t, s, func(c *client.Config) {
		c.Credentials.Admin, c.Credentials.AuthToken, c.Credentials.SecretCode = "webadmin", "9f8e7d6c5b4a", "Hrz3G92PO2hN"
	})
	got, err := right.Register(t.Context(), reg)
	if err != nil || got.Code != "0" {
		t.Errorf("Register with the expected credentials = %+v, %v; want code 0", got, err)
	}
}

// TestConcurrentSameToken checks that the state mutex lets exactly one of
// many concurrent registrations of one token through.
func TestConcurrentSameToken(t *testing.T) {
	if testing.Short() {
		t.Skip("-short (make check): 100 concurrent registrations; make test runs it")
	}
	const n = 100
	st := State{Tokens: []Token{{Serial: "OTP-SHARED", Status: "deactivated"}}}
	for i := range n {
		st.Users = append(st.Users, fmt.Sprintf("user%03d", i))
	}
	tests := []struct {
		name      string
		typ       client.TokenType
		sn        string
		wantOther string
	}{
		{"otp", client.OTP, "OTP-SHARED", client.CodeInvalidTokenStatus},
		{"sms", client.SMS, "+60199999999", client.CodePhoneUsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, st, Options{})
			c := newClient(t, s, func(c *client.Config) { c.Conns = n })
			codes := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					resp, err := c.Register(t.Context(), client.Registration{Username: st.Users[i], TokenSn: tt.sn, TokenType: tt.typ})
					if err != nil {
						codes[i] = err.Error()
						return
					}
					codes[i] = resp.Code
				})
			}
			wg.Wait()
			count := map[string]int{}
			for _, c := range codes {
				count[c]++
			}
			if count["0"] != 1 || count[tt.wantOther] != n-1 {
				t.Errorf("%d concurrent registrations of %s: codes %v, want 1 success and %d × %s", n, tt.sn, count, n-1, tt.wantOther)
			}
			key := tt.typ.String() + ":" + tt.sn
			if got := s.Stats().Registrations[key]; got != 1 {
				t.Errorf("Stats().Registrations[%q] = %d, want 1", key, got)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	const latency = 50 * time.Millisecond
	s := newServer(t, fixture(), Options{Latency: latency})
	c := newClient(t, s, nil)
	start := time.Now()
	resp, err := c.Register(t.Context(), client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS})
	if err != nil || resp.Code != "0" {
		t.Fatalf("Register = %+v, %v; want code 0", resp, err)
	}
	// A lower bound only: a timer never fires early, a busy machine is late.
	if took := time.Since(start); took < latency {
		t.Errorf("Register took %v, want at least the latency %v", took, latency)
	}
}

func TestLatencyEndsWithClient(t *testing.T) {
	s := newServer(t, fixture(), Options{Latency: time.Hour})
	c := newClient(t, s, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Register(ctx, client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS})
	if err == nil {
		t.Fatal("Register with an hour of latency and a 100ms deadline succeeded, want an error")
	}
	// The handler must notice the client went away and leave: Close (in
	// Cleanup) would otherwise wait, and goleak would see it.
	waitIdle(t, s)
	if got := s.State(); slices.Contains(got.PhonesInUse, "+60123456789") {
		t.Errorf("an abandoned request was applied: PhonesInUse = %v", got.PhonesInUse)
	}
}

func TestCloseCutsLatencyShort(t *testing.T) {
	s := NewServer(fixture(), Options{Latency: time.Hour})
	defer s.Close()
	c := newClient(t, s, nil)
	type result struct {
		resp client.Response
		err  error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := c.Register(t.Context(), client.Registration{Username: "alice", TokenSn: "+60123456789", TokenType: client.SMS})
		done <- result{resp, err}
	}()
	waitFor(t, "the request to reach the handler", func() bool { return s.Stats().Requests == 1 })
	s.Close()
	r := <-done
	if r.err != nil || r.resp.Code != "0" {
		t.Errorf("Register during Close = %+v, %v; want it answered at once with code 0", r.resp, r.err)
	}
}

func TestRequestAfterHandlerClose(t *testing.T) {
	s := newServer(t, fixture(), Options{})
	s.h.Close()
	status, _, _ := send(t, s, "PUT", "/token/registerActiveToken/admin", "{}")
	if status != http.StatusServiceUnavailable {
		t.Errorf("PUT after Handler.Close = %d, want 503", status)
	}
	if got := s.Stats().Requests; got != 0 {
		t.Errorf("Stats().Requests = %d, want 0 (requests after Close are not counted)", got)
	}
}
