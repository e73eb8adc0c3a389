package ledger

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/internal/safefile"
)

// The intent journal. A run notes the intent of each request it is about to
// send in an append-only file beside the database (path + "-intents"), one
// write(2) per intent and no SQLite statement: the page cache keeps a
// written intent through a killed process, which is what an intent must
// survive before its request goes out. A Forget, and the Records once
// durable, append their keys too ("resolved"), so that the journal's open
// intents are what is in flight or unanswered.
//
// On Close the intents left open move into the database's intents table
// (one transaction) and the file is removed; after a crash the next Open
// does the same before it reads the intents of earlier runs. So between
// runs the intents table is the one place an intent lives, as before.
//
// Power loss: the journal is fsynced together with the WAL each time
// Records are made durable (commit.go), so every intent written before a
// Record returned survives a power loss as well. Intents written since the
// last round (at most roundEvery and its fsync ago, in a busy run) may be
// lost with the power, like the result rows written meanwhile (which are
// not fsynced either).
//
// Format: entries of kind byte, payload length (uvarint), payload, and the
// CRC-32C of the three. The first entry is the header: journalMagic and the
// run's id. An intent's payload is its key and the time it was noted (Unix
// milliseconds, varint); a forget's and a resolved one's is the key. A key
// is the username (uvarint length, bytes), the token type (a byte) and the
// serial (uvarint length, bytes). Reading stops at the first entry that is
// cut short or fails its checksum: the tail a crash or power loss tore.

const journalMagic = "tokenreg intent journal 1\x00"

const (
	entryHeader   = 'H'
	entryIntent   = 'I'
	entryForget   = 'F'
	entryResolved = 'R'
)

// maxEntry bounds an entry's payload: a key is at most two fields of 256
// bytes, but a damaged length must not make the reader allocate gigabytes.
const maxEntry = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journal is the open intent journal of a writable ledger. The file is
// created by the first write.
type journal struct {
	path  string
	runID string

	mu     sync.Mutex
	w      jwriter // nil until the first write
	buf    []byte
	size   int64 // bytes written
	synced int64 // bytes fsynced
	err    error // the first failure to write: every later write reports it

	syncMu sync.Mutex // one fsync at a time
}

// intent appends the intent of a request about to be sent.
func (j *journal) intent(user string, t client.TokenType, sn string, at time.Time) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = appendKeyEntry(j.buf[:0], entryIntent, user, t, sn, at.UnixMilli(), true)
	return j.writeLocked()
}

// forget appends that the request of a key was refused or never sent.
func (j *journal) forget(user string, t client.TokenType, sn string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = appendKeyEntry(j.buf[:0], entryForget, user, t, sn, 0, false)
	return j.writeLocked()
}

// resolved appends that the Records of ops are durable, in one write.
func (j *journal) resolved(ops []*op) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.w == nil && j.err == nil {
		// No intent was noted (an import, say): nothing to resolve.
		return nil
	}
	j.buf = j.buf[:0]
	for _, o := range ops {
		j.buf = appendKeyEntry(j.buf, entryResolved, o.user, o.t, o.sn, 0, false)
	}
	return j.writeLocked()
}

// writeLocked writes j.buf, creating the file first if need be. The
// caller holds mu.
func (j *journal) writeLocked() error {
	if j.err != nil {
		return j.err
	}
	if j.w == nil {
		f, err := createJournal(j.path)
		if err == nil {
			w := newJournalWriter(f)
			hdr := appendEntry(nil, entryHeader, append([]byte(journalMagic), j.runID...))
			if err = w.write(hdr); err != nil {
				w.close()
			} else {
				j.w, j.size = w, int64(len(hdr))
			}
		}
		if err != nil {
			j.err = fmt.Errorf("intent journal %s: %w", j.path, err)
			return j.err
		}
	}
	if err := j.w.write(j.buf); err != nil {
		j.err = fmt.Errorf("write intent journal %s: %w", j.path, err)
		return j.err
	}
	j.size += int64(len(j.buf))
	return nil
}

// createJournal creates the journal; one left by a crash was moved into
// the database and removed by Open.
func createJournal(path string) (*os.File, error) {
	f, err := safefile.OpenNoFollow(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, reword(path, err)
	}
	return f, nil
}

