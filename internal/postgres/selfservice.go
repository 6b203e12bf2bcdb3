package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// SelfUnlock lifts an automatic lock after the owner verified.
func (s *SelfService) SelfUnlock(ctx context.Context, accountID int64, method, client string, now time.Time, msgs []account.Message) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false // afresh on a retry
		var username, from string
		err := tx.QueryRow(ctx, `WITH old AS (SELECT id, state FROM accounts WHERE id = $1 FOR UPDATE)
			UPDATE accounts a SET state = 'active', locked_until = NULL, state_reason = '', failed_attempts = 0, updated_at = $2
			FROM old WHERE a.id = old.id AND a.state IN ('locked_temporarily', 'locked')
			RETURNING a.username, old.state`, accountID, now).Scan(&username, &from)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		ok = true
		if _, err := tx.Exec(ctx, `UPDATE locks SET lifted_at = $2, lifted_by = 'self-service', lift_reason = $3
			WHERE account_id = $1 AND lifted_at IS NULL AND kind IN ('temporary', 'hard')`, accountID, now, "verified by "+method); err != nil {
			return err
		}
		if err := queue(ctx, tx, msgs...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "user:" + username, Action: audit.AccountUnlocked,
			AccountID: idPtr(accountID), Username: username, ClientIP: client,
			Details: audit.Details("method", method, "from", from, "to", "active", "source", "self-service")})
	})
	return ok, unavailable("self unlock", err)
}

// RecentSignIns reads the account's sign-in attempts from the audit log.
func (s *SelfService) RecentSignIns(ctx context.Context, accountID int64, limit int) ([]account.SignInEvent, error) {
	rows, err := s.db.conn(ctx).Query(ctx, recentSignIns, accountID, audit.SignInSucceeded, audit.SignInFailed, limit)
	if err != nil {
		return nil, unavailable("recent sign-ins", err)
	}
	out, err := collectSignIns(rows)
	return out, unavailable("recent sign-ins", err)
}

// recentSignIns reads an account's ($1) latest $4 sign-ins from the audit log: $2 the action of a
// success, $3 of a failure.
const recentSignIns = `SELECT at, action = $2, client_ip, details FROM audit_events
	WHERE account_id = $1 AND action IN ($2, $3) ORDER BY id DESC LIMIT $4`

func collectSignIns(rows pgx.Rows) ([]account.SignInEvent, error) {
	defer rows.Close()
	var out []account.SignInEvent
	for rows.Next() {
		var e account.SignInEvent
		var details string
		if err := rows.Scan(&e.At, &e.Succeeded, &e.ClientIP, &details); err != nil {
			return nil, err
		}
		e.UserAgent = audit.DetailValue(details, "user_agent")
		out = append(out, e)
	}
	return out, rows.Err()
}

// CurrentLock returns the newest open lock.
func (s *SelfService) CurrentLock(ctx context.Context, accountID int64) (*account.LockInfo, error) {
	l, err := scanCurrentLock(s.db.conn(ctx).QueryRow(ctx, currentLock, accountID))
	return l, unavailable("current lock", err)
}

// currentLock reads the newest open lock of an account ($1).
const currentLock = `SELECT kind, source, user_message, started_at, until FROM locks
	WHERE account_id = $1 AND lifted_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1`

// scanCurrentLock reads currentLock's row: nil when there is no open lock.
func scanCurrentLock(row pgx.Row) (*account.LockInfo, error) {
	var l account.LockInfo
	err := row.Scan(&l.Kind, &l.Source, &l.UserMessage, &l.StartedAt, &l.Until)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// CreateResetToken stores a reset token; older ones stop working.
func (s *SelfService) CreateResetToken(ctx context.Context, l account.ResetLink) error {
	return unavailable("create reset token", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE reset_tokens SET superseded_at = $2 WHERE account_id = $1 AND used_at IS NULL AND superseded_at IS NULL`, l.AccountID, l.Now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reset_tokens (account_id, token_hash, client, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, l.AccountID, l.Hash, l.Actor.Client, l.Now, l.Expires); err != nil {
			return err
		}
		kv := []string{"via", "page"} // offered on the page right after a verified unlock
		if l.Message != nil {
			if err := queue(ctx, tx, *l.Message); err != nil {
				return err
			}
			kv = []string{"via", "email"}
		}
		if l.Reason != "" {
			kv = append(kv, "reason", l.Reason)
		}
		return appendAudit(ctx, tx, &audit.Event{At: l.Now, Actor: l.Actor.Name, Action: audit.ResetRequested,
			AccountID: idPtr(l.AccountID), Username: l.Username, ClientIP: l.Actor.Client, Details: audit.Details(kv...)})
	}))
}

// ResetTokenAccount finds the account of a usable reset token.
func (s *SelfService) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (int64, error) {
	var id int64
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT account_id FROM reset_tokens
		WHERE token_hash = $1 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2`, hash, now).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, account.Errorf(account.ENOTFOUND, "no usable reset token")
	}
	return id, unavailable("reset token", err)
}

