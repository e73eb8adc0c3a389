package batch

import (
	"hash/maphash"
	"math/bits"
	"strings"

	"github.com/tokenreg/tokenreg/client"
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
