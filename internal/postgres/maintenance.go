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

// NextMaintenance returns the window running now or starting within ahead.
func (s *Maintenance) NextMaintenance(ctx context.Context, now time.Time, ahead time.Duration) (*account.Maintenance, error) {
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
func (s *Maintenance) ScheduleMaintenance(ctx context.Context, m account.Maintenance, actor account.Actor, now time.Time) error {
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
func (s *Maintenance) Maintenances(ctx context.Context, now time.Time) ([]account.Maintenance, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT id, starts_at, ends_at, message_en, message_zh, created_by FROM maintenance_windows
		WHERE cancelled_at IS NULL AND ends_at > $1 ORDER BY starts_at`, now)
	if err != nil {
		return nil, unavailable("maintenances", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[account.Maintenance])
	return out, unavailable("maintenances", err)
}

// CancelMaintenance cancels a window.
func (s *Maintenance) CancelMaintenance(ctx context.Context, id int64, actor account.Actor, now time.Time) error {
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