// CompleteReset consumes the token and sets the password, all or nothing.
func (s *SelfService) CompleteReset(ctx context.Context, r account.ResetCompletion) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false
		tag, err := tx.Exec(ctx, `UPDATE reset_tokens SET used_at = $3 WHERE token_hash = $1 AND account_id = $2
			AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $3`, r.TokenHash, r.AccountID, r.Now)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		ok = true
		// A directory account's password is set in the directory: none is kept here.
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = CASE WHEN source = 'directory' THEN password_hash ELSE $2 END,
			updated_at = $3 WHERE id = $1`, r.AccountID, r.PasswordHash, r.Now); err != nil {
			return err
		}
		// The old wrong passwords say nothing about the new one; other sessions end.
		if _, err := tx.Exec(ctx, `DELETE FROM failed_passwords WHERE account_id = $1`, r.AccountID); err != nil {
			return err
		}
		if _, _, err := endAccountSessions(ctx, tx, r.AccountID, account.KeptSession{}); err != nil {
			return err
		}
		events := []*audit.Event{{At: r.Now, Actor: "user:" + r.Username, Action: audit.PasswordReset,
			AccountID: idPtr(r.AccountID), Username: r.Username, ClientIP: r.Client, Details: audit.Details("via", "reset_link")}}
		if r.Unlock {
			var from string
			err := tx.QueryRow(ctx, `WITH old AS (SELECT id, state FROM accounts WHERE id = $1 FOR UPDATE)
				UPDATE accounts a SET state = 'active', locked_until = NULL, state_reason = '', failed_attempts = 0, updated_at = $2
				FROM old WHERE a.id = old.id AND a.state IN ('locked_temporarily', 'locked') RETURNING old.state`, r.AccountID, r.Now).Scan(&from)
			if err == nil {
				if err := queue(ctx, tx, r.NotifyUnlocked...); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, `UPDATE locks SET lifted_at = $2, lifted_by = 'self-service', lift_reason = 'password reset'
					WHERE account_id = $1 AND lifted_at IS NULL AND kind IN ('temporary', 'hard')`, r.AccountID, r.Now); err != nil {
					return err
				}
				events = append(events, &audit.Event{At: r.Now, Actor: "user:" + r.Username, Action: audit.AccountUnlocked,
					AccountID: idPtr(r.AccountID), Username: r.Username, ClientIP: r.Client,
					Details: audit.Details("method", "reset", "from", from, "to", "active", "source", "self-service")})
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		if err := queue(ctx, tx, r.Notify...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, events...)
	})
	return ok, unavailable("complete reset", err)
}

// CreateRequest files an unlock request.
func (s *SelfService) CreateRequest(ctx context.Context, r account.UnlockRequest, msgs []account.Message) error {
	return unavailable("create request", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO unlock_requests (reference, account_id, login, contact, message, client, lang, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, r.Reference, r.AccountID, r.Login, r.Contact, r.Message, r.Client, r.Lang, r.CreatedAt); err != nil {
			return err
		}
		if err := queue(ctx, tx, msgs...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: r.CreatedAt, Actor: "anonymous", Action: audit.RequestFiled,
			AccountID: r.AccountID, Username: r.Login, ClientIP: r.Client, Details: audit.Details("reference", r.Reference)})
	}))
}

// RequestStatus reads the request with this reference filed for this login.
func (s *SelfService) RequestStatus(ctx context.Context, reference, login string) (*account.RequestState, error) {
	var r account.RequestState
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT reference, status, created_at, handled_at, response
		FROM unlock_requests WHERE reference = $1 AND lower(login) = lower($2)`, reference, login).
		Scan(&r.Reference, &r.Status, &r.FiledAt, &r.HandledAt, &r.Response)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, account.Errorf(account.ENOTFOUND, "no request %s for that login", reference)
	} else if err != nil {
		return nil, unavailable("request status", err)
	}
	return &r, nil
}
