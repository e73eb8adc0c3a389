package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/internal/csvfile"
	"github.com/tokenreg/tokenreg/internal/safetext"
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

// record is the known columns of one input row.
type record struct {
	Username, TokenSn, TokenType string
	// Status, Code and Message are read when the input is a result file
	// (retry).
	Status, Code, Message string
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
	// Warning is something the operator should look at in a valid row
	// (a record that spans several lines); empty if none.
	Warning string
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

// displayField keeps a result cell readable, bounded and true to what the
// operator sees: invalid UTF-8 is replaced, an over-long value is cut (the
// message says how long it was), and a character that cannot be seen (a
// control character, a zero-width space, a bidi control, a no-break space)
// is written as its escape, \u200b, the code point the message names:
// raw, it would make an invalid value look valid, or reorder the cell.
// Only invalid rows hold such characters (valueProblem refuses them).
func displayField(s string) string {
	if len(s) <= MaxFieldBytes && printableASCII(s) {
		return s // nearly every cell: nothing to replace, cut or reveal
	}
	return safetext.Reveal(clip(s))
}

// printableASCII reports whether s is printable ASCII only: no control
// character, nothing beyond U+007E.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return true
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
	name   string
	cr     *csvfile.Reader
	col    columns
	sum    hash.Hash
	fields int
	header int // the header's line
	unesc  bool
	eof    bool
}

// ReaderOptions tune how the input is read.
type ReaderOptions struct {
	// Unescape strips the formula guards of a result file (retry). An
	// input whose header has the result file's status, code and message
	// columns is read so whatever this says.
	Unescape bool
	// NoSHA256 skips hashing the bytes (SHA256 returns ""): for a pre-pass
	// whose reader only counts, the run's own reader hashes them.
	NoSHA256 bool
}

// separators are the separators an input may be written with: the one its
// header line is split by into recognisable columns (csvfile.Options).
const separators = ",;\t|"

// NewReader reads and checks the header. name is used in errors. The
// returned error is an *InputError for a file that cannot be used.
func NewReader(name string, r io.Reader, opt ReaderOptions) (*Reader, error) {
	var sum hash.Hash
	if !opt.NoSHA256 {
		sum = sha256.New()
		r = io.TeeReader(r, sum)
	}
	cr, err := csvfile.NewReader(r, csvfile.Options{
		Separators: []byte(separators),
		Score:      scoreHeader,
		UTF16:      true,
		MaxRecord:  MaxRecordBytes,
	})
	if err != nil {
		return nil, inputError(name, err)
	}
	rd := &Reader{name: name, cr: cr, sum: sum, unesc: opt.Unescape}
	hdr, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &InputError{Name: name, Err: errors.New("the file is empty: a header row username,tokenSn,tokenType is required")}
		}
		return nil, inputError(name, err)
	}
	rd.header = cr.Line()
	rd.fields = len(hdr)
	rd.col, err = headerColumns(hdr)
	if err != nil {
		return nil, &InputError{Name: name, Line: rd.header, Err: err}
	}
	// A result file (status, code and message columns) is a valid input
	// of run and validate too: its cells carry the writer's formula
	// guards and escapes, which are not part of the values, whatever the
	// command.
	rd.unesc = rd.unesc || rd.col.status >= 0 && rd.col.code >= 0 && rd.col.message >= 0
	return rd, nil
}

// MaxRecordBytes caps an input record (all its fields and separators): a
// longer one is an invalid row, read without holding it in memory, so that
// no file can make the reader grow (a 100 MB field, a header of a million
// columns).
const MaxRecordBytes = csvfile.DefaultMaxRecord

