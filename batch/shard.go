package batch

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/tokenreg/tokenreg/report"
)

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
		return Shard{}, fmt.Errorf("shard %q: want K/N with 0 ≤ K < N, e.g. 0/4 … 3/4 for four machines", s)
	}
	return Shard{K: ki, N: ni}, nil
}

// Owns reports whether the username belongs to this shard. The hash is
// FNV-1a of the lower-cased username, the same on every machine. Every row
// belongs to exactly one shard: a row without a username (an invalid one)
// to shard 0.
func (s Shard) Owns(username string) bool {
	if s.N <= 1 {
		return true
	}
	if username == "" {
		return s.K == 0
	}
	h := fnv.New64a()
	h.Write([]byte(strings.ToLower(username)))
	return h.Sum64()%uint64(s.N) == uint64(s.K)
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// placeholder is the message of a row that shard s leaves to another shard
// (SPEC §5); placeholderShard reads the shard back: one wording.
func placeholder(s Shard) string {
	return fmt.Sprintf("%s (this is shard %s)", report.OtherShardPrefix, s)
}

// placeholderShard returns the "K/N" of a placeholder's message, if msg is
// one.
func placeholderShard(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, report.OtherShardPrefix+" (this is shard ")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, ")")
}