// mapJournal says whether the journal is written through a shared memory
// mapping where the system allows (journal_linux.go); tests turn it off to
// try the write(2) path too.
var mapJournal = true

// jwriter writes the journal's bytes one after the other.
type jwriter interface {
	write(b []byte) error
	sync() error  // fdatasync: what was written is on the disk
	close() error // the file keeps what was written, nothing more
}

// fileWriter writes with write(2): one system call an entry.
type fileWriter struct {
	f   *os.File
	off int64
}

func (w *fileWriter) write(b []byte) error {
	n, err := w.f.WriteAt(b, w.off)
	w.off += int64(n)
	return err
}

func (w *fileWriter) sync() error  { return datasync(w.f) }
func (w *fileWriter) close() error { return w.f.Close() }

// sync fsyncs what was written so far, if anything is new.
func (j *journal) sync() error {
	j.syncMu.Lock()
	defer j.syncMu.Unlock()
	j.mu.Lock()
	w, size, synced := j.w, j.size, j.synced
	j.mu.Unlock()
	if w == nil || size == synced {
		return nil
	}
	if err := w.sync(); err != nil {
		return fmt.Errorf("sync intent journal %s: %w", j.path, err)
	}
	j.mu.Lock()
	j.synced = size
	j.mu.Unlock()
	return nil
}

// dirty reports whether something written is not fsynced yet.
func (j *journal) dirty() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.w != nil && j.size > j.synced
}

// closeFile closes the file, keeping it on disk.
func (j *journal) closeFile() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.w == nil {
		return nil
	}
	err := j.w.close()
	j.w = nil
	if j.err == nil {
		j.err = errors.New("intent journal closed")
	}
	return err
}

