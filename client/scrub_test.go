package client

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestScrubIgnoresCase(t *testing.T) {
	const cen = "e95156d009b369eae824aa2292b71553c79b21be972f9d84627c4c5ce4e0d439"
	secrets := []string{fold(cen), fold("Tok-Ø-123456"), fold("S3cret-Code")}
	tests := []struct{ name, in, want string }{
		{"upper-cased cenToken", "Invalid cenToken " + strings.ToUpper(cen), "Invalid cenToken [REDACTED]"},
		{"mixed case piece", "x " + strings.ToUpper(cen[:10]) + cen[10:20] + " y", "x [REDACTED] y"},
		{"secret code upper-cased", "bad S3CRET-CODE here", "bad [REDACTED] here"},
		{"non-ASCII secret upper-cased", "tok TOK-Ø-123456!", "tok [REDACTED]!"},
		{"non-ASCII secret lower-cased", "tok tok-ø-123456!", "tok [REDACTED]!"},
		{"short run kept", "E95156D", "E95156D"},
		{"ordinary text", "Phone Number Had Been Used", "Phone Number Had Been Used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scrub(tt.in, secrets)
			if got != tt.want {
				t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("scrub(%q) = %q, not valid UTF-8", tt.in, got)
			}
		})
	}
}

// TestScrubKeepsCharactersWhole checks that a redacted run never leaves half
// of a multi-byte character behind.
func TestScrubKeepsCharactersWhole(t *testing.T) {
	secrets := []string{fold("ééééééééééé")}
	for _, in := range []string{"xééééééééé", "\xa9éééééééé", "ééééééééé\xc3"} {
		if got := scrub(in, secrets); !utf8.ValidString(got) && utf8.ValidString(in) {
			t.Errorf("scrub(%q) = %q, not valid UTF-8", in, got)
		}
	}
}

func TestFoldKeepsLength(t *testing.T) {
	for _, s := range []string{"ABC", "ÀÉÎ", "\u212a\u0130", "ΣΑΣ", "\xff\xfeA", ""} {
		if got := fold(s); len(got) != len(s) {
			t.Errorf("fold(%q) = %q: length %d, want %d", s, got, len(got), len(s))
		}
	}
	if got := fold("E95156D0"); got != "e95156d0" {
		t.Errorf("fold(%q) = %q, want %q", "E95156D0", got, "e95156d0")
	}
}

// TestRegisterScrubsEchoedSecrets runs Register against a server that echoes
// the cenToken (upper-cased) and the secrets in its code and message: none
// of them may come back to the caller.
func TestRegisterScrubsEchoedSecrets(t *testing.T) {
	creds := Credentials{Admin: "webadmin", AuthToken: "9f8e7d6c5b4a", SecretCode: "Hrz3G92PO2hN"}
	cen := creds.CenToken()
	tests := []struct {
		name    string
		answer  func(cenToken string) string
		wantErr error
	}{
		{"cenToken upper-cased in message", func(c string) string {
			return `{"code":"10002","message":"Invalid cenToken ` + strings.ToUpper(c) + `"}`
		}, nil},
		{"cenToken in code", func(c string) string { return `{"code":"` + c + `","message":"m"}` }, ErrBadCode},
		{"auth token echoed in message", func(string) string { return `{"code":"10002","message":"token 9F8E7D6C5B4A rejected"}` }, nil},
		{"secret code echoed", func(string) string { return `{"code":"10002","message":"key hrz3g92po2hn"}` }, nil},
		{"cenToken in error page", func(c string) string { return `<html>` + strings.ToUpper(c) + `</html>` }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				io.WriteString(w, tt.answer(cen))
			}))
			defer s.Close()
			c := newTestClient(t, Config{Credentials: Credentials{URL: s.URL, Admin: creds.Admin, AuthToken: creds.AuthToken, SecretCode: creds.SecretCode}})
			resp, err := c.Register(context.Background(), sms)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Register() error = %v, want %v", err, tt.wantErr)
			}
			out := resp.Code + " " + resp.Message
			if err != nil {
				out += " " + err.Error()
			}
			low := strings.ToLower(out)
			for _, secret := range []string{cen, creds.AuthToken, creds.SecretCode} {
				if strings.Contains(low, strings.ToLower(secret[:8])) {
					t.Errorf("Register() = %+v, %v: holds a piece of a secret", resp, err)
				}
			}
		})
	}
}

// TestRegisterRefusesCodeQuotingSecret: a numeric secret echoed as the code
// makes the answer a transport failure, not a verdict with the secret as
// its code.
func TestRegisterRefusesCodeQuotingSecret(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"code":"90817263","message":"m"}`)
	}))
	defer s.Close()
	c := newTestClient(t, Config{Credentials: Credentials{URL: s.URL, Admin: "webadmin", AuthToken: "90817263", SecretCode: "Hrz3G92PO2hN"}})
	resp, err := c.Register(context.Background(), sms)
	if !errors.Is(err, ErrSecretEchoed) {
		t.Fatalf("Register() = %+v, %v; want an error wrapping ErrSecretEchoed", resp, err)
	}
	if strings.Contains(err.Error(), "90817263") {
		t.Errorf("Register() error = %q, quotes the secret", err)
	}
	var te *TransportError
	if !errors.As(err, &te) || !te.MaybeSent || te.StatusCode != 200 {
		t.Errorf("Register() error = %#v, want a *TransportError with MaybeSent and status 200", err)
	}
}