// inputError turns an error of the CSV layer into an *InputError.
func inputError(name string, err error) error {
	var fe *csvfile.FileError
	if errors.As(err, &fe) {
		if fe.Empty {
			return &InputError{Name: name, Err: errors.New(fe.Msg + ": a header row username,tokenSn,tokenType is required")}
		}
		return &InputError{Name: name, Line: fe.Line, Err: errors.New(fe.Msg)}
	}
	var re *csvfile.RecordError
	if errors.As(err, &re) {
		line := re.Line
		if errors.Is(re.Err, csvfile.ErrUnclosed) {
			line = re.FieldLine
		}
		return &InputError{Name: name, Line: line, Err: re}
	}
	return &InputError{Name: name, Err: err}
}

// scoreHeader counts the required columns a header names: how the CSV layer
// tells the separator the header is written with.
func scoreHeader(hdr []string) int {
	seen := map[string]bool{}
	for _, h := range hdr {
		if c, ok := aliases[csvfile.FoldName(h)]; ok {
			seen[c] = true
		}
	}
	n := 0
	for _, r := range required {
		if seen[r.canon] {
			n++
		}
	}
	return n
}

// columns are the indexes of the known columns in a record, -1 if absent.
type columns struct{ username, tokenSn, tokenType, status, code, message int }

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

// headerColumns finds the known columns of a header (by their names and
// aliases) and refuses a header that lacks a required column or names one
// twice.
func headerColumns(headers []string) (columns, error) {
	seen := map[string]int{} // canonical name -> index
	for i, h := range headers {
		c, ok := aliases[csvfile.FoldName(h)]
		if !ok {
			continue
		}
		if j, dup := seen[c]; dup {
			return columns{}, fmt.Errorf("columns %d (%q) and %d (%q) both give the %s: keep one of them", j+1, displayField(headers[j]), i+1, displayField(h), c)
		}
		seen[c] = i
	}
	var missing []string
	for _, r := range required {
		if _, ok := seen[r.canon]; !ok {
			missing = append(missing, r.display)
		}
	}
	switch {
	case len(missing) == len(required):
		return columns{}, fmt.Errorf("no header row: the first line must name the columns username, tokenSn and tokenType (aliases: user, userid; serial, sn, mobile, phone; type), found %s", quoteList(headers))
	case len(missing) > 0:
		return columns{}, fmt.Errorf("the header lacks the column(s) %s (found %s)", strings.Join(missing, ", "), quoteList(headers))
	}
	at := func(canon string) int {
		if i, ok := seen[canon]; ok {
			return i
		}
		return -1
	}
	return columns{
		username: at("username"), tokenSn: at("tokensn"), tokenType: at("tokentype"),
		status: at("status"), code: at("code"), message: at("message"),
	}, nil
}

