package batch

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gocarina/gocsv"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// MaxFieldBytes is the longest username, serial or type accepted (SPEC §4).
const MaxFieldBytes = 256

// InputError is a problem that makes the whole input unusable (no header,
// no recognisable columns, unterminated quote): the run stops before
// anything is sent, exit 2.
type InputError struct {
	Name string // file name as given, "-" for stdin
	Line int    // 1-based; 0 when the problem is the file as a whole
	Err  error
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %v", e.Name, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Name, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// record is the shape gocsv fills from one input row. The tags are the
// canonical column names; canonicalHeader maps the file's own header (and
// its aliases) onto them.
type record struct {
	Username  string `csv:"username"`
	TokenSn   string `csv:"tokensn"`
	TokenType string `csv:"tokentype"`
	// Status and Code are read when the input is a result file (retry).
	Status  string `csv:"status"`
	Code    string `csv:"code"`
	Message string `csv:"message"`
}

// aliases maps a normalised header name to its canonical column.
var aliases = map[string]string{
	"username": "username", "user": "username", "userid": "username",
	"tokensn": "tokensn", "serial": "tokensn", "sn": "tokensn", "mobile": "tokensn", "phone": "tokensn",
	"tokentype": "tokentype", "type": "tokentype",
	"status": "status", "code": "code", "message": "message",
}

var required = []struct{ canon, display string }{
	{"username", "username"}, {"tokensn", "tokenSn"}, {"tokentype", "tokenType"},
}

// normalizeHeader folds case and drops '_', '-', spaces and zero-width
// characters, so "Token_SN", "token-sn" and "Token SN" are all "tokensn".
func normalizeHeader(h string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(h) {
		switch r {
		case '_', '-', ' ', '\t', '\u200b', '\u200c', '\u200d', '\ufeff':
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Row is one input data row after local checks.
type Row struct {
	Line int
	// The fields as read (trimmed); TokenType is the raw text.
	Username, TokenSn, TokenTypeText string
	TokenType                        client.TokenType
	// Status, Code and Message come from a result file read as input
	// (retry).
	Status, Code, Message string
	// Problem is why the row is invalid; empty for a valid row.
	Problem string
}

// Result returns the row's result with the given status and message.
func (r *Row) Result(st report.Status, msg string) report.Result {
	typ := r.TokenTypeText
	if r.TokenType.Valid() {
		typ = r.TokenType.String()
	}
	return report.Result{
		Line:      r.Line,
		Username:  displayField(r.Username),
		TokenSn:   displayField(r.TokenSn),
		TokenType: displayField(typ),
		Status:    st,
		Message:   msg,
	}
}

// displayField keeps a result cell readable and bounded: invalid UTF-8 is
// replaced and an over-long value is cut (the message says how long it was).
func displayField(s string) string {
	s = clip(s)
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		// NUL and other control bytes would break the tools that read the
		// result; the row's message says what was wrong.
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return '\uFFFD'
			}
			return r
		}, s)
	}
	return s
}