// appendEntry appends one entry of kind with payload p.
func appendEntry(b []byte, kind byte, p []byte) []byte {
	start := len(b)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(len(p)))
	b = append(b, p...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// appendKeyEntry appends an entry whose payload is a key (and, if withAt,
// the time at in Unix milliseconds), without building the payload apart.
func appendKeyEntry(b []byte, kind byte, user string, t client.TokenType, sn string, at int64, withAt bool) []byte {
	// The payload follows its length: count it first.
	plen := uvarintLen(uint64(len(user))) + len(user) + 1 + uvarintLen(uint64(len(sn))) + len(sn)
	if withAt {
		plen += varintLen(at)
	}
	start := len(b)
	b = append(b, kind)
	b = binary.AppendUvarint(b, uint64(plen))
	b = binary.AppendUvarint(b, uint64(len(user)))
	b = append(b, user...)
	b = append(b, byte(t))
	b = binary.AppendUvarint(b, uint64(len(sn)))
	b = append(b, sn...)
	if withAt {
		b = binary.AppendVarint(b, at)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func varintLen(x int64) int {
	ux := uint64(x) << 1
	if x < 0 {
		ux = ^ux
	}
	return uvarintLen(ux)
}

// journalEntry is one entry read back.
type journalEntry struct {
	key  string // user, type and serial as written: the exact key
	user string
	t    client.TokenType
	sn   string
	at   int64
}

// openIntent is an intent the journal leaves open.
type openIntent struct {
	user string
	t    client.TokenType
	sn   string
	at   int64
}

// readJournal reads the journal at path and returns the run it belongs to
// and its open intents: those neither forgotten nor resolved after they
// were noted. It holds only the open ones in memory: a run's journal of a
// million rows holds about as many as were in flight.
func readJournal(path string) (runID string, open map[string]openIntent, err error) {
	f, err := safefile.OpenNoFollow(path, os.O_RDONLY, 0)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	foreign := fmt.Errorf("%s is not a tokenreg intent journal: move it away and run again (tokenreg keeps the intents of a run there while the run lasts)", path)
	if first, err := r.Peek(1); err != nil || first[0] == 0 {
		// Empty, or zeros where a power loss cut the header short.
		return "", nil, nil
	} else if first[0] != entryHeader {
		return "", nil, foreign
	}
	kind, p, err := readEntry(r)
	if err != nil {
		// The header torn: no intent can follow it.
		return "", nil, nil
	}
	if kind != entryHeader || len(p) < len(journalMagic) || string(p[:len(journalMagic)]) != journalMagic {
		return "", nil, foreign
	}
	runID = string(p[len(journalMagic):])
	open = make(map[string]openIntent)
	for {
		kind, p, err := readEntry(r)
		if err != nil || kind == 0 {
			break // the end, or the torn tail, or the zeros after it
		}
		e, ok := parseKeyEntry(kind, p)
		if !ok {
			break
		}
		switch kind {
		case entryIntent:
			open[e.key] = openIntent{user: e.user, t: e.t, sn: e.sn, at: e.at}
		case entryForget, entryResolved:
			delete(open, e.key)
		}
	}
	return runID, open, nil
}

// readEntry reads one entry; any error means none could be read whole.
func readEntry(r *bufio.Reader) (kind byte, payload []byte, err error) {
	kind, err = r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, nil, err
	}
	if n > maxEntry {
		return 0, nil, errors.New("entry too long")
	}
	buf := make([]byte, 1+binary.MaxVarintLen64+int(n)+4)
	buf[0] = kind
	h := 1 + binary.PutUvarint(buf[1:], n)
	buf = buf[:h+int(n)+4]
	if _, err := io.ReadFull(r, buf[h:]); err != nil {
		return 0, nil, err
	}
	body := buf[:h+int(n)]
	if binary.LittleEndian.Uint32(buf[h+int(n):]) != crc32.Checksum(body, castagnoli) {
		return 0, nil, errors.New("checksum mismatch")
	}
	return kind, buf[h : h+int(n)], nil
}

// parseKeyEntry decodes an intent, forget or resolved entry.
func parseKeyEntry(kind byte, p []byte) (journalEntry, bool) {
	var e journalEntry
	field := func() (string, bool) {
		n, k := binary.Uvarint(p)
		if k <= 0 || n > uint64(len(p)-k) {
			return "", false
		}
		s := string(p[k : k+int(n)])
		p = p[k+int(n):]
		return s, true
	}
	whole := p
	var ok bool
	if e.user, ok = field(); !ok || len(p) < 1 {
		return e, false
	}
	e.t = client.TokenType(p[0])
	p = p[1:]
	if e.sn, ok = field(); !ok {
		return e, false
	}
	e.key = string(whole[:len(whole)-len(p)])
	switch kind {
	case entryIntent:
		at, k := binary.Varint(p)
		if k <= 0 {
			return e, false
		}
		e.at, p = at, p[k:]
	case entryForget, entryResolved:
	default:
		return e, false
	}
	return e, len(p) == 0
}

// upsertIntentSQL stores an open intent; a later one of the same key
// replaces it.
const upsertIntentSQL = `INSERT INTO intents (username, token_type, token_sn, sent_at, run_id) VALUES (?, ?, ?, ?, ?)
	ON CONFLICT (username, token_type, token_sn) DO UPDATE SET sent_at = excluded.sent_at, run_id = excluded.run_id`

// settleJournal moves the open intents of the journal at path into the
// intents table, drops the intents whose registration was recorded, and
// removes the file. With no journal it only drops the resolved intents.
// The database is written through db's connections (synchronous=FULL), so
// the intents are durable before the file goes.
func settleJournal(ctx context.Context, db *sql.DB, path string) error {
	runID, open, err := readJournal(path)
	exists := !errors.Is(err, os.ErrNotExist)
	if err != nil && exists {
		return fmt.Errorf("read intent journal: %w", err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if len(open) > 0 {
		st, err := tx.PrepareContext(ctx, upsertIntentSQL)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, in := range open {
			if !in.t.Valid() || in.user == "" || in.sn == "" {
				continue // not one Intent wrote
			}
			if _, err := st.ExecContext(ctx, in.user, int(in.t), in.sn, formatTime(time.UnixMilli(in.at)), runID); err != nil {
				return fmt.Errorf("move intents of the journal into the ledger: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, dropResolvedSQL); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if !exists {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove intent journal: %w", err)
	}
	// A removal lost with the power would bring intents back that a later
	// run resolved.
	return safefile.SyncDir(filepath.Dir(path))
}
