package csvfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// DefaultMaxRecord is the longest record read when Options.MaxRecord is 0:
// far above any real row (three fields of at most 256 bytes and a few
// notes), far below what would strain the memory budget.
const DefaultMaxRecord = 64 << 10

// Options say how to read a file.
type Options struct {
	// Separators the header may be written with, in order of preference;
	// nil means ',' only. Excel's first line "sep=X" names X instead.
	Separators []byte
	// Score says how many of the columns the caller needs a header names.
	// With more than one separator, the header is split with each and the
	// separator with the highest score is used; two that split the header
	// differently with the same score are refused as ambiguous.
	Score func(header []string) int
	// UTF16 lets a UTF-16 file with a byte order mark be read by decoding
	// it; otherwise it is refused. Offset is then not a byte offset of the
	// file.
	UTF16 bool
	// MaxRecord caps the size of a record in bytes (0: DefaultMaxRecord).
	MaxRecord int
	// AnyBytes returns fields that are not valid UTF-8 as they are;
	// otherwise the first such byte stops the file (a FileError). A result
	// file read back must give whatever was written.
	AnyBytes bool
}

// Reader reads the records of a CSV file. It is not safe for concurrent
// use; it does not close the io.Reader it reads.
type Reader struct {
	br        *bufio.Reader
	sep       byte
	maxRecord int

	anyBytes bool
	line     int   // lines consumed
	off      int64 // bytes of the file consumed (the BOM and a sep= line too)
	term     bool  // the last line read ended with a line end
	quotes   int   // '"' bytes in the last line read
	start    int   // first line of the last record
	encode   string

	slow   bool // tests: no fast path for lines without quotes
	lbuf   []byte
	buf    []byte
	ends   []int
	fields []string
	fatal  error
}

// NewReader inspects the start of r (byte order mark, text or binary,
// separator) and returns a Reader positioned before the first record, which
// is the header. The error is a *FileError for a file that is empty, not
// text, UTF-16 without opt.UTF16, or written with an ambiguous separator.
func NewReader(r io.Reader, opt Options) (*Reader, error) {
	maxRecord := opt.MaxRecord
	if maxRecord <= 0 {
		maxRecord = DefaultMaxRecord
	}
	bufSize := maxRecord + 4096
	br := bufio.NewReaderSize(r, bufSize)
	rd := &Reader{maxRecord: maxRecord, sep: ',', anyBytes: opt.AnyBytes}
	head, err := br.Peek(512)
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return nil, err
		}
		return nil, &FileError{Empty: true, Msg: "the file is empty"}
	}
	switch {
	case bytes.HasPrefix(head, []byte(BOM)):
		br.Discard(len(BOM))
		rd.off = int64(len(BOM))
		if _, err := br.Peek(1); err == io.EOF {
			return nil, &FileError{Empty: true, Msg: "the file is empty (nothing but a UTF-8 byte order mark)"}
		}
		br = bufio.NewReaderSize(br, bufSize)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE, 0, 0}) || bytes.HasPrefix(head, []byte{0, 0, 0xFE, 0xFF}):
		return nil, &FileError{Msg: "this is UTF-32 text: save it as CSV UTF-8 (in Excel: Save As, \"CSV UTF-8 (Comma delimited)\")"}
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		be := head[0] == 0xFE
		name := map[bool]string{false: "UTF-16LE", true: "UTF-16BE"}[be]
		if !opt.UTF16 {
			return nil, &FileError{Msg: fmt.Sprintf("this is UTF-16 text (%s, Excel's \"Unicode Text\"), not UTF-8: save it as CSV UTF-8 (in Excel: Save As, \"CSV UTF-8 (Comma delimited)\")", name)}
		}
		br.Discard(2)
		if _, err := br.Peek(1); err == io.EOF {
			return nil, &FileError{Empty: true, Msg: fmt.Sprintf("the file is empty (nothing but a %s byte order mark)", name)}
		}
		rd.encode = name
		br = bufio.NewReaderSize(&utf16Reader{r: br, be: be}, bufSize)
	default:
		if msg := notText(head); msg != "" {
			return nil, &FileError{Msg: msg}
		}
		br = bufio.NewReaderSize(br, bufSize)
	}
	rd.br = br
	if _, err := br.Peek(1); err == io.EOF {
		return nil, &FileError{Empty: true, Msg: "the file is empty"}
	}

	if sep, ok := rd.sepLine(); ok {
		rd.sep = sep
		return rd, nil
	}
	rd.typeLine()
	if err := rd.detectSeparator(opt); err != nil {
		return nil, err
	}
	return rd, nil
}

