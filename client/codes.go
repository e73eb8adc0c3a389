package client

// Class is what a server code asks of the caller.
type Class int

// The classes of SPEC §1.
const (
	// Permanent: the row is wrong for this server; sending it again changes nothing.
	Permanent Class = iota
	// OK: the registration was applied.
	OK
	// NeedsAction: an operator must change something (free a phone number,
	// unbind a token) before the row can succeed; then `tokenreg retry`.
	NeedsAction
	// Transient: a passing server-side failure; retry with backoff.
	Transient
)

func (c Class) String() string {
	switch c {
	case OK:
		return "ok"
	case NeedsAction:
		return "needs-action"
	case Transient:
		return "transient"
	}
	return "permanent"
}

// The documented codes.
const (
	CodeSuccess            = "0"
	CodeInvalidInput       = "10002"
	CodeDBProtection       = "10003"
	CodeDBError            = "10004"
	CodeUserNotFound       = "22002"
	CodeTokenNotFound      = "29001"
	CodeTokenNotActive     = "29002"
	CodePhoneUsed          = "29004"
	CodeOTPAlreadyAssigned = "29008"
	CodeInvalidActivation  = "29011"
	CodeInvalidTokenStatus = "29017"
	CodeRegisterFailed     = "6002"
	CodeCROTPNotAllowed    = "6007"
)

// Messages are the vendor's documented messages for each code.
var messages = map[string]string{
	CodeSuccess:            "Success",
	CodeInvalidInput:       "Invalid Input",
	CodeDBProtection:       "DB protection error",
	CodeDBError:            "DB error",
	CodeUserNotFound:       "User not found",
	CodeTokenNotFound:      "Token not found",
	CodeTokenNotActive:     "Token not active",
	CodePhoneUsed:          "Phone number had been used",
	CodeOTPAlreadyAssigned: "An OTP token already registered to this user",
	CodeInvalidActivation:  "Invalid token activation code",
	CodeInvalidTokenStatus: "Invalid token status",
	CodeRegisterFailed:     "Token register to user failed",
	CodeCROTPNotAllowed:    "User is not allowed to bind with CR OTP token",
}

// Message returns the vendor's documented message for code, or "" for a code
// the documentation does not list.
func Message(code string) string { return messages[code] }

// Classify returns the class of a server code. A code the documentation does
// not list is Permanent: it is reported verbatim and never retried.
func Classify(code string) Class {
	switch code {
	case CodeSuccess:
		return OK
	case CodeDBProtection, CodeDBError, CodeRegisterFailed:
		return Transient
	case CodePhoneUsed, CodeOTPAlreadyAssigned, CodeInvalidTokenStatus:
		return NeedsAction
	}
	return Permanent
}
