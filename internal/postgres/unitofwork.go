package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// Atomic runs fn as one unit of work (DB.Atomic): account.UnitOfWork, the way to commit a use case that
// spans several store calls together.
func (s *AccountStore) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.db.Atomic(ctx, fn)
}

// LockSends takes the send locks of key and destination until the unit of work ends: transaction
// advisory locks, the key's first (every sender takes them in that order, so two never wait on each
// other). Outside a unit of work a lock would end with its own statement, so that is refused.
func (s *AccountStore) LockSends(ctx context.Context, key, destination string) error {
	tx, ok := ctx.Value(txKey{}).(pgx.Tx)
	if !ok {
		return errors.New("lock sends: not in a unit of work")
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('send ' || $1, 0))`, key); err != nil {
		return unavailable("lock sends", err)
	}
	if destination == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('send to ' || $1, 0))`, destination)
	return unavailable("lock sends", err)
}
