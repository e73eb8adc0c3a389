package batch

import (
	"fmt"
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

func (d *dedup) key(t client.TokenType, sn string) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteByte(byte(t))
	h.WriteString(sn)
	return max(h.Sum64(), 1)
}

func (d *dedup) user(username string) uint64 {
	return uint64(uint32(maphash.String(d.seed, userKey(username))))
}

// find returns the line that gave the pair (0 if none) and whether it was
// for another username, without recording anything.
func (d *dedup) find(t client.TokenType, sn, username string) (line int, otherUser bool) {
	k := d.key(t, sn)
	i := d.slot(k)
	if d.keys[i] != k {
		return 0, false
	}
	v := d.vals[i]
	return int(v >> 32), uint32(v) != uint32(d.user(username))
}

// check records the row's pair, or returns the earlier line that gave it
// (0 if none) and whether that line was for another username.
func (d *dedup) check(t client.TokenType, sn, username string, line int) (first int, otherUser bool) {
	k, u := d.key(t, sn), d.user(username)
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

// phoneKey is an SMS number without its leading '+' and zeros.
func phoneKey(sn string) string {
	return strings.TrimLeft(strings.TrimPrefix(sn, "+"), "0")
}

// phoneVariant finds an SMS number given on an earlier line in another
// writing: with or without a leading '+', "00" or national '0'
// ("+60123456789", "0060123456789", "60123456789"). Such rows are not
// duplicates (the text differs, and telling a national number from an
// international one needs the country), so both are sent; validate warns,
// since the server will most likely answer the second with 29004. It looks
// the other writings up in the index check fills, so it costs no memory;
// call it after check recorded the row.
func (d *dedup) phoneVariant(row *Row) string {
	k := phoneKey(row.TokenSn)
	if row.TokenType != client.SMS || k == "" {
		return ""
	}
	first, other := 0, false
	for _, v := range [...]string{"+" + k, k, "0" + k, "00" + k} {
		if v == row.TokenSn {
			continue
		}
		if line, o := d.find(client.SMS, v, row.Username); line > 0 && (first == 0 || line < first) {
			first, other = line, o
		}
	}
	switch {
	case first == 0:
		return ""
	case other:
		return fmt.Sprintf("warning: line %d gives the same phone number, written with another prefix (+, 00 or 0), to another user; the server will answer 29004 (phone number had been used)", first)
	}
	return fmt.Sprintf("warning: line %d gives this user the same phone number written with another prefix (+, 00 or 0)", first)
}
