package clienttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tokenreg/tokenreg/client"
)

// State is the server's data, as loaded from a JSON file such as
// samples/sim-state.json. The zero value is a server with no users: every
// registration answers 22002.
type State struct {
	// Users are the known usernames.
	Users []string `json:"users"`
	// Tokens are the OTP hardware tokens.
	Tokens []Token `json:"tokens"`
	// PhonesInUse are mobile numbers already registered (29004).
	PhonesInUse []string `json:"phonesInUse"`
	// UsersWithOTP are users already holding an OTP token (29008).
	UsersWithOTP []string `json:"usersWithOtp"`
	// NoCROTP are users not allowed to bind CR OTP tokens (6007 on any
	// OTP registration).
	NoCROTP []string `json:"noCrOtp"`
	// Failures script answers for particular users.
	Failures []Failure `json:"failures"`
}

// Token is an OTP hardware token.
type Token struct {
	// Serial is the token serial number, the request's tokenSn.
	Serial string `json:"serial"`
	// Status is one of the TokenStatus values; only a deactivated token
	// can be registered. It is compared case-insensitively.
	Status string `json:"status"`
	// Owner is the user the token is bound to, if any.
	Owner string `json:"owner,omitempty"`
}

// The token statuses the server knows. Any other status answers 29017.
const (
	StatusDeactivated = "deactivated" // registrable
	StatusActive      = "active"      // 29017
	StatusPending     = "pending"     // 29011
	StatusLocked      = "locked"      // 29002
	StatusDisabled    = "disabled"    // 29002
	StatusExpired     = "expired"     // 29002
	StatusLost        = "lost"        // 29002
)

func knownStatus(s string) bool {
	switch s {
	case StatusDeactivated, StatusActive, StatusPending, StatusLocked, StatusDisabled, StatusExpired, StatusLost:
		return true
	}
	return false
}

// Failure scripts the answer for a username: the first Times requests for it
// (0 = every request) answer Code with the vendor's message for that code.
// It applies after the user is found (step 6 of the checks), so Username
// must be one of State.Users. Several failures for one user apply in turn.
type Failure struct {
	Username string `json:"username"`
	Code     string `json:"code"`
	Times    int    `json:"times"`
}

// LoadState reads a State from a JSON file. Unknown fields, token statuses
// the server does not know, duplicate serials and malformed failures are
// errors that name the file.
func LoadState(path string) (State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return State{}, fmt.Errorf("load state: %w", err)
	}
	var st State
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return State{}, fmt.Errorf("load state %s line %d: %w", path, 1+bytes.Count(data[:se.Offset], []byte("\n")), err)
		}
		return State{}, fmt.Errorf("load state %s: %w", path, err)
	}
	if dec.More() {
		return State{}, fmt.Errorf("load state %s: data after the JSON object", path)
	}
	if err := st.check(); err != nil {
		return State{}, fmt.Errorf("load state %s: %w", path, err)
	}
	return st, nil
}

// check reports mistakes that would make a state file silently behave
// differently from what its author meant.
func (st State) check() error {
	seen := make(map[string]bool, len(st.Tokens))
	for i, t := range st.Tokens {
		switch {
		case t.Serial == "":
			return fmt.Errorf("tokens[%d]: empty serial", i)
		case seen[t.Serial]:
			return fmt.Errorf("tokens[%d]: serial %q listed twice", i, t.Serial)
		case !knownStatus(strings.ToLower(t.Status)):
			return fmt.Errorf("tokens[%d] %s: unknown status %q (want deactivated, active, pending, locked, disabled, expired or lost)", i, t.Serial, t.Status)
		}
		seen[t.Serial] = true
	}
	users := make(map[string]bool, len(st.Users))
	for _, u := range st.Users {
		users[u] = true
	}
	for i, f := range st.Failures {
		switch {
		case f.Username == "":
			return fmt.Errorf("failures[%d]: empty username", i)
		case !users[f.Username]:
			return fmt.Errorf("failures[%d]: user %q is not in users, so the failure could never apply", i, f.Username)
		case f.Code == "":
			return fmt.Errorf("failures[%d] %s: empty code", i, f.Username)
		case f.Times < 0:
			return fmt.Errorf("failures[%d] %s: negative times %d", i, f.Username, f.Times)
		}
	}
	return nil
}

