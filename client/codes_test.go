package client

import "testing"

func TestClassify(t *testing.T) {
	// The table of SPEC §1.
	tests := []struct {
		code    string
		want    Class
		message string
	}{
		{"0", OK, "Success"},
		{"10002", Permanent, "Invalid Input"},
		{"10003", Transient, "DB protection error"},
		{"10004", Transient, "DB error"},
		{"22002", Permanent, "User not found"},
		{"29001", Permanent, "Token not found"},
		{"29002", Permanent, "Token not active"},
		{"29004", NeedsAction, "Phone number had been used"},
		{"29008", NeedsAction, "An OTP token already registered to this user"},
		{"29011", Permanent, "Invalid token activation code"},
		{"29017", NeedsAction, "Invalid token status"},
		{"6002", Transient, "Token register to user failed"},
		{"6007", Permanent, "User is not allowed to bind with CR OTP token"},
		{"99999", Permanent, ""},
		{"-1", Permanent, ""},
		{"", Permanent, ""},
		{"00", Permanent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := Classify(tt.code); got != tt.want {
				t.Errorf("Classify(%q) = %v, want %v", tt.code, got, tt.want)
			}
			if got := (Response{Code: tt.code}).Class(); got != tt.want {
				t.Errorf("Response{Code: %q}.Class() = %v, want %v", tt.code, got, tt.want)
			}
			if got := (Response{Code: tt.code}).OK(); got != (tt.want == OK) {
				t.Errorf("Response{Code: %q}.OK() = %t, want %t", tt.code, got, tt.want == OK)
			}
			if got := Message(tt.code); got != tt.message {
				t.Errorf("Message(%q) = %q, want %q", tt.code, got, tt.message)
			}
		})
	}
}

func TestClassString(t *testing.T) {
	tests := []struct {
		c    Class
		want string
	}{
		{OK, "ok"},
		{Permanent, "permanent"},
		{NeedsAction, "needs-action"},
		{Transient, "transient"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Class(%d).String() = %q, want %q", int(tt.c), got, tt.want)
		}
	}
}