// Encoding is the encoding the file was decoded from ("UTF-16LE",
// "UTF-16BE"), or "" for UTF-8.
func (r *Reader) Encoding() string { return r.encode }

// Separator is the separator the records are split with.
func (r *Reader) Separator() byte { return r.sep }

// Line is the line where the record last returned starts.
func (r *Reader) Line() int { return r.start }

// EndLine is the last line of the record last returned.
func (r *Reader) EndLine() int { return r.line }

// Offset is the number of bytes of the file consumed so far: through the
// line end of the record last returned.
func (r *Reader) Offset() int64 { return r.off }

// Terminated reports whether the record last returned ended with LF or CRLF
// (not with the end of the file, nor with a lone CR, which may be a CRLF cut
// short).
func (r *Reader) Terminated() bool { return r.term }

// sepLine consumes Excel's "sep=X" first line, if there is one.
func (r *Reader) sepLine() (byte, bool) {
	p, _ := r.br.Peek(64)
	if len(p) < 5 || !bytes.EqualFold(p[:4], []byte("sep=")) {
		return 0, false
	}
	sep := p[4]
	i := 5
	for i < len(p) && p[i] == sep {
		i++ // "sep=;;;" from a sheet saved with its empty columns
	}
	if sep == '\r' || sep == '\n' || sep == '"' || sep >= utf8.RuneSelf || i < len(p) && p[i] != '\r' && p[i] != '\n' {
		return 0, false
	}
	if _, _, err := r.readLine(); err != nil {
		return 0, false
	}
	return sep, true
}

// typeLine consumes the "#TYPE System.Management.Automation.PSCustomObject"
// first line of Windows PowerShell's Export-Csv, if there is one: it names a
// .NET type, never a column.
func (r *Reader) typeLine() {
	if p, _ := r.br.Peek(6); string(p) == "#TYPE " {
		r.readLine()
	}
}

// detectSeparator splits the header with each candidate and keeps the one
// whose split the caller recognises best.
func (r *Reader) detectSeparator(opt Options) error {
	seps := opt.Separators
	if len(seps) == 0 {
		seps = []byte{','}
	}
	r.sep = seps[0]
	if len(seps) == 1 || opt.Score == nil {
		return nil
	}
	head, _ := r.br.Peek(r.maxRecord)
	best, bestScore := []byte(nil), 0
	var bestSplit [][]string
	for i, sep := range seps {
		if i > 0 && bytes.IndexByte(head, sep) < 0 {
			continue // it cannot split the header
		}
		t := &Reader{br: bufio.NewReader(bytes.NewReader(head)), sep: sep, maxRecord: r.maxRecord}
		hdr, err := t.Read()
		if err != nil {
			continue
		}
		s := opt.Score(hdr)
		switch {
		case s > bestScore:
			best, bestScore, bestSplit = []byte{sep}, s, [][]string{append([]string(nil), hdr...)}
		case s == bestScore && s > 0:
			if !sameSplit(bestSplit, hdr) {
				best = append(best, sep)
				bestSplit = append(bestSplit, append([]string(nil), hdr...))
			}
		}
	}
	switch len(best) {
	case 0:
		return nil // nothing recognised: the caller says what the header lacks
	case 1:
		r.sep = best[0]
		return nil
	}
	return &FileError{Line: r.line + 1, Msg: fmt.Sprintf("the header can be split by %s alike: name the separator in a first line such as \"sep=;\" (Excel reads it too)", quoteSeps(best))}
}

func sameSplit(splits [][]string, hdr []string) bool {
	for _, s := range splits {
		if len(s) == len(hdr) {
			same := true
			for i := range s {
				if s[i] != hdr[i] {
					same = false
					break
				}
			}
			if same {
				return true
			}
		}
	}
	return false
}

// SeparatorName names a separator for a message.
func SeparatorName(sep byte) string {
	switch sep {
	case '\t':
		return "TAB"
	case ',':
		return "',' (comma)"
	case ';':
		return "';' (semicolon)"
	}
	return fmt.Sprintf("%q", rune(sep))
}

func quoteSeps(seps []byte) string {
	var b bytes.Buffer
	for i, s := range seps {
		if i > 0 {
			b.WriteString(" and by ")
		}
		b.WriteString(SeparatorName(s))
	}
	return b.String()
}

