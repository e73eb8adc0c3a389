package batch

import (
	"testing"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/report"
)

func TestDecide(t *testing.T) {
	valid := Row{Line: 7, Username: "alice", TokenSn: "OTP1", TokenType: client.OTP}
	invalid := Row{Line: 8, TokenSn: "OTP1", TokenType: client.OTP, Problem: "username is empty"}
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	shard := Shard{K: 1, N: 3}
	tests := []struct {
		name string
		row  Row
		f    facts
		want decision
	}{
		{"valid row is sent", valid, facts{owned: true}, decision{act: send}},
		{"invalid row", invalid, facts{owned: true}, decision{act: emit, status: report.StatusInvalid, message: "username is empty"}},
		{"duplicate", valid, facts{owned: true, dupOf: 3}, decision{act: emit, status: report.StatusSkipped, message: "duplicate of line 3"}},
		{"another shard's valid row", valid, facts{shard: shard}, decision{act: emit, status: report.StatusSkipped, message: "another shard's row (this is shard 1/3)"}},
		{"another shard's invalid row: reported by its own shard only", invalid, facts{shard: shard},
			decision{act: emit, status: report.StatusSkipped, message: "another shard's row (this is shard 1/3)"}},
		{"another shard's duplicate: reported by its own shard only", valid, facts{shard: shard, dupOf: 2},
			decision{act: emit, status: report.StatusSkipped, message: "another shard's row (this is shard 1/3)"}},
		{"resumed final row is left alone", valid, facts{owned: true, resumed: true, prior: prior{final: true}}, decision{act: drop}},
		{"resumed final invalid row is left alone", invalid, facts{owned: true, resumed: true, prior: prior{final: true}}, decision{act: drop}},
		{"resumed final row of another shard is left alone", valid, facts{resumed: true, prior: prior{final: true}}, decision{act: drop}},
		{"resumed error row is sent again", valid, facts{owned: true, resumed: true, prior: prior{unknown: true}}, decision{act: send}},
		{"ledger not asked yet", valid, facts{owned: true, ledger: true}, decision{act: lookup}},
		{"ledger has it", valid, facts{owned: true, ledger: true, checked: true, inLedger: true, at: at},
			decision{act: emit, status: report.StatusSkipped, message: "registered on 2026-11-28 10:00:00Z (ledger)"}},
		{"ledger has not", valid, facts{owned: true, ledger: true, checked: true}, decision{act: send}},
		{"duplicate before ledger", valid, facts{owned: true, ledger: true, dupOf: 2}, decision{act: emit, status: report.StatusSkipped, message: "duplicate of line 2"}},
		{"invalid before ledger", invalid, facts{owned: true, ledger: true}, decision{act: emit, status: report.StatusInvalid, message: "username is empty"}},
		{"dry run: valid", valid, facts{owned: true, dryRun: true}, decision{act: emit, status: report.StatusValid}},
		{"dry run: invalid", invalid, facts{owned: true, dryRun: true}, decision{act: emit, status: report.StatusInvalid, message: "username is empty"}},
		{"dry run asks the ledger first", valid, facts{owned: true, dryRun: true, ledger: true}, decision{act: lookup}},
		{"dry run: in the ledger", valid, facts{owned: true, dryRun: true, ledger: true, checked: true, inLedger: true, at: at},
			decision{act: emit, status: report.StatusSkipped, message: "registered on 2026-11-28 10:00:00Z (ledger)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decide(&tt.row, tt.f); got != tt.want {
				t.Errorf("decide(%+v, %+v) = %+v, want %+v", tt.row, tt.f, got, tt.want)
			}
		})
	}
}

// TestShardOwnsEveryRow: each username, and the empty one, belongs to
// exactly one shard, whatever its case, for N that is not a power of two.
func TestShardOwnsEveryRow(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 7} {
		for _, u := range []string{"", "alice", "ALICE", "Bob", "user-123", "Ünïcode"} {
			owners := 0
			var owner int
			for k := range n {
				if (Shard{K: k, N: n}).Owns(u) {
					owners++
					owner = k
				}
			}
			if owners != 1 {
				t.Errorf("N=%d: %q is owned by %d shards, want 1", n, u, owners)
			}
			if u == "" && owner != 0 {
				t.Errorf("N=%d: a row without a username belongs to shard %d, want 0", n, owner)
			}
		}
		for k := range n {
			s := Shard{K: k, N: n}
			if s.Owns("alice") != s.Owns("ALICE") || s.Owns("Bob") != s.Owns("bob") {
				t.Errorf("shard %v: ownership depends on the username's case", s)
			}
		}
	}
}
