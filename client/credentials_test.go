package client

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const (
	secretAuthToken  = "AUTHTOKEN-7f3a9c"
	secretSecretCode = "SECRETCODE-91bd2e"
)

// assertNoSecret fails if s holds a secret, plainly or hex-encoded.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{secretAuthToken, secretSecretCode} {
		for _, form := range []string{secret, hex.EncodeToString([]byte(secret))} {
			if strings.Contains(strings.ToLower(s), strings.ToLower(form)) {
				t.Errorf("%s = %s, holds a secret (%q)", what, s, form)
			}
		}
	}
}

func TestCredentialsRedacted(t *testing.T) {
	c := Credentials{URL: "https://mfa.example.com/CentagateWS/webresources", Admin: "webadmin", AuthToken: secretAuthToken, SecretCode: secretSecretCode}
	cfg := Config{Credentials: c, CAFile: "/etc/ca.pem"}
	verbD := "%d"

	formats := []struct {
		name string
		got  string
	}{
		{"String", c.String()},
		{"GoString", c.GoString()},
		{"%v", fmt.Sprintf("%v", c)},
		{"%+v", fmt.Sprintf("%+v", c)},
		{"%#v", fmt.Sprintf("%#v", c)},
		{"%s", fmt.Sprintf("%s", c)},
		{"%q", fmt.Sprintf("%q", c)},
		{"%x", fmt.Sprintf("%x", c)},
		{"%X", fmt.Sprintf("%X", c)},
		{"%d", fmt.Sprintf("%d", c)},
		{"%v pointer", fmt.Sprintf("%v", &c)},
		{"%+v pointer", fmt.Sprintf("%+v", &c)},
		{"%#v pointer", fmt.Sprintf("%#v", &c)},
		{"Sprint", fmt.Sprint(c)},
		{"Sprintln", fmt.Sprintln(c)},
		{"%v in Config", fmt.Sprintf("%v", cfg)},
		{"%+v in Config", fmt.Sprintf("%+v", cfg)},
		{"%#v in Config", fmt.Sprintf("%#v", cfg)},
		//lint:ignore SA5009 the point: a wrong verb on a Config must not print the secrets either
		{"%d in Config", fmt.Sprintf(verbD, cfg)},
		{"%v in slice", fmt.Sprintf("%v", []Credentials{c})},
		{"error wrapping", fmt.Errorf("connect with %v: %w", c, errors.New("boom")).Error()},
	}
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			assertNoSecret(t, f.name, f.got)
			if !strings.Contains(f.got, "webadmin") && !strings.Contains(f.name, "%x") && !strings.Contains(f.name, "%X") {
				t.Errorf("%s = %s, want the admin username shown", f.name, f.got)
			}
		})
	}

	for _, marshal := range []struct {
		name string
		v    any
	}{{"Credentials", c}, {"pointer", &c}, {"Config", cfg}} {
		t.Run("json "+marshal.name, func(t *testing.T) {
			b, err := json.Marshal(marshal.v)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			assertNoSecret(t, "json.Marshal", string(b))
		})
	}

	handlers := []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	}
	for _, h := range handlers {
		t.Run("slog "+h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.new(&buf))
			log.Info("start", "credentials", c)
			log.Info("start", "credentials", &c)
			log.Info("start", slog.Any("credentials", c))
			log.Info("start", "config", cfg)
			log.Info("start", "config", &cfg)
			log.With("credentials", c).Info("start")
			log.WithGroup("run").Info("start", "credentials", c)
			assertNoSecret(t, "slog output", buf.String())
			if !strings.Contains(buf.String(), "webadmin") {
				t.Errorf("slog output = %s, want the admin username shown", buf.String())
			}
		})
	}
}

