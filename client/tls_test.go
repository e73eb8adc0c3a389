package client

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCert is a certificate and its key, made for one test.
type testCert struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

// newCert makes a certificate for name signed by parent (self-signed if
// parent is nil).
func newCert(t *testing.T, name string, isCA bool, usage x509.ExtKeyUsage, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert, der, key}
}

func writePEM(t *testing.T, name, blockType string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (c *testCert) writeCert(t *testing.T) string {
	return writePEM(t, "cert.pem", "CERTIFICATE", c.der)
}

func (c *testCert) writeKey(t *testing.T) string {
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, "key.pem", "PRIVATE KEY", der)
}

// quiet stops a test server from logging the handshake failures a test
// provokes on purpose.
func quiet(s *httptest.Server) {
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
}

func TestTLS(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	quiet(s)
	s.StartTLS()
	defer s.Close()
	serverCA := writePEM(t, "server.pem", "CERTIFICATE", s.Certificate().Raw)
	otherCA := newCert(t, "Other CA", true, 0, nil).writeCert(t)

	tests := []struct {
		name     string
		cfg      Config
		wantText string // "" means success
	}{
		{"system roots do not trust the test CA", Config{}, "certificate"},
		{"CA file with the server's certificate", Config{CAFile: serverCA}, ""},
		{"wrong CA", Config{CAFile: otherCA}, "certificate"},
		{"insecure skip verify", Config{InsecureSkipVerify: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Credentials = testCredentials(s.URL)
			c := newTestClient(t, cfg)
			resp, err := c.Register(context.Background(), sms)
			if tt.wantText == "" {
				if err != nil || !resp.OK() {
					t.Fatalf("Register() = %+v, %v; want success", resp, err)
				}
				return
			}
			te := checkTransportError(t, "Register()", err, wantTransport{op: "send", maybeSent: false, text: tt.wantText})
			// The fact is typed; the command names its flag (issue 15).
			var ua x509.UnknownAuthorityError
			if !errors.As(err, &ua) {
				t.Errorf("Register() error = %v, want an x509.UnknownAuthorityError inside", err)
			}
			if strings.Contains(te.Error(), "--") {
				t.Errorf("Register() error = %q names a command-line flag", te)
			}
			var cve *tls.CertificateVerificationError
			if !errors.As(err, &cve) {
				t.Errorf("Register() error = %v, want a *tls.CertificateVerificationError inside", err)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	ca := newCert(t, "Client CA", true, 0, nil)
	client := newCert(t, "tokenreg", false, x509.ExtKeyUsageClientAuth, ca)
	stranger := newCert(t, "stranger", false, x509.ExtKeyUsageClientAuth, newCert(t, "Other CA", true, 0, nil))
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)

	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || r.TLS.PeerCertificates[0].Subject.CommonName != "tokenreg" {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		okHandler(w, r)
	}))
	s.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	quiet(s)
	s.StartTLS()
	defer s.Close()
	serverCA := writePEM(t, "server.pem", "CERTIFICATE", s.Certificate().Raw)

	tests := []struct {
		name     string
		cert     *testCert
		wantText string // "" means success
	}{
		{"client certificate", client, ""},
		{"no client certificate", nil, "certificate"},
		{"certificate from another CA", stranger, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Credentials: testCredentials(s.URL), CAFile: serverCA}
			if tt.cert != nil {
				cfg.CertFile, cfg.KeyFile = tt.cert.writeCert(t), tt.cert.writeKey(t)
			}
			c := newTestClient(t, cfg)
			resp, err := c.Register(context.Background(), sms)
			if tt.wantText == "" {
				if err != nil || !resp.OK() {
					t.Fatalf("Register() = %+v, %v; want success", resp, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Register() = %+v, want an error", resp)
			}
			var te *TransportError
			if !errors.As(err, &te) {
				t.Fatalf("Register() error = %v (%T), want a *TransportError", err, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Register() error = %q, want it to contain %q", err, tt.wantText)
			}
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	cert := newCert(t, "tokenreg", false, x509.ExtKeyUsageClientAuth, nil)
	certFile, keyFile := cert.writeCert(t), cert.writeKey(t)
	otherKeyFile := newCert(t, "other", false, x509.ExtKeyUsageClientAuth, nil).writeKey(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")

	// The text says what is wrong and names no flag; Field names the
	// setting at fault, for the caller to name its flag.
	tests := []struct {
		name     string
		cfg      Config
		field    string
		wantText []string
	}{
		{"cert without key", Config{CertFile: certFile}, "KeyFile", []string{"certificate and its key go together"}},
		{"key without cert", Config{KeyFile: keyFile}, "CertFile", []string{"certificate and its key go together"}},
		{"missing CA file", Config{CAFile: missing}, "CAFile", []string{"CA certificates", missing}},
		{"CA file without PEM", Config{CAFile: notPEM}, "CAFile", []string{"CA certificates", notPEM, "no PEM"}},
		{"missing cert file", Config{CertFile: missing, KeyFile: keyFile}, "CertFile", []string{"client certificate and key", missing}},
		{"key of another cert", Config{CertFile: certFile, KeyFile: otherKeyFile}, "CertFile", []string{"client certificate and key", otherKeyFile}},
		{"cert and key swapped", Config{CertFile: keyFile, KeyFile: certFile}, "CertFile", []string{"client certificate and key"}},
		{"plain http", Config{Credentials: testCredentials("http://mfa.example.com")}, "AllowHTTP", []string{"refusing plain http://"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.Credentials.URL == "" {
				cfg.Credentials = testCredentials("https://mfa.example.com")
			}
			c, err := New(cfg)
			if err == nil {
				c.CloseIdleConnections()
				t.Fatalf("New(%+v) = nil error, want a configuration error", cfg)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("New() error = %v, want it to wrap ErrConfig", err)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.field {
				t.Errorf("New() error = %#v, want a ConfigError for %s", err, tt.field)
			}
			if strings.Contains(err.Error(), "--") {
				t.Errorf("New() error = %q names a flag", err)
			}
			for _, s := range tt.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("New() error = %q, want it to contain %q", err, s)
				}
			}
		})
	}
}
