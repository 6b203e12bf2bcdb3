package postgres

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// queue puts the domain's messages into the outbox inside tx; empty messages are skipped.
func queue(ctx context.Context, tx pgx.Tx, msgs ...account.Message) error {
	// The caller's transaction reports the error: enqueue, not Enqueue, which would wrap it again.
	return enqueue(ctx, tx, slices.DeleteFunc(slices.Clone(msgs), func(m account.Message) bool { return m.To == "" || m.Template == "" }))
}

// SendCounts counts codes and reset links sent recently in one requester's pool, for the send
// limits: the codes asked from one known device of the account, or else all the others (reset
// links are never asked from a device's pool).
func (s *AccountStore) SendCounts(ctx context.Context, accountID, deviceID int64, destination string, since time.Time) (account.SendCounts, error) {
	var c account.SendCounts
	var last, lastDest *time.Time
	// A reset link goes to the account's email address: it counts as sent to that destination too.
	err := s.db.conn(ctx).QueryRow(ctx, `WITH pool AS (
			SELECT created_at, destination FROM codes
			WHERE account_id = $1 AND device_id IS NOT DISTINCT FROM NULLIF($2::bigint, 0)),
		links AS (
			SELECT r.created_at, a.email AS destination FROM reset_tokens r JOIN accounts a ON a.id = r.account_id
			WHERE r.account_id = $1 AND $2 = 0)
		SELECT
		(SELECT max(t) FROM (SELECT max(created_at) AS t FROM pool UNION ALL SELECT max(created_at) FROM links) x),
		(SELECT max(t) FROM (SELECT max(created_at) AS t FROM pool WHERE destination = $3
		                     UNION ALL SELECT max(created_at) FROM links WHERE destination = $3) y),
		(SELECT count(*) FROM pool WHERE created_at > $4) + (SELECT count(*) FROM links WHERE created_at > $4),
		(SELECT count(*) FROM codes WHERE destination = $3 AND created_at > $4
		   AND ($2 = 0 OR device_id IS NOT DISTINCT FROM NULLIF($2::bigint, 0)))
		  + (SELECT count(*) FROM links WHERE destination = $3 AND created_at > $4)`,
		accountID, deviceID, destination, since).Scan(&last, &lastDest, &c.ToAccount, &c.ToDestination)
	if last != nil {
		c.LastToAccount = *last
	}
	if lastDest != nil {
		c.LastToDestination = *lastDest
	}
	return c, unavailable("send counts", err)
}

// CreateCode stores a code, supersedes older ones of the same account, purpose and flow, queues the
// message, audits.
func (s *AccountStore) CreateCode(ctx context.Context, c account.Code, msg account.Message, username string) error {
	var device *int64
	if c.DeviceID != 0 {
		device = &c.DeviceID
	}
	return unavailable("create code", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE codes SET superseded_at = $3
			WHERE account_id = $1 AND purpose = $2 AND flow_hash IS NOT DISTINCT FROM $4
			  AND used_at IS NULL AND superseded_at IS NULL`,
			c.AccountID, string(c.Purpose), c.CreatedAt, c.FlowHash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO codes (account_id, purpose, channel, destination, code_hash, client,
			created_at, expires_at, max_attempts, flow_hash, device_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			c.AccountID, string(c.Purpose), c.Channel, c.Destination, c.Hash, c.Client, c.CreatedAt, c.ExpiresAt, c.MaxAttempts,
			c.FlowHash, device); err != nil {
			return err
		}
		if err := queue(ctx, tx, msg); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: c.CreatedAt, Actor: "anonymous", Action: audit.CodeSent,
			AccountID: idPtr(c.AccountID), Username: username, ClientIP: c.Client,
			Details: audit.Details("purpose", string(c.Purpose), "channel", c.Channel, "to", mask(c.Channel, c.Destination))})
	}))
}

// AttemptCode counts an entry on the newest usable code of the flow (or of no flow) before it is
// compared. An entry in one flow never touches another flow's code.
func (s *AccountStore) AttemptCode(ctx context.Context, accountID int64, purpose account.Purpose, flowHash []byte, now time.Time) (int64, []byte, string, bool, error) {
	var id int64
	var hash []byte
	var channel string
	err := s.db.conn(ctx).QueryRow(ctx, `UPDATE codes SET attempts = attempts + 1
		WHERE id = (SELECT id FROM codes WHERE account_id = $1 AND purpose = $2
		              AND (flow_hash = $4 OR flow_hash IS NULL) AND used_at IS NULL
		              AND superseded_at IS NULL AND expires_at > $3 ORDER BY created_at DESC, id DESC LIMIT 1)
		  AND attempts < max_attempts
		RETURNING id, code_hash, channel`, accountID, string(purpose), now, flowHash).Scan(&id, &hash, &channel)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, "", false, nil
	}
	if err != nil {
		return 0, nil, "", false, unavailable("attempt code", err)
	}
	return id, hash, channel, true, nil
}

// ConsumeCode uses a code once: of concurrent entries of the right code, exactly one wins.
func (s *AccountStore) ConsumeCode(ctx context.Context, id int64, now time.Time, username, client string) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false // afresh on a retry
		var accountID int64
		var purpose, channel string
		err := tx.QueryRow(ctx, `UPDATE codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL
			RETURNING account_id, purpose, channel`, id, now).Scan(&accountID, &purpose, &channel)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		ok = true
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "user:" + username, Action: audit.CodeUsed,
			AccountID: idPtr(accountID), Username: username, ClientIP: client,
			Details: audit.Details("purpose", purpose, "channel", channel)})
	})
	return ok, unavailable("consume code", err)
}

// SelfUnlock lifts an automatic lock after the owner verified.
func (s *AccountStore) SelfUnlock(ctx context.Context, accountID int64, method, client string, now time.Time, msgs []account.Message) (bool, error) {
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
func (s *AccountStore) RecentSignIns(ctx context.Context, accountID int64, limit int) ([]account.SignInEvent, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT at, action = $2, client_ip, details FROM audit_events
		WHERE account_id = $1 AND action IN ($2, $3) ORDER BY id DESC LIMIT $4`,
		accountID, audit.SignInSucceeded, audit.SignInFailed, limit)
	if err != nil {
		return nil, unavailable("recent sign-ins", err)
	}
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
	return out, unavailable("recent sign-ins", rows.Err())
}

