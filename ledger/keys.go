package ledger

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"math"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/tokenreg/tokenreg/client"
)

// The key set: a writable ledger answers Lookup from memory. The first
// Lookup reads every key of the ledger once (one scan) into a sorted slice
// of 16-byte entries — an 86-bit keyed fingerprint of (username, token
// type, serial) and the registration time in milliseconds — and each
// Record adds its key once committed. A nightly run over an inventory of
// which nearly all is registered then costs a binary search per row, not
// an SQLite query (issue 11).
//
// The fingerprint is two maphash values with seeds drawn at random by each
// process, so that no input can be built to collide; the chance that one
// of 10,000 new rows meets the fingerprint of one of 1,000,000 registered
// ones is about 10⁴·10⁶/2⁸⁶ ≈ 10⁻¹⁶ per run.

// Layout of entry.x: the time in milliseconds since milliEpoch in the high
// timeBits bits, 22 more bits of fingerprint below.
const (
	timeBits  = 42 // 2^42 ms ≈ 139 years
	fpBits    = 64 - timeBits
	fpMask    = 1<<fpBits - 1
	maxOffset = 1<<timeBits - 1
)

// milliEpoch is 2000-01-01T00:00:00Z in Unix milliseconds.
var milliEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

// mergeMin is the fewest keys added since the scan that are merged into
// the sorted set (or a quarter of it, if more); a variable for tests.
var mergeMin = 4096

type entry struct{ h, x uint64 }

// fp is an entry's key without its time.
type fp struct {
	h  uint64
	h2 uint32
}

type keySet struct {
	seed1, seed2 maphash.Seed

	// loadMu serialises load's scan; mu guards the rest.
	loadMu sync.Mutex
	mu     sync.RWMutex
	loaded bool
	// loading is set from just before the scan: a Record committed after
	// the scan's snapshot began must go to extra, not be missed.
	loading bool
	base    []entry  // sorted by h, then x
	dir     []uint32 // dir[b]: the first index in base of bucket b (top dirBits of h)
	dirBits uint
	// accounted is what account added to the memory limit.
	accounted int64
	extra     map[fp]int64 // added since the scan, merged into base now and then
	odd       map[fp]int64 // times outside what an entry holds
	loadErr   error
}

func newKeySet() *keySet {
	return &keySet{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed()}
}

// fingerprint hashes the exact key.
func (s *keySet) fingerprint(user string, t client.TokenType, sn string) fp {
	var h maphash.Hash
	h.SetSeed(s.seed1)
	writeKey(&h, user, t, sn)
	a := h.Sum64()
	h.SetSeed(s.seed2)
	writeKey(&h, user, t, sn)
	return fp{h: a, h2: uint32(h.Sum64() & fpMask)}
}

// fingerprintBytes is fingerprint of a key read from the database, without
// making strings of its bytes. It repeats fingerprint's steps rather than
// sharing them through a func value: that made the hash escape to the heap
// and cost a Lookup 20% (BenchmarkLookup, 870 → 1,050 ns).
func (s *keySet) fingerprintBytes(user []byte, t client.TokenType, sn []byte) fp {
	var h maphash.Hash
	h.SetSeed(s.seed1)
	h.Write(user)
	h.WriteByte(0)
	h.WriteByte(byte(t))
	h.Write(sn)
	a := h.Sum64()
	h.SetSeed(s.seed2)
	h.Write(user)
	h.WriteByte(0)
	h.WriteByte(byte(t))
	h.Write(sn)
	return fp{h: a, h2: uint32(h.Sum64() & fpMask)}
}

func writeKey(h *maphash.Hash, user string, t client.TokenType, sn string) {
	h.WriteString(user)
	h.WriteByte(0)
	h.WriteByte(byte(t))
	h.WriteString(sn)
}

// pack makes the entry of k registered at ms; false if ms does not fit.
func pack(k fp, ms int64) (entry, bool) {
	off := ms - milliEpoch
	if off < 0 || off > maxOffset {
		return entry{}, false
	}
	return entry{h: k.h, x: uint64(off)<<fpBits | uint64(k.h2)}, true
}

func (e entry) milli() int64 { return int64(e.x>>fpBits) + milliEpoch }

// find returns the index in base of k, or -1. The directory narrows the
// search to k's bucket, about one entry: two cache misses, not twenty.
func (s *keySet) find(k fp) int {
	lo, hi := 0, len(s.base)
	if s.dir != nil {
		b := k.h >> (64 - s.dirBits)
		lo, hi = int(s.dir[b]), int(s.dir[b+1])
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.base[m].h < k.h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < len(s.base) && s.base[i].h == k.h; i++ {
		if uint32(s.base[i].x&fpMask) == k.h2 {
			return i
		}
	}
	return -1
}

// index builds the directory of base: about one entry a bucket.
func (s *keySet) index() {
	defer s.account()
	bits := uint(1)
	for 1<<bits < len(s.base) && bits < 24 {
		bits++
	}
	dir := make([]uint32, 1<<bits+1)
	i := 0
	for b := range 1 << bits {
		for i < len(s.base) && s.base[i].h>>(64-bits) < uint64(b) {
			i++
		}
		dir[b] = uint32(i)
	}
	dir[1<<bits] = uint32(len(s.base))
	s.dir, s.dirBits = dir, bits
}

// account raises the process's soft memory limit, if one is set, by what
// the set has grown since it last did. A run sets the limit from the
// input's size (cmd/tokenreg), not knowing of the ledger; without this, a
// nightly run's key set (16 MB for a million registrations) would push the
// live heap against that limit and keep the collector running without
// end. The caller holds mu.
func (s *keySet) account() {
	size := int64(len(s.base))*16 + int64(len(s.dir))*4
	if grow := size - s.accounted; grow > 0 {
		if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
			debug.SetMemoryLimit(lim + grow)
		}
		s.accounted = size
	}
}

