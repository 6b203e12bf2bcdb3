package postgres

import (
	"context"
)

// Atomic runs fn as one unit of work (DB.Atomic): account.UnitOfWork, the way to commit a use case that
// spans several store calls together.
func (s *AccountStore) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.db.Atomic(ctx, fn)
}
