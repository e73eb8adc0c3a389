package batch

import (
	"errors"
	"fmt"
	"hash/fnv"
	"hash/maphash"
	"io"
	"math/bits"
	"strconv"
	"strings"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

// dedup remembers which (tokenType, tokenSn) pairs the file has given, on
// which line and for which user, in 16 bytes a slot: an open-addressing
// table of 64-bit hashes, sized to the row count when it is known (a Go map
// rounds up to a power of two and would take twice that). Two different
// pairs share a hash with a probability of about n²/2⁶⁵ (3·10⁻⁸ for a
// million rows).
type dedup struct {
	seed maphash.Seed
	keys []uint64 // 0 = empty slot; a hash of 0 is stored as 1
	vals []uint64 // line<<32 | low 32 bits of the username's hash
	n    int
}

// newDedup sizes the index for rows rows (0 if unknown).
func newDedup(rows int) *dedup {
	d := &dedup{seed: maphash.MakeSeed()}
	d.alloc(max(rows+rows/4, 1024))
	return d
}

func (d *dedup) alloc(slots int) {
	d.keys = make([]uint64, slots)
	d.vals = make([]uint64, slots)
}

// slot returns where key is, or the empty slot where it would go.
func (d *dedup) slot(key uint64) int {
	// Multiply-shift maps the hash onto any table size, not only powers
	// of two.
	hi, _ := bits.Mul64(key, uint64(len(d.keys)))
	i := int(hi)
	for d.keys[i] != 0 && d.keys[i] != key {
		if i++; i == len(d.keys) {
			i = 0
		}
	}
	return i
}

// check records the row's pair, or returns the earlier line that gave it
// (0 if none) and whether that line was for another username.
func (d *dedup) check(t client.TokenType, sn, username string, line int) (first int, otherUser bool) {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteByte(byte(t))
	h.WriteString(sn)
	k := max(h.Sum64(), 1)
	u := uint64(uint32(maphash.String(d.seed, strings.ToLower(username))))
	i := d.slot(k)
	if d.keys[i] == k {
		v := d.vals[i]
		return int(v >> 32), uint32(v) != uint32(u)
	}
	d.keys[i], d.vals[i] = k, uint64(line)<<32|u
	d.n++
	if d.n*5 > len(d.keys)*4 { // over 80% full: grow
		keys, vals := d.keys, d.vals
		d.alloc(len(keys) * 2)
		for j, key := range keys {
			if key != 0 {
				x := d.slot(key)
				d.keys[x], d.vals[x] = key, vals[j]
			}
		}
	}
	return 0, false
}

// Shard selects this machine's share of the rows by username (SPEC §3): the
// rows whose username hashes to K of N. The zero value takes every row.
type Shard struct {
	K, N int
}

// ParseShard reads "K/N" with 0 ≤ K < N (K is a Kubernetes Indexed Job's
// completion index).
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(s, "/")
	ki, err1 := strconv.Atoi(strings.TrimSpace(k))
	ni, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil || ni < 1 || ki < 0 || ki >= ni {
		return Shard{}, fmt.Errorf("--shard %q: want K/N with 0 ≤ K < N, e.g. 0/4 … 3/4 for four machines", s)
	}
	return Shard{K: ki, N: ni}, nil
}

// Owns reports whether the username belongs to this shard. The hash is
// FNV-1a of the lower-cased username, the same on every machine.
func (s Shard) Owns(username string) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(username)))
	return h.Sum64()%uint64(s.N) == uint64(s.K)
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Resume is what an earlier result file says about each input line.
type Resume struct {
	lines map[int]prior
	seed  maphash.Seed
	// Rows is the number of rows read from the earlier result.
	Rows int
	// Final is the number of those rows that will not be sent again.
	Final int
	// NotOK is the number of final rows that failed or were invalid: they
	// keep the run's exit code at 1.
	NotOK int
}

type prior struct {
	ident   uint64
	final   bool
	unknown bool // an error row whose request may have been applied
}

func (r *Resume) ident(username, sn string) uint64 {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(displayField(username))
	h.WriteByte(0)
	h.WriteString(displayField(sn))
	return h.Sum64()
}

// LoadResume reads an earlier result file. It returns the index of its rows
// and the byte length of the file's good prefix: a torn last line (a crash
// mid-write) lies beyond it, and the caller truncates the file there before
// appending.
func LoadResume(name string, f io.Reader) (*Resume, int64, bool, error) {
	r := &Resume{lines: make(map[int]prior), seed: maphash.MakeSeed()}
	good, torn, err := report.Recover(f, func(res report.Result) error {
		if _, dup := r.lines[res.Line]; dup {
			return fmt.Errorf("line %d has two result rows", res.Line)
		}
		p := prior{ident: r.ident(res.Username, res.TokenSn), final: res.Status.Final()}
		if res.Status == report.StatusError && strings.Contains(res.Message, unknownNote) {
			p.unknown = true
		}
		r.lines[res.Line] = p
		r.Rows++
		if p.final {
			r.Final++
		}
		if res.Status == report.StatusFailed || res.Status == report.StatusInvalid {
			r.NotOK++
		}
		return nil
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("read earlier result %s: %w", name, err)
	}
	return r, good, torn, nil
}

// ErrResumeMismatch is wrapped when the result being resumed was written for
// another input.
var ErrResumeMismatch = errors.New("the result file does not belong to this input")

func (r *Resume) check(row *Row) (prior, bool, error) {
	if r == nil {
		return prior{}, false, nil
	}
	p, ok := r.lines[row.Line]
	if !ok {
		return prior{}, false, nil
	}
	if p.ident != r.ident(row.Username, row.TokenSn) {
		return prior{}, false, fmt.Errorf("%w: its row for line %d names another username or tokenSn than the input; resume with the input it was made from, or use --force to start over", ErrResumeMismatch, row.Line)
	}
	return p, true, nil
}
