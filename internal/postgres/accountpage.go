package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// sessionHandle is the public name of a session on the account page: the first bytes of its
// token's hash, which reveal nothing usable (secret.SessionHandle computes the same).
const sessionHandle = `encode(substring(token_hash from 1 for 8), 'hex')`

// Overview reads what the account page shows in one round trip: every query of it is sent at once.
func (s *AccountPage) Overview(ctx context.Context, accountID int64, q account.OverviewQuery) (*account.AccountOverview, error) {
	var o account.AccountOverview
	var b pgx.Batch
	b.Queue(secondFactors, accountID).QueryRow(func(row pgx.Row) error {
		return row.Scan(&o.Factors.TOTP, &o.Factors.RecoveryLeft)
	})
	if q.History > 0 {
		b.Queue(recentSignIns, accountID, audit.SignInSucceeded, audit.SignInFailed, q.History).Query(func(rows pgx.Rows) (err error) {
			o.History, err = collectSignIns(rows)
			return err
		})
	}
	// The lists, and how many there are in all: a window over the rows the condition selects is
	// counted before LIMIT takes the first.
	b.Queue(`SELECT id, user_agent, created_at, last_seen_at, locked_until IS NOT NULL AND locked_until > $2, count(*) OVER ()
		FROM devices WHERE account_id = $1 ORDER BY last_seen_at DESC, id DESC LIMIT $3`, accountID, q.Now, q.Listed).
		Query(func(rows pgx.Rows) error {
			var d account.Device
			_, err := pgx.ForEachRow(rows, []any{&d.ID, &d.UserAgent, &d.CreatedAt, &d.LastSeenAt, &d.LockedOut, &o.DeviceCount}, func() error {
				o.Devices = append(o.Devices, d)
				return nil
			})
			return err
		})
	b.Queue(`SELECT `+sessionHandle+`, created_at, expiry, count(*) OVER () FROM sessions
		WHERE account_id = $1 AND ended_at IS NULL AND expiry > $2
		ORDER BY `+sessionHandle+` = $4 DESC, created_at DESC LIMIT $3`, accountID, q.Now, q.Listed, q.ThisSession).
		Query(func(rows pgx.Rows) error {
			var x account.Session
			_, err := pgx.ForEachRow(rows, []any{&x.ID, &x.CreatedAt, &x.Expiry, &o.SessionCount}, func() error {
				o.Sessions = append(o.Sessions, x)
				return nil
			})
			return err
		})
	if q.WithLock {
		b.Queue(currentLock, accountID).QueryRow(func(row pgx.Row) (err error) {
			o.Lock, err = scanCurrentLock(row)
			return err
		})
	}
	if err := s.db.conn(ctx).SendBatch(ctx, &b).Close(); err != nil {
		return nil, unavailable("account overview", err)
	}
	return &o, nil
}

// ForgetDevice deletes a known device.
func (s *AccountPage) ForgetDevice(ctx context.Context, accountID, deviceID int64, client string, now time.Time) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false // afresh on a retry
		tag, err := tx.Exec(ctx, `DELETE FROM devices WHERE id = $1 AND account_id = $2`, deviceID, accountID)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		ok = true
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "owner", Action: audit.DeviceForgotten,
			AccountID: idPtr(accountID), ClientIP: client})
	})
	return ok, unavailable("forget device", err)
}

// Sessions lists an account's live sessions.
func (s *AccountPage) Sessions(ctx context.Context, accountID int64, now time.Time) ([]account.Session, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT `+sessionHandle+`, created_at, expiry FROM sessions
		WHERE account_id = $1 AND ended_at IS NULL AND expiry > $2 ORDER BY created_at DESC LIMIT 50`, accountID, now)
	if err != nil {
		return nil, unavailable("sessions", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[account.Session])
	return out, unavailable("sessions", err)
}

// EndSession ends one of an account's sessions by its handle.
func (s *AccountPage) EndSession(ctx context.Context, accountID int64, handle, client string, now time.Time) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false // afresh on a retry
		tag, err := tx.Exec(ctx, endSessions+`account_id = $1 AND `+sessionHandle+` = $2`, accountID, handle)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		ok = true
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "owner", Action: audit.SessionEnded,
			AccountID: idPtr(accountID), ClientIP: client})
	})
	return ok, unavailable("end session", err)
}

// EndOtherSessions ends every session of the account but keep's, and audits how many; it changes
// nothing when keep itself ended meanwhile (account.ErrSessionEnded).
func (s *AccountPage) EndOtherSessions(ctx context.Context, accountID int64, username string, keep account.KeptSession, client string, now time.Time) (int, int64, error) {
	var ended, epoch int64
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		var err error
		if ended, epoch, err = endAccountSessions(ctx, tx, accountID, keep); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "user:" + username, Action: audit.SessionsEnded,
			AccountID: idPtr(accountID), Username: username, ClientIP: client,
			Details: audit.Details("count", strconv.FormatInt(ended, 10), "via", "account_page")})
	})
	return int(ended), epoch, unavailable("end other sessions", err)
}

// ChangePassword sets a new password, ends the other sessions, queues notices and audits. It returns
// the account's new session epoch, which the kept session must take; it changes nothing when keep
// itself ended meanwhile (account.ErrSessionEnded).
func (s *AccountPage) ChangePassword(ctx context.Context, accountID int64, username, hash string, keep account.KeptSession, client string, now time.Time, notify []account.Message) (int64, error) {
	var epoch int64
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		// A directory account's password is set in the directory: none is kept here.
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = CASE WHEN source = 'directory' THEN password_hash ELSE $2 END,
			updated_at = $3 WHERE id = $1`, accountID, hash, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM failed_passwords WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		var err error
		if _, epoch, err = endAccountSessions(ctx, tx, accountID, keep); err != nil {
			return err
		}
		if err := queue(ctx, tx, notify...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "user:" + username, Action: audit.PasswordChanged,
			AccountID: idPtr(accountID), Username: username, ClientIP: client, Details: audit.Details("via", "account_page")})
	})
	return epoch, unavailable("change password", err)
}
