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
// table of 64-bit keys, sized to the row count when it is known (a Go map
// rounds up to a power of two and would take twice that).
//
// A key is 61 bits of hash and a 3-bit form. An SMS number written in one
// of the four ways a phone number is commonly written ("+60123456789",
// "60123456789", "060123456789", "0060123456789") is hashed without its
// prefix, and the form says which prefix it had: the four writings of one
// number share their hash, and so their place in the table, and the one
// probe that records a row also finds the same number written another way
// (phoneVariant) at no extra cost. Any other pair (an OTP serial, an SMS
// number with another prefix) is hashed whole, with the form otherForm. Two
// different pairs share a key with a probability of about n²/2⁶² (2·10⁻⁷
// for a million rows).
type dedup struct {
	seed  maphash.Seed // usernames (and validate's OTP users)
	seeds [3]maphash.Seed
	slots []slot // key 0 = empty slot
	n     int
	sink  uint64 // what touch loaded, so that the loads are not optimised away
}

type slot struct {
	key uint64
	val uint64 // line<<32 | low 32 bits of the username's hash
}

// The seeds of the three kinds of hashed text.
const (
	seedPhone = iota // an SMS number without its prefix
	seedSMS          // an SMS number written otherwise
	seedOTP          // an OTP serial
)

// formMask selects a key's form: 0 to 3 are the prefixes of phoneForms;
// otherForm is a pair hashed whole.
const (
	formMask  = 7
	otherForm = 4
)

// phoneForms are the prefixes of the writings of a phone number that
// phoneVariant compares, by form.
var phoneForms = [...]string{"+", "", "0", "00"}

// newDedup sizes the index for rows rows (0 if unknown).
func newDedup(rows int) *dedup {
	d := &dedup{seed: maphash.MakeSeed()}
	for i := range d.seeds {
		d.seeds[i] = maphash.MakeSeed()
	}
	d.slots = make([]slot, max(rows+rows/4, 1024))
	return d
}

// home is where key's probe starts. Multiply-shift maps the hash onto any
// table size, not only powers of two; the form is left out, so that the
// writings of one phone number share their probe.
func (d *dedup) home(key uint64) int {
	hi, _ := bits.Mul64(key&^formMask, uint64(len(d.slots)))
	return int(hi)
}

// key returns the pair's key.
func (d *dedup) key(t client.TokenType, sn string) uint64 {
	var h uint64
	form := uint64(otherForm)
	switch {
	case t != client.SMS:
		h = maphash.String(d.seeds[seedOTP], sn)
	default:
		if k, f, ok := phoneForm(sn); ok {
			h, form = maphash.String(d.seeds[seedPhone], k), f
		} else {
			h = maphash.String(d.seeds[seedSMS], sn)
		}
	}
	return max(h&^formMask, formMask+1) | form
}

func (d *dedup) user(username string) uint32 {
	return uint32(maphash.String(d.seed, userKey(username)))
}

// phoneForm splits an SMS number written with one of the prefixes of
// phoneForms into the number without it and the prefix's form.
func phoneForm(sn string) (k string, form uint64, ok bool) {
	k = phoneKey(sn)
	if k == "" {
		return "", 0, false
	}
	for f, p := range phoneForms {
		if len(sn) == len(p)+len(k) && sn[:len(p)] == p {
			return k, uint64(f), true
		}
	}
	return "", 0, false
}

// phoneKey is an SMS number without its leading '+' and zeros.
func phoneKey(sn string) string {
	return strings.TrimLeft(strings.TrimPrefix(sn, "+"), "0")
}

// seen is what the index knew of a pair when check recorded it.
type seen struct {
	first     int  // the earlier line that gave the pair; 0 if none
	otherUser bool // first was for another username
	// variant is the earliest line that gave the same SMS number written
	// with another prefix (+, 00 or 0); 0 if none.
	variant      int
	variantOther bool // variant was for another username
}

// check records the row's pair, or returns the earlier line that gave it
// and whether that line was for another username. For an SMS number it
// also finds the earliest line that gave it written another way.
func (d *dedup) check(t client.TokenType, sn, username string, line int) seen {
	key := d.key(t, sn)
	u := d.user(username)
	var s seen
	i := d.home(key)
	group := uint64(0) // the variants' key without form; 0: not a phone number
	if key&formMask < otherForm {
		group = key &^ formMask
	}
	found := false
scan:
	for ; d.slots[i].key != 0; i = d.next(i) {
		sl := d.slots[i]
		switch {
		case sl.key == key:
			found = true
			s.first, s.otherUser = int(sl.val>>32), uint32(sl.val) != u
			if group == 0 {
				break scan
			}
		case group != 0 && sl.key&^formMask == group && sl.key&formMask < otherForm:
			if l := int(sl.val >> 32); s.variant == 0 || l < s.variant {
				s.variant, s.variantOther = l, uint32(sl.val) != u
			}
		}
	}
	if !found {
		d.insert(i, slot{key: key, val: uint64(line)<<32 | uint64(u)})
	}
	if t == client.SMS && group == 0 {
		// An SMS number with another prefix ("+0060…", "000…"): its
		// writings with the usual prefixes are elsewhere.
		s.variant, s.variantOther = d.variants(sn, u)
	}
	return s
}

