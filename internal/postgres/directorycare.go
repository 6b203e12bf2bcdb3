package postgres

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

var _ account.DirectoryCareStore = (*Directory)(nil)

// Policy is the policy in force, as the lockout store reads it.
func (s *Directory) Policy(ctx context.Context) (account.Policy, error) {
	return (&Lockout{db: s.db}).Policy(ctx)
}

// NoteDirectoryLock marks the lock that began at lockStart as told and queues msgs, unless it was
// told already: the mark and the messages commit together, so a lock is told once even when a
// sync sees it begin again (a record that drifted, a policy that lengthened a lapsed lock).
func (s *Directory) NoteDirectoryLock(ctx context.Context, id int64, lockStart time.Time, msgs []account.Message) (bool, error) {
	var told bool
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE accounts SET lock_noticed_for = $2
			WHERE id = $1 AND lock_noticed_for IS DISTINCT FROM $2`, id, lockStart)
		if err != nil {
			return err
		}
		if told = tag.RowsAffected() == 1; !told {
			return nil
		}
		return queue(ctx, tx, msgs...)
	})
	return told, unavailable("note directory lock", err)
}

// ExpiringPasswords lists directory accounts whose password expires in (now, before] and whose
// owner was not warned of that expiry, soonest first. Accounts whose owner could not act on a
// warning (frozen, disabled, expired) are left out here already, so that however many there are
// they never crowd out those who can.
func (s *Directory) ExpiringPasswords(ctx context.Context, now, before time.Time, limit int) ([]account.ExpiringPassword, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT `+accountColumns+`, expiry_warned_for FROM accounts
		WHERE source = 'directory' AND password_expires_at > $1 AND password_expires_at <= $2
			AND expiry_warned_for IS DISTINCT FROM password_expires_at
			AND state IN ('active', 'locked_temporarily', 'locked') AND (expires_at IS NULL OR expires_at > $1)
		ORDER BY password_expires_at, id LIMIT $3`, now, before, limit)
	if err != nil {
		return nil, unavailable("expiring passwords", err)
	}
	var out []account.ExpiringPassword
	for rows.Next() {
		var warned *time.Time
		a, err := scanAccount(extraColumns{rows, []any{&warned}})
		if err != nil {
			rows.Close()
			return nil, unavailable("expiring passwords", err)
		}
		out = append(out, account.ExpiringPassword{Account: a, WarnedFor: warned})
	}
	return out, unavailable("expiring passwords", rows.Err())
}

// extraColumns scans the columns after an account's into extra.
type extraColumns struct {
	row   pgx.Row
	extra []any
}

func (e extraColumns) Scan(dest ...any) error { return e.row.Scan(append(dest, e.extra...)...) }

// WarnPasswordExpiry marks the expiry as warned of, queues the warning and audits it, in one
// transaction; false when the account's expiry moved or was warned of meanwhile.
func (s *Directory) WarnPasswordExpiry(ctx context.Context, w account.ExpiryWarning) (bool, error) {
	var warned bool
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE accounts SET expiry_warned_for = password_expires_at
			WHERE id = $1 AND password_expires_at = $2 AND expiry_warned_for IS DISTINCT FROM $2`, w.AccountID, w.ExpiresAt)
		if err != nil {
			return err
		}
		if warned = tag.RowsAffected() == 1; !warned {
			return nil
		}
		if err := queue(ctx, tx, w.Messages...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: w.Now, Actor: w.Actor, Action: audit.PasswordExpiryWarned,
			AccountID: idPtr(w.AccountID), Username: w.Username,
			Details: audit.Details("expires", w.ExpiresAt.UTC().Format(time.RFC3339), "channel", strings.Join(w.Channels, ","))})
	})
	return warned, unavailable("warn of password expiry", err)
}