type set map[string]struct{}

func newSet(items []string) set {
	s := make(set, len(items))
	for _, it := range items {
		s[it] = struct{}{}
	}
	return s
}

func (s set) has(k string) bool { _, ok := s[k]; return ok }

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

type tokenState struct {
	status string // lower case
	owner  string
}

type failureState struct {
	code string
	left int // requests still to fail; 0 with forever
	// forever is Times == 0: every request fails.
	forever bool
}

// db is the server's mutable state; the Handler guards it with one mutex.
// Maps make every check O(1), so the critical section stays tiny.
type db struct {
	users        set
	tokens       map[string]*tokenState
	phones       set
	usersWithOTP set
	noCROTP      set
	failures     map[string][]*failureState
}

func newDB(st State) *db {
	d := &db{
		users:        newSet(st.Users),
		tokens:       make(map[string]*tokenState, len(st.Tokens)),
		phones:       newSet(st.PhonesInUse),
		usersWithOTP: newSet(st.UsersWithOTP),
		noCROTP:      newSet(st.NoCROTP),
		failures:     make(map[string][]*failureState),
	}
	for _, t := range st.Tokens {
		d.tokens[t.Serial] = &tokenState{status: strings.ToLower(strings.TrimSpace(t.Status)), owner: t.Owner}
	}
	for _, f := range st.Failures {
		d.failures[f.Username] = append(d.failures[f.Username], &failureState{code: f.Code, left: f.Times, forever: f.Times <= 0})
	}
	return d
}

// register applies steps 5 to 8 of the checks to a request whose input and
// credentials are valid, and returns the code to answer.
func (d *db) register(username, tokenSn string, typ client.TokenType) string {
	if !d.users.has(username) {
		return client.CodeUserNotFound
	}
	if fs := d.failures[username]; len(fs) > 0 {
		f := fs[0]
		if !f.forever {
			f.left--
			if f.left <= 0 {
				d.failures[username] = fs[1:]
			}
		}
		return f.code
	}
	if typ == client.SMS {
		if d.phones.has(tokenSn) {
			return client.CodePhoneUsed
		}
		d.phones[tokenSn] = struct{}{}
		return client.CodeSuccess
	}
	t, ok := d.tokens[tokenSn]
	switch {
	case !ok:
		return client.CodeTokenNotFound
	case (t.owner != "" && t.owner != username) || t.status == StatusActive:
		return client.CodeInvalidTokenStatus
	case t.status == StatusLocked || t.status == StatusDisabled || t.status == StatusExpired || t.status == StatusLost:
		return client.CodeTokenNotActive
	case t.status == StatusPending:
		return client.CodeInvalidActivation
	case d.usersWithOTP.has(username):
		return client.CodeOTPAlreadyAssigned
	case d.noCROTP.has(username):
		return client.CodeCROTPNotAllowed
	case t.status != StatusDeactivated:
		return client.CodeInvalidTokenStatus
	}
	t.status, t.owner = StatusActive, username
	d.usersWithOTP[username] = struct{}{}
	return client.CodeSuccess
}

// snapshot returns the state as a State, lists sorted.
func (d *db) snapshot() State {
	st := State{
		Users:        d.users.sorted(),
		PhonesInUse:  d.phones.sorted(),
		UsersWithOTP: d.usersWithOTP.sorted(),
		NoCROTP:      d.noCROTP.sorted(),
	}
	for serial, t := range d.tokens {
		st.Tokens = append(st.Tokens, Token{Serial: serial, Status: t.status, Owner: t.owner})
	}
	slices.SortFunc(st.Tokens, func(a, b Token) int { return strings.Compare(a.Serial, b.Serial) })
	users := make([]string, 0, len(d.failures))
	for u := range d.failures {
		users = append(users, u)
	}
	slices.Sort(users)
	for _, u := range users {
		for _, f := range d.failures[u] {
			times := f.left
			if f.forever {
				times = 0
			}
			st.Failures = append(st.Failures, Failure{Username: u, Code: f.code, Times: times})
		}
	}
	return st
}
