//go:build !linux

package ledger

import "os"

// newJournalWriter writes the journal with write(2) (mapJournal is for
// Linux only).
func newJournalWriter(f *os.File) jwriter { return &fileWriter{f: f} }