// insert fills the empty slot i, and grows the table once it is over 80%
// full.
func (d *dedup) insert(i int, sl slot) {
	d.slots[i] = sl
	d.n++
	if d.n*5 <= len(d.slots)*4 {
		return
	}
	old := d.slots
	d.slots = make([]slot, len(old)*2)
	for _, sl := range old {
		if sl.key != 0 {
			j := d.home(sl.key)
			for d.slots[j].key != 0 {
				j = d.next(j)
			}
			d.slots[j] = sl
		}
	}
}

func (d *dedup) next(i int) int {
	if i++; i == len(d.slots) {
		return 0
	}
	return i
}

// variants returns the earliest line that gave sn's number with one of the
// prefixes of phoneForms, and whether it was for another user than u.
func (d *dedup) variants(sn string, u uint32) (line int, otherUser bool) {
	k := phoneKey(sn)
	if k == "" {
		return 0, false
	}
	group := max(maphash.String(d.seeds[seedPhone], k)&^formMask, formMask+1)
	for i := d.home(group); d.slots[i].key != 0; i = d.next(i) {
		sl := d.slots[i]
		if sl.key&^formMask == group && sl.key&formMask < otherForm {
			if l := int(sl.val >> 32); line == 0 || l < line {
				line, otherUser = l, uint32(sl.val) != u
			}
		}
	}
	return line, otherUser
}

// phoneVariant is validate's warning for an SMS number that an earlier
// line gave written with another prefix (+, 00 or 0: "+60123456789",
// "0060123456789", "60123456789"), or "". Such rows are not duplicates (the
// text differs, and telling a national number from an international one
// needs the country), so both are sent; validate warns, since the server
// will most likely answer the second with 29004. check finds them in the
// probe that records the row, so it costs no memory.
func phoneVariant(s seen) string {
	switch {
	case s.variant == 0:
		return ""
	case s.variantOther:
		return fmt.Sprintf("warning: line %d gives the same phone number, written with another prefix (+, 00 or 0), to another user; the server will answer 29004 (phone number had been used)", s.variant)
	}
	return fmt.Sprintf("warning: line %d gives this user the same phone number written with another prefix (+, 00 or 0)", s.variant)
}

// touch loads the slots where check will start probing for rows' pairs.
// Each is most likely a cache miss (the index of a million rows is 20 MB,
// and a hash has no locality): taken together, the misses overlap, where
// check would take them one after another.
func (d *dedup) touch(rows []Row) {
	var homes [readAheadRows]int
	n := 0
	for i := range rows {
		if r := &rows[i]; r.Problem == "" && n < len(homes) {
			homes[n] = d.home(d.key(r.TokenType, r.TokenSn))
			n++
		}
	}
	// The loads alone in a tight loop: the processor has them all in
	// flight at once.
	var sum uint64
	for _, i := range homes[:n] {
		sum += d.slots[i].key
	}
	d.sink += sum
}

// readAhead reads rows a few at a time, so that the index can fetch their
// slots together (touch) before check needs them one by one. It returns
// the rows, then the error that ended them, exactly as the Reader would.
type readAhead struct {
	rd   *Reader
	dd   *dedup
	rows []Row
	next int
	err  error // the error after rows
}

// rowReader gives the checked rows of an input: a *Reader, or a readAhead
// over one.
type rowReader interface {
	Read() (Row, error)
	inputName() string // the input's name in errors
}

func (ra *readAhead) inputName() string { return ra.rd.name }

// readAheadRows is how many rows readAhead reads at a time.
const readAheadRows = 32

func newReadAhead(rd *Reader, dd *dedup) *readAhead {
	return &readAhead{rd: rd, dd: dd, rows: make([]Row, 0, readAheadRows)}
}

// Read returns the next row, or the Reader's error after the last one.
func (ra *readAhead) Read() (Row, error) {
	if ra.next == len(ra.rows) {
		if ra.err != nil {
			return Row{}, ra.err
		}
		ra.fill()
		if len(ra.rows) == 0 {
			return Row{}, ra.err
		}
	}
	row := ra.rows[ra.next]
	ra.rows[ra.next] = Row{} // the batch does not keep it alive
	ra.next++
	return row, nil
}

func (ra *readAhead) fill() {
	ra.rows, ra.next = ra.rows[:0], 0
	for len(ra.rows) < cap(ra.rows) {
		row, err := ra.rd.Read()
		if err != nil {
			ra.err = err
			break
		}
		ra.rows = append(ra.rows, row)
	}
	ra.dd.touch(ra.rows)
}