// CurrentLock returns the newest open lock.
func (s *AccountStore) CurrentLock(ctx context.Context, accountID int64) (*account.LockInfo, error) {
	var l account.LockInfo
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT kind, source, user_message, started_at, until FROM locks
		WHERE account_id = $1 AND lifted_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1`, accountID).
		Scan(&l.Kind, &l.Source, &l.UserMessage, &l.StartedAt, &l.Until)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable("current lock", err)
	}
	return &l, nil
}

// CreateResetToken stores a reset token; older ones stop working.
func (s *AccountStore) CreateResetToken(ctx context.Context, l account.ResetLink) error {
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
func (s *AccountStore) ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (int64, error) {
	var id int64
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT account_id FROM reset_tokens
		WHERE token_hash = $1 AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $2`, hash, now).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, account.Errorf(account.ENOTFOUND, "no usable reset token")
	}
	return id, unavailable("reset token", err)
}

// CompleteReset consumes the token and sets the password, all or nothing.
func (s *AccountStore) CompleteReset(ctx context.Context, r account.ResetCompletion) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false
		tag, err := tx.Exec(ctx, `UPDATE reset_tokens SET used_at = $3 WHERE token_hash = $1 AND account_id = $2
			AND used_at IS NULL AND superseded_at IS NULL AND expires_at > $3`, r.TokenHash, r.AccountID, r.Now)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		ok = true
		if _, err := tx.Exec(ctx, `UPDATE accounts SET password_hash = $2, updated_at = $3 WHERE id = $1`, r.AccountID, r.PasswordHash, r.Now); err != nil {
			return err
		}
		// The old wrong passwords say nothing about the new one; other sessions end.
		if _, err := tx.Exec(ctx, `DELETE FROM failed_passwords WHERE account_id = $1`, r.AccountID); err != nil {
			return err
		}
		if _, err := endAccountSessions(ctx, tx, r.AccountID, ""); err != nil {
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
func (s *AccountStore) CreateRequest(ctx context.Context, r account.UnlockRequest, msgs []account.Message) error {
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

// mask hides most of a contact for logs and pages: a***@example.com, +86 138****0000.
func mask(channel, to string) string {
	if channel == account.ChannelSMS {
		return account.MaskPhone(to)
	}
	return account.MaskEmail(to)
}

// RecordNotSent audits a request for a code or link that sent nothing. It takes the same audited
// write as one that sends, so the two cost the same.
func (s *AccountStore) RecordNotSent(ctx context.Context, n account.NotSent) error {
	var accountID *int64
	if n.AccountID != 0 {
		accountID = idPtr(n.AccountID)
	}
	return unavailable("record not sent", s.db.Transact(ctx, func(tx pgx.Tx) error {
		return appendAudit(ctx, tx, &audit.Event{At: n.Now, Actor: "anonymous", Action: audit.CodeNotSent,
			AccountID: accountID, Username: n.Login, ClientIP: n.Client,
			Details: audit.Details("purpose", string(n.Purpose), "channel", n.Channel, "reason", n.Reason)})
	}))
}

// VerifiedChannels lists the channels of the account's used verification codes.
func (s *AccountStore) VerifiedChannels(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT DISTINCT channel FROM codes WHERE account_id = $1 AND purpose = 'verify'
		AND used_at IS NOT NULL`, accountID)
	if err != nil {
		return nil, unavailable("verified channels", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, unavailable("verified channels", err)
}