// lookup reports the time of k, if known. The set must be loaded.
func (s *keySet) lookup(k fp) (ms int64, found bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if ms, ok := s.extra[k]; ok {
		return ms, true
	}
	if ms, ok := s.odd[k]; ok {
		return ms, true
	}
	if i := s.find(k); i >= 0 {
		return s.base[i].milli(), true
	}
	return 0, false
}

// add notes a committed registration, keeping the later time of a key
// already known. Before the scan has begun it does nothing: the scan will
// see the registration.
func (s *keySet) add(user string, t client.TokenType, sn string, ms int64) {
	k := s.fingerprint(user, t, sn)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.loading && !s.loaded {
		return
	}
	if old, ok := s.odd[k]; ok {
		s.odd[k] = max(old, ms)
		return
	}
	if i := s.find(k); i >= 0 {
		s.raise(i, k, ms)
		return
	}
	if _, fits := pack(k, ms); !fits {
		s.odd[k] = max(s.odd[k], ms)
		return
	}
	s.extra[k] = max(s.extra[k], ms)
	if s.loaded && len(s.extra) >= max(mergeMin, len(s.base)/4) {
		s.merge()
	}
}

// raise keeps the later of base[i]'s time and ms for k, the key of
// base[i]: in base[i] itself (same h: the order holds) if ms fits an
// entry, else in odd. The caller holds mu.
func (s *keySet) raise(i int, k fp, ms int64) {
	if ms <= s.base[i].milli() {
		return
	}
	if e, ok := pack(k, ms); ok {
		s.base[i] = e
	} else {
		s.odd[k] = ms
	}
}

// merge moves extra into base. The caller holds mu.
func (s *keySet) merge() {
	add := make([]entry, 0, len(s.extra))
	for k, ms := range s.extra {
		e, _ := pack(k, ms) // extra holds only times that fit
		add = append(add, e)
	}
	slices.SortFunc(add, cmpEntry)
	merged := make([]entry, 0, len(s.base)+len(add))
	i, j := 0, 0
	for i < len(s.base) && j < len(add) {
		if cmpEntry(s.base[i], add[j]) <= 0 {
			merged = append(merged, s.base[i])
			i++
		} else {
			merged = append(merged, add[j])
			j++
		}
	}
	merged = append(append(merged, s.base[i:]...), add[j:]...)
	s.base = merged
	s.index()
	clear(s.extra)
}

func cmpEntry(a, b entry) int {
	if c := cmp.Compare(a.h, b.h); c != 0 {
		return c
	}
	return cmp.Compare(a.x, b.x)
}

// reset forgets everything: the next lookup scans again (after Import).
func (s *keySet) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loaded, s.loading, s.base, s.extra, s.odd, s.loadErr = false, false, nil, nil, nil, nil
	s.dir = nil
}

// load scans the registrations once; later calls return at once. It holds
// loadMu, not mu, while it scans, so that commits go on meanwhile.
func (s *keySet) load(ctx context.Context, db *sql.DB) error {
	s.mu.RLock()
	done, err := s.loaded, s.loadErr
	s.mu.RUnlock()
	if done || err != nil {
		return err
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.Lock()
	if s.loaded || s.loadErr != nil {
		s.mu.Unlock()
		return s.loadErr
	}
	s.loading = true
	s.extra, s.odd = make(map[fp]int64), make(map[fp]int64)
	s.mu.Unlock()

	base, odd, err := s.scan(ctx, db)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.loading = false
	if err != nil {
		s.extra, s.odd = nil, nil
		return err // not sticky: a cancelled scan may be tried again
	}
	for k, ms := range odd {
		s.odd[k] = max(s.odd[k], ms)
	}
	s.base = base
	s.index()
	// Records committed during the scan: some are in base too.
	extra := s.extra
	s.extra = make(map[fp]int64, len(extra))
	s.loaded = true
	for k, ms := range extra {
		if i := s.find(k); i >= 0 {
			s.raise(i, k, ms)
			continue
		}
		s.extra[k] = ms
	}
	return nil
}

// scan reads every key and time of the ledger into a sorted slice.
func (s *keySet) scan(ctx context.Context, db *sql.DB) ([]entry, map[fp]int64, error) {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM registrations").Scan(&n); err != nil {
		return nil, nil, fmt.Errorf("ledger: read keys: %w", err)
	}
	// A cancellable context would cost the driver a check per row: the
	// scan checks ctx itself now and then.
	rows, err := db.QueryContext(context.WithoutCancel(ctx), "SELECT username, token_type, token_sn, registered_at FROM registrations")
	if err != nil {
		return nil, nil, fmt.Errorf("ledger: read keys: %w", err)
	}
	defer rows.Close()
	base := make([]entry, 0, n+n/64)
	odd := make(map[fp]int64)
	var user, sn, at sql.RawBytes
	var t int
	for rows.Next() {
		if err := rows.Scan(&user, &t, &sn, &at); err != nil {
			return nil, nil, fmt.Errorf("ledger: read keys: %w", err)
		}
		if len(base)&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, fmt.Errorf("ledger: read keys: %w", err)
			}
		}
		ts, err := parseStored(string(at))
		if err != nil {
			return nil, nil, fmt.Errorf("ledger: read keys: %w", err)
		}
		k := s.fingerprintBytes(user, client.TokenType(t), sn)
		ms := ts.UnixMilli()
		if e, ok := pack(k, ms); ok {
			base = append(base, e)
		} else {
			odd[k] = ms
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("ledger: read keys: %w", err)
	}
	slices.SortFunc(base, cmpEntry)
	return base, odd, nil
}
