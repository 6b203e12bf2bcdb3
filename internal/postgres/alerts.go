package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// alertLockID serialises alert raising across processes.
const alertLockID = 0x616c657274 // "alert"

// AutomaticLocksSince counts automatic locks since then.
func (s *AccountStore) AutomaticLocksSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT count(*) FROM locks WHERE source = 'automatic' AND started_at > $1`, since).Scan(&n)
	return n, unavailable("automatic locks", err)
}

// RaiseAlert records an alert unless one of the kind was raised within quiet.
func (s *AccountStore) RaiseAlert(ctx context.Context, kind string, count int, now time.Time, quiet time.Duration, msgs []account.Message) (bool, error) {
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

// NextMaintenance returns the window running now or starting within ahead.
func (s *AccountStore) NextMaintenance(ctx context.Context, now time.Time, ahead time.Duration) (*account.Maintenance, error) {
	var m account.Maintenance
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT id, starts_at, ends_at, message_en, message_zh, created_by FROM maintenance_windows
		WHERE cancelled_at IS NULL AND ends_at > $1 AND starts_at <= $2 ORDER BY starts_at LIMIT 1`, now, now.Add(ahead)).
		Scan(&m.ID, &m.StartsAt, &m.EndsAt, &m.MessageEN, &m.MessageZH, &m.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("maintenance", err)
	}
	return &m, nil
}

// ScheduleMaintenance stores a window.
func (s *AccountStore) ScheduleMaintenance(ctx context.Context, m account.Maintenance, actor account.Actor, now time.Time) error {
	return unavailable("schedule maintenance", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO maintenance_windows (starts_at, ends_at, message_en, message_zh, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, m.StartsAt, m.EndsAt, m.MessageEN, m.MessageZH, actor.Name, now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.MaintenanceScheduled, ClientIP: actor.Client,
			Details: audit.Details("starts_at", m.StartsAt.UTC().Format(time.RFC3339), "ends_at", m.EndsAt.UTC().Format(time.RFC3339))})
	}))
}

// Maintenances lists windows not yet over.
func (s *AccountStore) Maintenances(ctx context.Context, now time.Time) ([]account.Maintenance, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT id, starts_at, ends_at, message_en, message_zh, created_by FROM maintenance_windows
		WHERE cancelled_at IS NULL AND ends_at > $1 ORDER BY starts_at`, now)
	if err != nil {
		return nil, unavailable("maintenances", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[account.Maintenance])
	return out, unavailable("maintenances", err)
}

// CancelMaintenance cancels a window.
func (s *AccountStore) CancelMaintenance(ctx context.Context, id int64, actor account.Actor, now time.Time) error {
	return unavailable("cancel maintenance", s.db.Transact(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE maintenance_windows SET cancelled_at = $2 WHERE id = $1 AND cancelled_at IS NULL`, id, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return account.Fail(account.ENOTFOUND, "err_maintenance_not_found", nil, "no such maintenance window")
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.MaintenanceCancelled, ClientIP: actor.Client,
			Details: audit.Details("id", strconv.FormatInt(id, 10))})
	}))
}