// clip makes a value valid UTF-8 and cuts it to MaxFieldBytes, for quoting
// in a message (with %q, which shows control characters escaped).
func clip(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > MaxFieldBytes {
		cut := MaxFieldBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// Reader reads input rows as a stream. It is not safe for concurrent use.
type Reader struct {
	name    string
	br      *bufio.Reader
	cr      *csv.Reader
	col     columns
	sum     hash.Hash
	fields  int
	hasStat bool
	unesc   bool
	eof     bool
}

// ReaderOptions tune how the input is read.
type ReaderOptions struct {
	// Unescape strips the formula guards of a result file (retry).
	Unescape bool
}

// NewReader reads and checks the header. name is used in errors. The
// returned error is an *InputError for a file that cannot be used.
func NewReader(name string, r io.Reader, opt ReaderOptions) (*Reader, error) {
	sum := sha256.New()
	// csv.NewReader keeps a *bufio.Reader of at least 4 KiB as it is, so br
	// is the CSV reader's own buffer: a Peek on it sees what csv has not read.
	br := bufio.NewReaderSize(io.TeeReader(r, sum), 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // field counts are checked per row, to report them as invalid rows
	cr.ReuseRecord = true
	rd := &Reader{name: name, br: br, cr: cr, sum: sum, unesc: opt.Unescape}

	um, err := gocsv.NewUnmarshaller(cr, record{})
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &InputError{Name: name, Err: errors.New("the file is empty: a header row username,tokenSn,tokenType is required")}
		}
		return nil, rd.fatal(err)
	}
	rd.fields = len(um.Headers)
	canon, err := canonicalHeader(um.Headers)
	if err != nil {
		return nil, &InputError{Name: name, Line: 1, Err: err}
	}
	if err := um.RenormalizeHeaders(func([]string) []string { return canon }); err != nil {
		return nil, &InputError{Name: name, Line: 1, Err: err}
	}
	if len(um.MismatchedStructFields) > 0 {
		// canonicalHeader found every required column; gocsv agreeing is
		// a check on the tags below.
		for _, m := range um.MismatchedStructFields {
			if m == "username" || m == "tokensn" || m == "tokentype" {
				return nil, &InputError{Name: name, Line: 1, Err: fmt.Errorf("the header lacks the column %s", m)}
			}
		}
	}
	rd.col = columnsOf(canon)
	rd.hasStat = rd.col.status >= 0
	return rd, nil
}

// columns are the indexes of the known columns in a record, -1 if absent.
type columns struct{ username, tokenSn, tokenType, status, code, message int }

func columnsOf(canon []string) columns {
	c := columns{-1, -1, -1, -1, -1, -1}
	for i, name := range canon {
		switch name {
		case "username":
			c.username = i
		case "tokensn":
			c.tokenSn = i
		case "tokentype":
			c.tokenType = i
		case "status":
			c.status = i
		case "code":
			c.code = i
		case "message":
			c.message = i
		}
	}
	return c
}

// record picks the known columns out of a raw CSV record; a short record
// leaves the missing ones empty.
func (c columns) record(rec []string) record {
	get := func(i int) string {
		if i < 0 || i >= len(rec) {
			return ""
		}
		return rec[i]
	}
	return record{
		Username: get(c.username), TokenSn: get(c.tokenSn), TokenType: get(c.tokenType),
		Status: get(c.status), Code: get(c.code), Message: get(c.message),
	}
}

// canonicalHeader maps each column to its canonical name (a name no field
// has, for an unknown column) and refuses a header that lacks a required
// column or names one twice.
func canonicalHeader(headers []string) ([]string, error) {
	out := make([]string, len(headers))
	seen := map[string]int{}
	for i, h := range headers {
		c, ok := aliases[normalizeHeader(h)]
		if !ok {
			out[i] = fmt.Sprintf("\x00unknown%d", i)
			continue
		}
		if j, dup := seen[c]; dup {
			return nil, fmt.Errorf("columns %d (%q) and %d (%q) both give the %s: keep one of them", j+1, displayField(headers[j]), i+1, displayField(h), c)
		}
		seen[c] = i
		out[i] = c
	}
	var missing []string
	for _, r := range required {
		if _, ok := seen[r.canon]; !ok {
			missing = append(missing, r.display)
		}
	}
	switch {
	case len(missing) == len(required):
		return nil, fmt.Errorf("no header row: the first line must name the columns username, tokenSn and tokenType (aliases: user, userid; serial, sn, mobile, phone; type), found %s", quoteList(headers))
	case len(missing) > 0:
		return nil, fmt.Errorf("the header lacks the column(s) %s (found %s)", strings.Join(missing, ", "), quoteList(headers))
	}
	return out, nil
}

func quoteList(ss []string) string {
	const max = 6
	var parts []string
	for i, s := range ss {
		if i == max {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%q", displayField(s)))
	}
	return strings.Join(parts, ",")
}

// HasStatus reports whether the input has a status column (a result file).
func (rd *Reader) HasStatus() bool { return rd.hasStat }

// SHA256 returns the hex SHA-256 of the input bytes once Read has returned
// io.EOF; before that it returns "".
func (rd *Reader) SHA256() string {
	if !rd.eof {
		return ""
	}
	return hex.EncodeToString(rd.sum.Sum(nil))
}

func (rd *Reader) fatal(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		line := pe.StartLine
		if line == 0 {
			line = pe.Line
		}
		if errors.Is(pe.Err, csv.ErrQuote) && rd.atEOF() {
			return &InputError{Name: rd.name, Line: line, Err: errors.New("a quoted field is never closed: add the missing '\"'")}
		}
		return &InputError{Name: rd.name, Line: line, Err: fmt.Errorf("column %d: %v", pe.Column, pe.Err)}
	}
	return &InputError{Name: rd.name, Err: err}
}

// Read returns the next data row, checked. A row with a local problem is
// returned with Problem set and no error. The error is io.EOF at the end,
// or an *InputError when the rest of the file cannot be read (an
// unterminated quote).
func (rd *Reader) Read() (Row, error) {
	for {
		// gocsv mapped the header (NewReader); rows are picked by column
		// index from the raw record, which also gives their field count
		// (a profile showed gocsv's per-row reflection as the reader's
		// largest cost).
		raw, err := rd.cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				rd.eof = true
				return Row{}, io.EOF
			}
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return Row{}, &InputError{Name: rd.name, Err: err}
			}
			if errors.Is(pe.Err, csv.ErrQuote) && rd.atEOF() {
				// An unterminated quote swallowed the rest of the file.
				return Row{}, rd.fatal(err)
			}
			return Row{Line: pe.StartLine, Problem: fmt.Sprintf("malformed CSV at column %d: %v: quote the field and double any '\"' inside it", pe.Column, pe.Err)}, nil
		}
		if blankRecord(raw) {
			continue // a blank line, or one of spaces and commas only
		}
		line, _ := rd.cr.FieldPos(0)
		row := rd.check(line, rd.col.record(raw))
		if len(raw) != rd.fields {
			row.Problem = fmt.Sprintf("the row has %d fields but the header has %d: check for a missing or extra comma, or quote a value that contains one", len(raw), rd.fields)
		}
		return row, nil
	}
}

