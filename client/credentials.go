package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
)

// Credentials are what the server needs to accept a registration. AuthToken
// and SecretCode are secrets: the String, GoString, Format, LogValue and
// MarshalJSON forms redact them, so a Credentials value (or a Config holding
// one) can be logged, printed or marshalled safely.
type Credentials struct {
	// URL is the web-service root, e.g.
	// https://mfa.example.com/CentagateWS/webresources.
	URL string
	// Admin is the admin username, sent as a path segment and signed.
	Admin      string
	AuthToken  string
	SecretCode string
}

// CenToken returns the signature of these credentials (see CenToken).
func (c Credentials) CenToken() string { return CenToken(c.Admin, c.AuthToken, c.SecretCode) }

// Check reports which settings are empty, as a *MissingError; it never
// includes a secret's value.
func (c Credentials) Check() error {
	var missing []Setting
	if strings.TrimSpace(c.URL) == "" {
		missing = append(missing, SettingURL)
	}
	if c.Admin == "" {
		missing = append(missing, SettingAdmin)
	}
	if c.AuthToken == "" {
		missing = append(missing, SettingAuthToken)
	}
	if c.SecretCode == "" {
		missing = append(missing, SettingSecretCode)
	}
	if len(missing) > 0 {
		return &MissingError{Missing: missing}
	}
	return nil
}

// ErrCredentials is wrapped by errors about missing or unusable credentials.
var ErrCredentials = errors.New("credentials incomplete")

// Setting is one of the four settings of Credentials.
type Setting int

// The settings, in the order Check reports them.
const (
	SettingURL Setting = iota
	SettingAdmin
	SettingAuthToken
	SettingSecretCode
)

// String names the setting for an error message: "the secret code".
func (s Setting) String() string {
	switch s {
	case SettingURL:
		return "the server URL"
	case SettingAdmin:
		return "the admin username"
	case SettingAuthToken:
		return "the auth token"
	case SettingSecretCode:
		return "the secret code"
	}
	return fmt.Sprintf("setting %d", int(s))
}

// MissingError is Check's error: the settings that are empty. It wraps
// ErrCredentials. Its text names the settings only; the caller, which knows
// where they come from (flags, environment, a file), says how to set them.
type MissingError struct {
	Missing []Setting
}

func (e *MissingError) Error() string {
	names := make([]string, len(e.Missing))
	for i, s := range e.Missing {
		names[i] = s.String()
	}
	return fmt.Sprintf("%v: missing %s", ErrCredentials, strings.Join(names, ", "))
}

func (e *MissingError) Unwrap() error { return ErrCredentials }

func redact(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "[REDACTED]"
}

// redactURL hides a password in a URL (Endpoint refuses such a URL, but the
// Credentials may be printed before that).
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// String shows the URL and admin and redacts the secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("{URL:%s Admin:%s AuthToken:%s SecretCode:%s}", redactURL(c.URL), c.Admin, redact(c.AuthToken), redact(c.SecretCode))
}

// GoString is the Go syntax of c with the secrets redacted, for %#v.
func (c Credentials) GoString() string {
	return fmt.Sprintf("client.Credentials{URL:%q, Admin:%q, AuthToken:%q, SecretCode:%q}", redactURL(c.URL), c.Admin, redact(c.AuthToken), redact(c.SecretCode))
}

// Format prints String for every verb but %#v (GoString), so that no verb
// prints a secret: without it, %d or %x would print the struct's fields.
func (c Credentials) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, c.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", c.String())
	default:
		io.WriteString(f, c.String())
	}
}

// LogValue implements slog.LogValuer with the secrets redacted.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.String("admin", c.Admin),
		slog.String("auth_token", redact(c.AuthToken)),
		slog.String("secret_code", redact(c.SecretCode)),
	)
}

// MarshalJSON writes the LogValue form, secrets redacted: slog's JSON
// handler marshals a struct holding Credentials (a Config) with
// encoding/json, which would otherwise write the secrets out.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		URL        string `json:"url"`
		Admin      string `json:"admin"`
		AuthToken  string `json:"auth_token"`
		SecretCode string `json:"secret_code"`
	}{redactURL(c.URL), c.Admin, redact(c.AuthToken), redact(c.SecretCode)})
}
