package client

import "testing"

func TestCenToken(t *testing.T) {
	// The vectors of SPEC §1, computed with openssl and Node's crypto.
	tests := []struct {
		name                         string
		admin, authToken, secretCode string
		want                         string
	}{
		{"ascii", "admin", "tok123", "s3cret", "e95156d009b369eae824aa2292b71553c79b21be972f9d84627c4c5ce4e0d439"},
		{"webadmin", "webadmin", "9f8e7d6c5b4a", "Hrz3G92PO2hN", "52db0f53032afb230f7fceee883d5d739760aeaaefe8ad23386faade5be0489e"},
		{"unicode", "ádmín", "tøken", "sécret", "0b68d620c5a20e3f77fe130d75cb69b56bde2d60d383d6d0fa471eb4147e1e41"},
		{"empty token and secret", "admin", "", "", "8d5f8aeeb64e3ce20b537d04c486407eaf489646617cfcf493e76f5b794fa080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CenToken(tt.admin, tt.authToken, tt.secretCode); got != tt.want {
				t.Errorf("CenToken(%q, %q, %q) = %s, want %s", tt.admin, tt.authToken, tt.secretCode, got, tt.want)
			}
			c := Credentials{Admin: tt.admin, AuthToken: tt.authToken, SecretCode: tt.secretCode}
			if got := c.CenToken(); got != tt.want {
				t.Errorf("Credentials.CenToken() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseTokenType(t *testing.T) {
	tests := []struct {
		in      string
		want    TokenType
		wantErr bool
	}{
		{"1", SMS, false},
		{"2", OTP, false},
		{"SMS", SMS, false},
		{"sms", SMS, false},
		{"Sms", SMS, false},
		{" OTP ", OTP, false},
		{"otp", OTP, false},
		{"\t2\n", OTP, false},
		{"3", 0, true},
		{"0", 0, true},
		{"", 0, true},
		{"   ", 0, true},
		{"S MS", 0, true},
		{"SMS1", 0, true},
		{"01", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseTokenType(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTokenType(%q) error = %v, want error %t", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseTokenType(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if err == nil && !got.Valid() {
				t.Errorf("ParseTokenType(%q) = %v, not Valid", tt.in, got)
			}
		})
	}
}

func TestTokenTypeForms(t *testing.T) {
	tests := []struct {
		typ       TokenType
		str, wire string
		valid     bool
	}{
		{SMS, "SMS", "1", true},
		{OTP, "OTP", "2", true},
		{0, "TokenType(0)", "", false},
		{3, "TokenType(3)", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			if got := tt.typ.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if got := tt.typ.Wire(); got != tt.wire {
				t.Errorf("Wire() = %q, want %q", got, tt.wire)
			}
			if got := tt.typ.Valid(); got != tt.valid {
				t.Errorf("Valid() = %t, want %t", got, tt.valid)
			}
		})
	}
}