// Count reads the rest of the input for its shape only: it returns the
// number of data rows, or the *InputError that would stop a run, without
// checking the rows' values (a pre-pass, before anything is sent).
func (rd *Reader) Count() (int, error) {
	n := 0
	for {
		raw, err := rd.cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				rd.eof = true
				return n, nil
			}
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return n, &InputError{Name: rd.name, Err: err}
			}
			if errors.Is(pe.Err, csv.ErrQuote) && rd.atEOF() {
				return n, rd.fatal(err)
			}
			n++ // a malformed row is an invalid row, not a fatal one
			continue
		}
		if !blankRecord(raw) {
			n++
		}
	}
}

// atEOF reports whether nothing is left to read after an error.
func (rd *Reader) atEOF() bool {
	_, err := rd.br.Peek(1)
	return errors.Is(err, io.EOF)
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// smsNumber reports whether s is 8 to 15 digits with an optional leading
// '+' (SPEC §4). A loop: a regexp cost more than the rest of the checks.
func smsNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if len(s) < 8 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (rd *Reader) check(line int, rec record) Row {
	f := func(s string) string {
		s = strings.TrimSpace(s)
		if rd.unesc {
			s = report.Unescape(s)
		}
		return s
	}
	row := Row{
		Line:          line,
		Username:      f(rec.Username),
		TokenSn:       f(rec.TokenSn),
		TokenTypeText: f(rec.TokenType),
		Status:        strings.ToLower(f(rec.Status)),
		Code:          f(rec.Code),
		Message:       f(rec.Message),
	}
	row.Problem = problem(&row)
	return row
}

// problem returns why a row must not be sent, or "". It also sets
// row.TokenType.
func problem(row *Row) string {
	for _, c := range []struct{ name, v string }{{"username", row.Username}, {"tokenSn", row.TokenSn}, {"tokenType", row.TokenTypeText}} {
		if !utf8.ValidString(c.v) {
			return fmt.Sprintf("%s is not valid UTF-8: save the file as UTF-8", c.name)
		}
		if len(c.v) > MaxFieldBytes {
			return fmt.Sprintf("%s is %d bytes long, over the limit of %d", c.name, len(c.v), MaxFieldBytes)
		}
	}
	if row.Username == "" {
		return "username is empty"
	}
	if hasControl(row.Username) {
		return "username contains a control character"
	}
	if row.TokenSn == "" {
		return "tokenSn is empty: give the mobile number (SMS) or the token serial (OTP)"
	}
	t, err := client.ParseTokenType(row.TokenTypeText)
	if err != nil {
		if row.TokenTypeText == "" {
			return "tokenType is empty: use 1 or SMS, 2 or OTP"
		}
		return fmt.Sprintf("tokenType %q is unknown: use 1 or SMS, 2 or OTP", clip(row.TokenTypeText))
	}
	row.TokenType = t
	switch t {
	case client.SMS:
		if !smsNumber(row.TokenSn) {
			return fmt.Sprintf("SMS number %q must be 8 to 15 digits with an optional leading +, no spaces or dashes", clip(row.TokenSn))
		}
	case client.OTP:
		for _, r := range row.TokenSn {
			if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				return fmt.Sprintf("OTP serial %q contains a space or control character (or an invisible one such as U+200B)", clip(row.TokenSn))
			}
		}
	}
	return ""
}

func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