func TestCredentialsRedactsURLPassword(t *testing.T) {
	c := Credentials{URL: "https://ops:hunter2@mfa.example.com/ws", Admin: "a", AuthToken: "x", SecretCode: "y"}
	b, _ := json.Marshal(c)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "credentials", c)
	for _, got := range []string{c.String(), fmt.Sprintf("%#v", c), string(b), buf.String()} {
		if strings.Contains(got, "hunter2") {
			t.Errorf("%s shows the URL's password", got)
		}
		if !strings.Contains(got, "mfa.example.com") {
			t.Errorf("%s does not show the URL's host", got)
		}
	}
}

func TestCredentialsRedactShowsUnset(t *testing.T) {
	c := Credentials{URL: "https://h", Admin: "a"}
	if got, want := c.String(), "{URL:https://h Admin:a AuthToken:(unset) SecretCode:(unset)}"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	c.AuthToken, c.SecretCode = "x", "y"
	if got, want := c.String(), "{URL:https://h Admin:a AuthToken:[REDACTED] SecretCode:[REDACTED]}"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
}

func TestCredentialsCheck(t *testing.T) {
	full := Credentials{URL: "https://h", Admin: "admin", AuthToken: secretAuthToken, SecretCode: secretSecretCode}
	tests := []struct {
		name        string
		edit        func(*Credentials)
		wantErr     bool
		wantNames   []string
		unwantNames []string
	}{
		{"complete", func(*Credentials) {}, false, nil, nil},
		{"no URL", func(c *Credentials) { c.URL = "" }, true, []string{"the server URL"}, []string{"the admin username", "the auth token", "the secret code"}},
		{"blank URL", func(c *Credentials) { c.URL = "  " }, true, []string{"the server URL"}, nil},
		{"no admin", func(c *Credentials) { c.Admin = "" }, true, []string{"the admin username"}, []string{"the server URL"}},
		{"no auth token", func(c *Credentials) { c.AuthToken = "" }, true, []string{"the auth token"}, []string{"the secret code"}},
		{"no secret code", func(c *Credentials) { c.SecretCode = "" }, true, []string{"the secret code"}, []string{"the auth token"}},
		{"nothing", func(c *Credentials) { *c = Credentials{} }, true, []string{"the server URL", "the admin username", "the auth token", "the secret code"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := full
			tt.edit(&c)
			err := c.Check()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check() = %v, want error %t", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if !errors.Is(err, ErrCredentials) {
				t.Errorf("Check() = %v, want it to wrap ErrCredentials", err)
			}
			for _, n := range tt.wantNames {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("Check() = %v, want it to name %s", err, n)
				}
			}
			for _, n := range tt.unwantNames {
				if strings.Contains(err.Error(), n) {
					t.Errorf("Check() = %v, names %s which is set", err, n)
				}
			}
			assertNoSecret(t, "Check()", err.Error())
			// A library error names no flag and no environment variable:
			// the command says where a setting comes from.
			if strings.Contains(err.Error(), "--") || strings.Contains(err.Error(), "CENTAGATE_") {
				t.Errorf("Check() = %v, names a flag or an environment variable", err)
			}
			var me *MissingError
			if !errors.As(err, &me) || len(me.Missing) != len(tt.wantNames) {
				t.Errorf("Check() = %#v, want a *MissingError with %d settings", err, len(tt.wantNames))
			}
			// New reports the same, also without a secret.
			_, nerr := New(Config{Credentials: c})
			if nerr == nil || nerr.Error() != err.Error() {
				t.Errorf("New() = %v, want %v", nerr, err)
			}
		})
	}
}

func TestNewErrorsHoldNoSecret(t *testing.T) {
	bad := []string{"ftp://h/x", "http://example.com/x", "https://", "https://h:99x/", "mfa.example.com"}
	for _, u := range bad {
		_, err := New(Config{Credentials: Credentials{URL: u, Admin: "admin", AuthToken: secretAuthToken, SecretCode: secretSecretCode}})
		if err == nil {
			t.Errorf("New(URL %q) = nil error, want one", u)
			continue
		}
		assertNoSecret(t, fmt.Sprintf("New(URL %q)", u), err.Error())
	}
}
