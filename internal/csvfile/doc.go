// Package csvfile is the one layer through which tokenreg reads a CSV file:
// the operator's input, a result file read back, a ledger export. It decides
// what the bytes are before any record is parsed — a UTF-8 or UTF-16 byte
// order mark, a file that is not text at all (an Excel workbook, a PDF), the
// separator (Excel's "sep=;" line, or the one the header line is written
// with), Windows PowerShell's "#TYPE …" first line — and then splits records itself: a lone CR (classic Mac) is a line
// end like LF and CRLF, a record is never longer than Options.MaxRecord
// bytes however long the line, a malformed quoted field is reported with the
// line where it started and the line where reading resumes, and invalid UTF-8
// stops the file with its line and byte. It also holds the rules that every
// reader shares: how a column name is folded (FoldName), the BOM, and the
// timestamp layout of the files tokenreg writes.
//
// csvfile knows nothing about tokens, users or results: the caller says
// which header it can use (Options.Score) and maps the columns itself. It
// never guesses: what it cannot read unambiguously is an error that names
// the cause and what to do.
package csvfile
