package report

// RunbookEntry is what the runbook says about one server code (SPEC §1):
// what it means and what the operator does about it. The text is Markdown
// inline markup (`code`, **strong**, *emphasis*): the README's runbook table
// is made of exactly these entries (a test holds them equal), and the HTML
// report renders them.
type RunbookEntry struct {
	Code    string // the server's code, or a status for rows with no code
	Message string // the server's documented message
	Meaning string
	Action  string
}

// Runbook is the README's "Runbook: what to do about each code", in its
// order: the one copy of that text in the program.
var Runbook = []RunbookEntry{
	{"0", "Success", "registered", "nothing"},
	{"10002", "Invalid Input", "a field the server refused; on **every** row: a wrong secret code, auth token or admin (the cenToken does not match)", "check the row; if all rows fail, check the credentials (exit 3 stops the run early)"},
	{"10003", "DB protection error", "server-side, passing", "retried automatically; if it remains: `tokenreg retry R.csv --codes 10003` later"},
	{"10004", "DB error", "server-side, passing", "as 10003"},
	{"6002", "Token register to user failed", "server-side, passing", "as 10003"},
	{"22002", "User not found", "the username does not exist on the server", "create the user or fix the spelling, then retry"},
	{"29001", "Token not found", "the OTP serial is not in the server's inventory", "import the token (or fix the serial), then retry"},
	{"29002", "Token not active", "the token is locked, disabled or expired", "have it reset to deactivated in the admin console, then retry"},
	{"29004", "Phone number had been used", "the number is registered to someone already", "free the number (or fix the row), then `tokenreg retry R.csv --codes 29004`"},
	{"29008", "An OTP token already registered to this user", "the user holds an OTP token", "unassign the old token if this one replaces it, then `tokenreg retry R.csv --codes 29008`; if the message says *an earlier attempt's answer was lost*, the token is most likely already this user's: check, nothing to do"},
	{"29011", "Invalid token activation code", "the token needs activation", "activate it on the server, then retry"},
	{"29017", "Invalid token status", "the token is active or bound to another user", "unbind it, then `tokenreg retry R.csv --codes 29017`"},
	{"6007", "User is not allowed to bind with CR OTP token", "policy forbids CR OTP for this user", "change the user's policy or give an SMS token"},
}

// StatusRunbook is the README's runbook for the rows that need action but
// carry no server code, and for codes the vendor does not document: Code
// is the status (or "other"), Message is empty.
var StatusRunbook = []RunbookEntry{
	{"error", "", "no valid answer after all attempts: network, timeout, 5xx, 429, a body that is not the API's", "once the server answers again: `tokenreg retry R.csv --status error` (or `--resume` the run)"},
	{"invalid", "", "rejected locally, never sent: the message names the problem", "fix the rows in the input, then run the fixed rows"},
	{"other", "", "a code the vendor does not document", "read the server's message; ask the server's administrator or the vendor"},
}

// RunbookFor returns the runbook's entry for a row that needs action: by
// code for a row the server answered, by status for an error or invalid
// row, the "other" entry for a code the vendor does not document.
func RunbookFor(st Status, code string) RunbookEntry {
	key, table := string(st), StatusRunbook
	if code != "" {
		key, table = code, Runbook
	}
	for _, e := range table {
		if e.Code == key {
			return e
		}
	}
	for _, e := range StatusRunbook {
		if e.Code == "other" {
			return e
		}
	}
	return RunbookEntry{}
}