func quoteList(ss []string) string {
	const shown = 6
	var parts []string
	for i, s := range ss {
		if i == shown {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%q", displayField(s)))
	}
	return strings.Join(parts, ",")
}

func (rd *Reader) inputName() string { return rd.name }

// HasStatus reports whether the input has a status column (a result file).
func (rd *Reader) HasStatus() bool { return rd.col.status >= 0 }

// SHA256 returns the hex SHA-256 of the input bytes once Read has returned
// io.EOF; before that it returns "".
func (rd *Reader) SHA256() string {
	if !rd.eof || rd.sum == nil {
		return ""
	}
	return hex.EncodeToString(rd.sum.Sum(nil))
}

// Read returns the next data row, checked. A row with a local problem is
// returned with Problem set and no error. The error is io.EOF at the end,
// or an *InputError when the rest of the file cannot be read (a quote never
// closed, bytes that are not UTF-8, a second header row).
func (rd *Reader) Read() (Row, error) {
	raw, re, err := rd.next()
	switch {
	case err != nil:
		return Row{}, err
	case re != nil:
		return Row{Line: re.Line, Problem: recordProblem(re)}, nil
	}
	// The header was mapped once (NewReader); rows are picked by column
	// index from the raw record.
	line := rd.cr.Line()
	row := rd.check(line, rd.col.record(raw))
	if len(raw) != rd.fields {
		row.Problem = fmt.Sprintf("the row has %d fields but the header has %d: check for a missing or extra %s, or quote a value that contains one", len(raw), rd.fields, csvfile.SeparatorName(rd.cr.Separator()))
	}
	if end := rd.cr.EndLine(); end > line {
		if row.Problem != "" {
			row.Problem += fmt.Sprintf(" (the record spans lines %d to %d: a quoted value holds a line break)", line, end)
		} else {
			row.Warning = fmt.Sprintf("the record spans lines %d to %d (a quoted value holds a line break): check that no row is hidden inside it", line, end)
		}
	}
	return row, nil
}

// next returns the next data record: its fields, or the *RecordError of a
// malformed one (an invalid row; reading goes on). It skips blank records.
// The error is io.EOF at the end, or the *InputError that stops the run.
// Read and Count both read through it, so that the pre-pass counts exactly
// the rows, and stops at exactly the error, that the run will meet.
func (rd *Reader) next() (raw []string, re *csvfile.RecordError, err error) {
	for {
		raw, err = rd.cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				rd.eof = true
				return nil, nil, io.EOF
			}
			// re is not named here: &re would move it to the heap on
			// every call, not only on a malformed record's.
			var rerr *csvfile.RecordError
			if errors.As(err, &rerr) && !errors.Is(rerr.Err, csvfile.ErrUnclosed) {
				return nil, rerr, nil
			}
			// A quote never closed swallowed the rest of the file:
			// nothing after it can be trusted (SPEC §4).
			return nil, nil, inputError(rd.name, err)
		}
		if blankRecord(raw) {
			continue // a line of spaces and commas only
		}
		if err = rd.secondHeader(rd.cr.Line(), raw); err != nil {
			return nil, nil, err
		}
		return raw, nil, nil
	}
}

// recordProblem is the invalid row's message for a malformed record.
func recordProblem(re *csvfile.RecordError) string {
	if errors.Is(re.Err, csvfile.ErrTooLong) || re.EndLine > re.Line {
		return re.Error()
	}
	return re.Error() + ": quote the field and double any '\"' inside it"
}

