package account

import (
	"context"
	"sync/atomic"
)

// A unit of work may run again (Transact's retries: a serialization failure, a database lost
// before COMMIT was sent). What it wrote in the database is rolled back first; what it sent
// elsewhere is not: a directory that took a new password refuses the same one again as history, a
// lock already lifted is not lifted again and its record would be dropped. So a write sent outside
// the database marks the unit, and a marked unit is not run again: it fails, and the database,
// which lost its record, is the error's cause.

type outsideWritesKey struct{}

// outsideWrites is the mark of the unit of work of ctx, nil outside one.
func outsideWrites(ctx context.Context) *atomic.Bool {
	sent, _ := ctx.Value(outsideWritesKey{}).(*atomic.Bool)
	return sent
}

// WithOutsideWrites gives a unit of work's context the mark of writes sent outside the database.
func WithOutsideWrites(ctx context.Context) context.Context {
	if inUnitOfWork(ctx) {
		return ctx
	}
	return context.WithValue(ctx, outsideWritesKey{}, new(atomic.Bool))
}

// inUnitOfWork reports whether ctx is a unit of work's (one WithOutsideWrites gave).
func inUnitOfWork(ctx context.Context) bool { return outsideWrites(ctx) != nil }

// WroteOutside reports whether the unit of work of ctx has sent a write outside the database.
func WroteOutside(ctx context.Context) bool {
	sent := outsideWrites(ctx)
	return sent != nil && sent.Load()
}

// NoteOutsideWrite marks the unit of work of ctx, if any, before a write goes outside the
// database (the directory operations call it): even a write that then fails may have been taken.
func NoteOutsideWrite(ctx context.Context) {
	if sent := outsideWrites(ctx); sent != nil {
		sent.Store(true)
	}
}