// readLine reads one physical line into r.lbuf. Its end comes back as a
// single '\n' for LF and CRLF, as '\r' for a lone CR (classic Mac), so that
// a quoted field keeps a lone CR as it was; the last line of a file may
// have none. A line over the size limit is consumed whole and comes back nil,
// with its length in n. At the end of the file it returns io.EOF.
func (r *Reader) readLine() (line []byte, n int, err error) {
	r.lbuf = r.lbuf[:0]
	r.quotes = 0
	long := false
	for {
		if _, err := r.br.Peek(1); err != nil {
			if !long {
				// Ctrl-Z (0x1A) at the very end of the file is the DOS
				// end-of-file mark that old tools append, not data.
				k := len(r.lbuf)
				for k > 0 && r.lbuf[k-1] == 0x1A {
					k--
				}
				n -= len(r.lbuf) - k
				r.lbuf = r.lbuf[:k]
			}
			if n == 0 {
				return nil, 0, err
			}
			r.line++
			r.term = false
			if long {
				return nil, n, nil
			}
			return r.lbuf, n, nil
		}
		chunk, _ := r.br.Peek(r.br.Buffered())
		i := bytes.IndexByte(chunk, '\n')
		seg := chunk
		if i >= 0 {
			seg = chunk[:i]
		}
		if j := bytes.IndexByte(seg, '\r'); j >= 0 {
			i = j
		}
		if i < 0 {
			r.take(chunk, &n, &long)
			r.br.Discard(len(chunk))
			r.off += int64(len(chunk))
			continue
		}
		r.take(chunk[:i], &n, &long)
		crAtEnd := chunk[i] == '\r' && i+1 == len(chunk)
		eol, end := 1, chunk[i]
		if chunk[i] == '\r' && i+1 < len(chunk) && chunk[i+1] == '\n' {
			eol, end = 2, '\n'
		}
		r.br.Discard(i + eol)
		r.off += int64(i + eol)
		n += eol
		if crAtEnd {
			// A CR at the end of the buffer: an LF may follow.
			if p, err := r.br.Peek(1); err == nil && p[0] == '\n' {
				r.br.Discard(1)
				r.off++
				n++
				end = '\n'
			}
		}
		r.line++
		// A lone CR may be the first half of a CRLF cut short by a
		// crash: only an LF ends a line for good.
		r.term = end == '\n'
		if long {
			return nil, n, nil
		}
		r.lbuf = append(r.lbuf, end)
		return r.lbuf, n, nil
	}
}

// take adds a piece of the current line, or only counts it once the line
// is over the limit.
func (r *Reader) take(p []byte, n *int, long *bool) {
	*n += len(p)
	r.quotes += bytes.Count(p, []byte{'"'})
	if *n > r.maxRecord {
		*long = true
		r.lbuf = r.lbuf[:0]
		return
	}
	r.lbuf = append(r.lbuf, p...)
}

func lenNL(b []byte) int {
	if len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		return 1
	}
	return 0
}

// Read returns the next record, skipping empty lines. The slice is reused
// by the next call. The error is io.EOF at the end, a *RecordError for a
// malformed record (Read may be called again), or a *FileError after which
// the file cannot be read further.
func (r *Reader) Read() ([]string, error) {
	if r.fatal != nil {
		return nil, r.fatal
	}
	fields, err := r.read()
	if _, ok := err.(*FileError); ok {
		r.fatal = err
	}
	return fields, err
}

