package report

import (
	"slices"
	"time"
)

// Status is the outcome of one input row (SPEC §5).
type Status string

// The statuses of a result row.
const (
	// StatusOK: the server answered code 0.
	StatusOK Status = "ok"
	// StatusFailed: the server answered a non-zero code.
	StatusFailed Status = "failed"
	// StatusError: no valid answer after all attempts.
	StatusError Status = "error"
	// StatusInvalid: rejected locally, never sent.
	StatusInvalid Status = "invalid"
	// StatusSkipped: not sent (duplicate, in the ledger, another shard's row).
	StatusSkipped Status = "skipped"
	// StatusValid: `tokenreg validate` found nothing wrong with the row.
	StatusValid Status = "valid"
)

// Final reports whether a row with this status is done: --resume does not
// send it again. Only StatusError rows are tried again.
func (s Status) Final() bool {
	switch s {
	case StatusOK, StatusFailed, StatusInvalid, StatusSkipped, StatusValid:
		return true
	}
	return false
}

// Known reports whether s is one of the statuses above.
func (s Status) Known() bool { return s.Final() || s == StatusError }

// header is the result CSV's header row, in order; Header returns a copy.
var header = []string{"line", "username", "tokenSn", "tokenType", "status", "code", "message", "attempts", "duration_ms", "finished_at"}

// Header returns the result CSV's header row, in order (a copy: the
// package's own stays as it is).
func Header() []string { return slices.Clone(header) }

// Result is one row of the result CSV: the outcome of one input data row.
type Result struct {
	// Line is the 1-based line of the input where the record starts
	// (the header is line 1).
	Line int
	// Username, TokenSn and TokenType are as read from the input (TokenType
	// normalised to "SMS" or "OTP" when it was valid, verbatim otherwise).
	Username  string
	TokenSn   string
	TokenType string
	Status    Status
	// Code and Message are the server's, verbatim; Code is empty unless the
	// server answered, and Message then says why.
	Code    string
	Message string
	// Attempts is the number of requests sent for the row (0 if none).
	Attempts int
	// Duration is the time from the row's first attempt to its outcome.
	Duration time.Duration
	// FinishedAt is when the outcome was decided.
	FinishedAt time.Time
}
