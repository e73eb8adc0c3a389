package main

import (
	"context"
	"time"

	"github.com/tokenreg/tokenreg/client"
	"github.com/tokenreg/tokenreg/ledger"
)

// ledgerCompat adapts the ledger until Record takes the lost flag (w-ledger).
// TODO(merge): remove once ledger.Record has the lost parameter.
type ledgerCompat struct{ *ledger.Ledger }

func (l ledgerCompat) Record(ctx context.Context, username string, t client.TokenType, tokenSn string, at time.Time, lost bool) error {
	return l.Ledger.Record(ctx, username, t, tokenSn, at)
}