func (r *Reader) read() ([]string, error) {
	var line []byte
	var n int
	var err error
	for {
		line, n, err = r.readLine()
		if err != nil {
			return nil, err
		}
		if line == nil || len(line) > lenNL(line) {
			break
		}
	}
	r.start = r.line
	if line == nil {
		return nil, r.skip(n, r.quotes%2 == 1)
	}
	if r.quotes == 0 && !r.slow {
		// Nearly every line: no quotes, so the fields are the pieces of
		// the line between separators. A line that is not UTF-8 takes the
		// way below, which describes the first bad byte.
		body := line[:len(line)-lenNL(line)]
		if r.anyBytes || utf8.Valid(body) {
			return r.split(body), nil
		}
	}
	r.buf = r.buf[:0]
	r.ends = r.ends[:0]
	size := n
	pos := 0
parseField:
	for {
		if len(line) == 0 || line[0] != '"' {
			i := bytes.IndexByte(line, r.sep)
			field := line
			if i >= 0 {
				field = field[:i]
			} else {
				field = field[:len(field)-lenNL(field)]
			}
			if j := bytes.IndexByte(field, '"'); j >= 0 && !formulaText(field) {
				return nil, &RecordError{Line: r.start, ErrLine: r.line, Column: pos + j + 1, EndLine: r.line, Err: csv.ErrBareQuote}
			}
			r.buf = append(r.buf, field...)
			r.ends = append(r.ends, len(r.buf))
			if i >= 0 {
				line = line[i+1:]
				pos += i + 1
				continue parseField
			}
			break parseField
		}
		fieldLine, fieldCol := r.line, pos+1
		line = line[1:]
		pos++
		for {
			i := bytes.IndexByte(line, '"')
			switch {
			case i >= 0:
				r.buf = append(r.buf, line[:i]...)
				line = line[i+1:]
				pos += i + 1
				switch {
				case len(line) > 0 && line[0] == '"':
					r.buf = append(r.buf, '"')
					line = line[1:]
					pos++
				case len(line) > 0 && line[0] == r.sep:
					line = line[1:]
					pos++
					r.ends = append(r.ends, len(r.buf))
					continue parseField
				case lenNL(line) == len(line):
					r.ends = append(r.ends, len(r.buf))
					break parseField
				default:
					return nil, &RecordError{Line: r.start, FieldLine: fieldLine, ErrLine: r.line, Column: pos, EndLine: r.line, Err: csv.ErrQuote}
				}
			case len(line) > 0:
				r.buf = append(r.buf, line...)
				line, n, err = r.readLine()
				pos = 0
				size += n
				if err == io.EOF {
					return nil, r.unclosed(fieldLine, fieldCol)
				}
				if err != nil {
					return nil, err
				}
				if line == nil || size > r.maxRecord {
					// Still inside the quoted field: the quotes of this
					// line decide whether it closed.
					return nil, r.skip(size, r.quotes%2 == 0)
				}
			default:
				return nil, r.unclosed(fieldLine, fieldCol)
			}
		}
	}
	if !r.anyBytes && !utf8.Valid(r.buf) {
		return nil, r.notUTF8()
	}
	s := string(r.buf)
	r.fields = r.fields[:0]
	prev := 0
	for _, end := range r.ends {
		r.fields = append(r.fields, s[prev:end])
		prev = end
	}
	return r.fields, nil
}

// split returns the fields of a line without quotes: one string, sliced.
func (r *Reader) split(body []byte) []string {
	s := string(body)
	r.fields = r.fields[:0]
	for {
		i := strings.IndexByte(s, r.sep)
		if i < 0 {
			break
		}
		r.fields = append(r.fields, s[:i])
		s = s[i+1:]
	}
	r.fields = append(r.fields, s)
	return r.fields
}

// skip consumes the rest of a record over the size limit, following its
// quotes (open: a quoted field is open at the end of the line read last).
func (r *Reader) skip(size int, open bool) error {
	start := r.start
	for open {
		_, n, err := r.readLine()
		if err == io.EOF {
			return r.unclosed(start, 0)
		}
		if err != nil {
			return err
		}
		size += n
		if r.quotes%2 == 1 {
			open = !open
		}
	}
	return &RecordError{Line: start, ErrLine: start, EndLine: r.line, Size: size, Max: r.maxRecord, Err: ErrTooLong}
}

// unclosed is the error of a quoted field that runs to the end of the
// file: a RecordError (the file has been read to its end), which a reader
// of operator files makes fatal and a reader of a crashed run's result
// takes for a torn last line.
func (r *Reader) unclosed(line, col int) error {
	return &RecordError{Line: r.start, FieldLine: line, ErrLine: line, Column: col, EndLine: r.line, Err: ErrUnclosed}
}

// formulaText reports whether an unquoted field is Excel's text formula
// ="..." (a CSV exporter's way to keep leading zeros): it is read as it is,
// for the caller to reject with its own message, not as a bare quote.
func formulaText(f []byte) bool {
	return len(f) >= 3 && f[0] == '=' && f[1] == '"' && f[len(f)-1] == '"'
}

// notUTF8 describes the first byte of the record that is not UTF-8.
func (r *Reader) notUTF8() error {
	i := 0
	for i < len(r.buf) {
		c, size := utf8.DecodeRune(r.buf[i:])
		if c == utf8.RuneError && size <= 1 {
			break
		}
		i += size
	}
	line := r.start + bytes.Count(r.buf[:i], []byte{'\n'})
	field := 1
	for _, end := range r.ends {
		if i < end {
			break
		}
		field++
	}
	b := r.buf[i]
	hint := ""
	if c := cp1252[b]; c != 0 {
		hint = fmt.Sprintf(" (%q in Windows-1252)", c)
	}
	return &FileError{Line: line, Msg: fmt.Sprintf("the file is not UTF-8 text: field %d has the byte 0x%02X%s; it was probably saved as Windows-1252, Latin-1 or Mac Roman. Save it as UTF-8 (in Excel: Save As, \"CSV UTF-8 (Comma delimited)\") and run again", field, b, hint)}
}
