package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// TokenType is the kind of token a registration binds: SMS (a mobile number)
// or OTP (a hardware token serial). The zero value is not a valid type.
type TokenType int

// The token types, numbered as the API numbers them.
const (
	SMS TokenType = 1
	OTP TokenType = 2
)

// ParseTokenType accepts "1", "2", "SMS" and "OTP" in any case, with
// surrounding spaces ignored.
func ParseTokenType(s string) (TokenType, error) {
	// ASCII folding only: strings.ToUpper would turn "ſms" into "SMS".
	switch asciiUpper(strings.TrimSpace(s)) {
	case "1", "SMS":
		return SMS, nil
	case "2", "OTP":
		return OTP, nil
	}
	return 0, fmt.Errorf("unknown token type %q: use 1 or SMS for a mobile number, 2 or OTP for a hardware token", s)
}

// String returns "SMS" or "OTP", the name an operator reads in a result file.
func (t TokenType) String() string {
	switch t {
	case SMS:
		return "SMS"
	case OTP:
		return "OTP"
	}
	return fmt.Sprintf("TokenType(%d)", int(t))
}

// Wire returns the value sent in the request's tokenType field: "1" or "2".
func (t TokenType) Wire() string {
	switch t {
	case SMS:
		return "1"
	case OTP:
		return "2"
	}
	return ""
}

// Valid reports whether t is SMS or OTP.
func (t TokenType) Valid() bool { return t == SMS || t == OTP }

// CenToken returns the request signature the server checks: the lowercase hex
// HMAC-SHA256, keyed with secretCode, of adminUsername followed by authToken.
// It does not depend on the row, so compute it once per run.
func CenToken(adminUsername, authToken, secretCode string) string {
	m := hmac.New(sha256.New, []byte(secretCode))
	m.Write([]byte(adminUsername))
	m.Write([]byte(authToken))
	return hex.EncodeToString(m.Sum(nil))
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