// Count reads the rest of the input for its shape only: it returns the
// number of data rows, or the *InputError that would stop a run, without
// checking the rows' values (a pre-pass, before anything is sent).
func (rd *Reader) Count() (int, error) {
	for n := 0; ; n++ { // a malformed row is an invalid row, not a fatal one
		if _, _, err := rd.next(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
	}
}

// secondHeader refuses a row that is a header: two exports glued together,
// whose second part may order its columns differently. Mapping it with the
// first header would send serials as usernames; guessing which columns are
// meant is not ours to do. Rows whose type cell holds a type are never
// headers, so the full check runs only for the few that do not.
func (rd *Reader) secondHeader(line int, raw []string) error {
	if i := rd.col.tokenType; i < len(raw) && typeValue(raw[i]) {
		return nil
	}
	if scoreHeader(raw) < 2 {
		return nil
	}
	bom := ""
	if len(raw) > 0 && strings.HasPrefix(raw[0], csvfile.BOM) {
		bom = " behind a byte order mark (U+FEFF)"
	}
	return &InputError{Name: rd.name, Line: line, Err: fmt.Errorf("a second header row%s; the first is line %d: two files glued together? Run each part on its own, or delete line %d if its columns are in the same order as line %d's", bom, rd.header, line, rd.header)}
}

// typeValue reports whether s is a token type as written in a data row.
func typeValue(s string) bool {
	s = trim(s)
	if len(s) == 1 {
		return s == "1" || s == "2"
	}
	return strings.EqualFold(s, "sms") || strings.EqualFold(s, "otp")
}

func blankRecord(rec []string) bool {
	for _, f := range rec {
		if len(f) > 0 && f[0] > ' ' && f[0] < utf8.RuneSelf {
			return false // an ASCII character that is no space
		}
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

// trim drops what surrounds a value harmlessly: spaces, tabs and line
// ends. Other invisible characters around a value are a problem (problem).
func trim(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func (rd *Reader) check(line int, rec record) Row {
	f := func(s string) string {
		s = trim(s)
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
	if rd.unesc && (row.Status == string(report.StatusInvalid) || row.Status == string(report.StatusSkipped)) {
		// The cells of an invalid row show its invisible characters escaped
		// (displayField): a retry checks the value as it was, and refuses it
		// again, rather than send it with a backslash in it.
		row.Username, row.TokenSn, row.TokenTypeText = safetext.Unreveal(row.Username), safetext.Unreveal(row.TokenSn), safetext.Unreveal(row.TokenTypeText)
	}
	row.Problem = problem(&row)
	return row
}

// problem returns why a row must not be sent, or "". It also sets
// row.TokenType.
func problem(row *Row) string {
	for _, c := range []struct{ name, v string }{{"username", row.Username}, {"tokenSn", row.TokenSn}, {"tokenType", row.TokenTypeText}} {
		if p := valueProblem(c.name, c.v); p != "" {
			return p
		}
	}
	if row.Username == "" {
		return "username is empty"
	}
	if row.TokenSn == "" {
		return "tokenSn is empty: give the mobile number (SMS) or the token serial (OTP)"
	}
	for _, c := range []struct{ name, v string }{{"username", row.Username}, {"tokenSn", row.TokenSn}} {
		if p := excelProblem(c.name, c.v); p != "" {
			return p
		}
	}
	if p := usernameProblem(row.Username); p != "" {
		return p
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
			if hint := smsHint(row.TokenSn); hint != "" {
				return fmt.Sprintf("SMS number %q must be 8 to 15 digits with an optional leading +: %s", clip(row.TokenSn), hint)
			}
			return fmt.Sprintf("SMS number %q must be 8 to 15 digits with an optional leading +, no spaces or dashes", clip(row.TokenSn))
		}
	case client.OTP:
		if strings.ContainsRune(row.TokenSn, ' ') {
			return fmt.Sprintf("OTP serial %q contains a space", clip(row.TokenSn))
		}
		if p := serialProblem(row.TokenSn); p != "" {
			return p
		}
	}
	return ""
}

// valueProblem checks one field for what cannot be seen or typed: bytes
// that are not UTF-8, control characters, and invisible ones (Unicode
// formats and spaces other than the plain space: a zero-width space, a
// no-break space, a soft hyphen, a byte order mark, a direction mark),
// which a server compares byte for byte and answers with a puzzling "user
// not found". The message names the character and its position.
func valueProblem(name, v string) string {
	if len(v) <= MaxFieldBytes && printableASCII(v) {
		return "" // nearly every cell
	}
	if !utf8.ValidString(v) {
		return fmt.Sprintf("%s is not valid UTF-8: save the file as UTF-8", name)
	}
	if len(v) > MaxFieldBytes {
		return fmt.Sprintf("%s is %d bytes long, over the limit of %d", name, len(v), MaxFieldBytes)
	}
	pos := 0
	for _, r := range v {
		pos++
		switch {
		case r < utf8.RuneSelf && r >= ' ' && r != 0x7F:
			continue
		case r == utf8.RuneError:
			return fmt.Sprintf("%s %q has the replacement character U+FFFD at position %d: characters were lost when the file was converted from another encoding; export it again as CSV UTF-8", name, clip(v), pos)
		case unicode.IsControl(r):
			return fmt.Sprintf("%s %q contains a control character %s at position %d", name, clip(v), charName(r), pos)
		case unicode.In(r, unicode.Cf, unicode.Zs, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("%s %q contains the invisible character %s at position %d: delete it (copying from a web page, an e-mail or a Word document brings these in)", name, clip(v), charName(r), pos)
		}
	}
	return ""
}

// charNames name the characters the messages meet most.
var charNames = map[rune]string{
	0x00: "NUL", 0x09: "TAB", 0x0A: "line feed", 0x0D: "carriage return", 0x1A: "Ctrl-Z, a DOS end-of-file mark",
	0x7F: "DEL", 0x85: "next line",
	0xA0: "no-break space", 0xAD: "soft hyphen", 0x200B: "zero width space", 0x200C: "zero width non-joiner",
	0x200D: "zero width joiner", 0x200E: "left-to-right mark", 0x200F: "right-to-left mark",
	0x202A: "left-to-right embedding", 0x202B: "right-to-left embedding", 0x202C: "pop directional formatting",
	0x202D: "left-to-right override", 0x202E: "right-to-left override", 0x2066: "left-to-right isolate",
	0x2067: "right-to-left isolate", 0x2068: "first strong isolate", 0x2069: "pop directional isolate",
	0x2060: "word joiner", 0xFEFF: "byte order mark", 0x2028: "line separator", 0x2029: "paragraph separator",
	0x202F: "narrow no-break space", 0x2007: "figure space", 0x2009: "thin space", 0x3000: "ideographic space",
	0x061C: "Arabic letter mark", 0x180E: "Mongolian vowel separator",
	// Typographic punctuation (look-alikes, lookalike.go).
	0x2018: "left single quotation mark", 0x2019: "right single quotation mark",
	0x201A: "single low-9 quotation mark", 0x201B: "single high-reversed-9 quotation mark",
	0x201C: "left double quotation mark", 0x201D: "right double quotation mark",
	0x201E: "double low-9 quotation mark", 0x201F: "double high-reversed-9 quotation mark",
	0x00AB: "left-pointing double angle quotation mark", 0x00BB: "right-pointing double angle quotation mark",
	0x2039: "single left-pointing angle quotation mark", 0x203A: "single right-pointing angle quotation mark",
	0x2010: "hyphen", 0x2011: "non-breaking hyphen", 0x2012: "figure dash", 0x2013: "en dash",
	0x2014: "em dash", 0x2015: "horizontal bar", 0x2212: "minus sign", 0x2026: "horizontal ellipsis",
}

func charName(r rune) string {
	if n, ok := charNames[r]; ok {
		return fmt.Sprintf("U+%04X (%s)", r, n)
	}
	return fmt.Sprintf("U+%04X", r)
}

// excelProblem recognises a value a spreadsheet changed before it was
// saved: a long number turned into scientific notation (its last digits are
// gone), or a formula written instead of its text.
func excelProblem(name, v string) string {
	const fix = "format the column as Text in Excel before typing or pasting the values, and save as CSV UTF-8"
	switch {
	case len(v) >= 3 && strings.HasPrefix(v, `="`) && strings.HasSuffix(v, `"`):
		// Excel's text formula, which exporters write to keep leading
		// zeros. Other text starting with '=' is sent as it is: the
		// result file guards it (SPEC §5).
		return fmt.Sprintf("%s %q is a spreadsheet formula, not a value: write the value itself (%s), not =\"…\"; %s", name, clip(v), clip(strings.ReplaceAll(v[2:len(v)-1], `""`, `"`)), fix)
	case scientific(v):
		return fmt.Sprintf("%s %q is a number Excel rewrote in scientific notation, and its last digits are lost: %s", name, clip(v), fix)
	}
	return ""
}

// scientific reports whether s is a number in Excel's scientific notation:
// digits, an optional fraction, then E, a sign and digits (6.01234E+10, or
// 6,01234E+10 where the decimal separator is a comma).
func scientific(s string) bool {
	i := 0
	for i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && (s[i] == '.' || s[i] == ',') { // ',' in a European Excel
		i++
		if digits() == 0 {
			return false
		}
	}
	if i+2 > len(s) || (s[i] != 'E' && s[i] != 'e') || (s[i+1] != '+' && s[i+1] != '-') {
		return false
	}
	i += 2
	return digits() > 0 && i == len(s)
}
