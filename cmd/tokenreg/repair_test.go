package main

import "testing"

// TestLastRows pins the line → last row index that repair keeps: the last
// row of a line wins, lines never seen have none, and a line number far
// beyond the rows (a hand-edited file) is held without a slice that large.
func TestLastRows(t *testing.T) {
	var l lastRows
	l.set(2, 0)
	l.set(3, 1)
	l.set(2, 2)             // line 2 again: its later row wins
	l.set(2_000_000_000, 3) // far beyond: the map
	l.set(5, 4)
	l.set(2_000_000_000, 5)
	for _, c := range []struct{ line, want int }{
		{2, 2}, {3, 1}, {4, -1}, {5, 4}, {2_000_000_000, 5}, {1, -1}, {-7, -1}, {1 << 40, -1},
	} {
		if got := l.get(c.line); got != c.want {
			t.Errorf("get(%d) = %d, want %d", c.line, got, c.want)
		}
	}
	if len(l.dense) > 1<<20 {
		t.Errorf("dense slice has %d entries for 6 rows: a far line number grew it", len(l.dense))
	}
}
