package csvfile

import (
	"bytes"
	"io"
	"unicode/utf16"
	"unicode/utf8"
)

// magic lists what other files given as a CSV start with.
var magic = []struct {
	prefix string
	msg    string
}{ // the text ones match in any case
	{"PK\x03\x04", "this is an Excel workbook (.xlsx) or another zip archive, not CSV text: open it in Excel and save it as CSV UTF-8 (Save As, \"CSV UTF-8 (Comma delimited)\")"},
	{"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "this is an Excel 97-2003 workbook (.xls) or another Office document, not CSV text: open it in Excel and save it as CSV UTF-8 (Save As, \"CSV UTF-8 (Comma delimited)\")"},
	{"%PDF", "this is a PDF document, not CSV text: export the inventory from its source as CSV UTF-8"},
	{"\x1F\x8B", "this is a gzip-compressed file, not CSV text: decompress it first"},
	{"{\\rtf", "this is an RTF document, not CSV text: save the inventory as CSV UTF-8"},
	{"<?xml", "this is an XML file (perhaps an Excel \"XML Spreadsheet\"), not CSV text: open it in Excel and save it as CSV UTF-8"},
	{"<html", "this is an HTML page (perhaps a workbook saved as a web page), not CSV text: open it in Excel and save it as CSV UTF-8"},
	{"<!doctype html", "this is an HTML page (perhaps a workbook saved as a web page), not CSV text: open it in Excel and save it as CSV UTF-8"},
	{"<table", "this is an HTML table (some tools call it .xls), not CSV text: open it in Excel and save it as CSV UTF-8"},
}

// notText says what the file is when its first bytes show it is not CSV
// text, or returns "".
func notText(head []byte) string {
	for _, m := range magic {
		if len(head) >= len(m.prefix) && (string(head[:len(m.prefix)]) == m.prefix || bytes.EqualFold(head[:len(m.prefix)], []byte(m.prefix))) {
			return m.msg
		}
	}
	// UTF-16 without a byte order mark: every other byte of ASCII text is 0.
	if len(head) >= 4 {
		even, odd := 0, 0
		for i := 0; i+1 < len(head); i += 2 {
			if head[i] == 0 {
				even++
			}
			if head[i+1] == 0 {
				odd++
			}
		}
		pairs := len(head) / 2
		if odd*4 >= pairs*3 && even == 0 || even*4 >= pairs*3 && odd == 0 {
			return "this looks like UTF-16 text without a byte order mark: save it as CSV UTF-8 (in Excel: Save As, \"CSV UTF-8 (Comma delimited)\")"
		}
	}
	// A NUL in the first line: a binary file, not a text with a stray NUL.
	first := head
	if i := bytes.IndexAny(head, "\r\n"); i >= 0 {
		first = head[:i]
	}
	if bytes.IndexByte(first, 0) >= 0 {
		return "this is a binary file, not CSV text: give the inventory as CSV UTF-8"
	}
	return ""
}

// utf16Reader decodes UTF-16 into UTF-8. An unpaired surrogate or an odd
// last byte becomes U+FFFD, which the callers reject in the fields they use.
type utf16Reader struct {
	r    io.Reader
	be   bool
	in   [4096]byte
	n    int // bytes in in
	out  []byte
	err  error
	high uint16 // a high surrogate waiting for its pair
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 {
		if u.err != nil {
			if u.n == 1 || u.high != 0 {
				u.out = utf8.AppendRune(u.out, utf8.RuneError)
				u.n, u.high = 0, 0
				continue
			}
			return 0, u.err
		}
		m, err := u.r.Read(u.in[u.n:])
		u.n += m
		u.err = err
		i := 0
		for ; i+1 < u.n; i += 2 {
			var c uint16
			if u.be {
				c = uint16(u.in[i])<<8 | uint16(u.in[i+1])
			} else {
				c = uint16(u.in[i+1])<<8 | uint16(u.in[i])
			}
			switch {
			case u.high != 0 && utf16.IsSurrogate(rune(c)) && c >= 0xDC00:
				u.out = utf8.AppendRune(u.out, utf16.DecodeRune(rune(u.high), rune(c)))
				u.high = 0
				continue
			case u.high != 0:
				u.out = utf8.AppendRune(u.out, utf8.RuneError)
				u.high = 0
			}
			switch {
			case c >= 0xD800 && c < 0xDC00:
				u.high = c
			case c >= 0xDC00 && c < 0xE000:
				u.out = utf8.AppendRune(u.out, utf8.RuneError)
			default:
				u.out = utf8.AppendRune(u.out, rune(c))
			}
		}
		u.n = copy(u.in[:], u.in[i:u.n])
	}
	n := copy(p, u.out)
	u.out = u.out[n:]
	return n, nil
}
