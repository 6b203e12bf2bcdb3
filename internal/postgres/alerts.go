package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// alertLockID serialises alert raising across processes.
const alertLockID = 0x616c657274 // "alert"

// AutomaticLocksSince counts automatic locks since then.
func (s *Alerts) AutomaticLocksSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT count(*) FROM locks WHERE source = 'automatic' AND started_at > $1`, since).Scan(&n)
	return n, unavailable("automatic locks", err)
}

// RaiseAlert records an alert unless one of the kind was raised within quiet.
func (s *Alerts) RaiseAlert(ctx context.Context, kind string, count int, now time.Time, quiet time.Duration, msgs []account.Message) (bool, error) {
	raised := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		raised = false
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(alertLockID)); err != nil {
			return err
		}
		var recent bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alerts WHERE kind = $1 AND raised_at > $2)`, kind, now.Add(-quiet)).Scan(&recent); err != nil {
			return err
		}
		if recent {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO alerts (kind, raised_at, count) VALUES ($1, $2, $3)`, kind, now, count); err != nil {
			return err
		}
		raised = true
		if err := queue(ctx, tx, msgs...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "system", Action: audit.AlertRaised,
			Details: audit.Details("kind", kind, "count", strconv.Itoa(count))})
	})
	return raised, unavailable("raise alert", err)
}
