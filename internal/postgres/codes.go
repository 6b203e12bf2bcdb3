package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// LockSends takes the send locks of key and destination until the unit of work ends: transaction
// advisory locks, the key's first (every sender takes them in that order, so two never wait on each
// other). Outside a unit of work a lock would end with its own statement, so that is refused.
func (s *Codes) LockSends(ctx context.Context, key, destination string) error {
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

// SendCounts counts codes and reset links sent recently in one requester's pool, for the send
// limits: the codes asked from one known device of the account, or else all the others (reset
// links are never asked from a device's pool).
func (s *Codes) SendCounts(ctx context.Context, accountID, deviceID int64, destination string, since time.Time) (account.SendCounts, error) {
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
func (s *Codes) CreateCode(ctx context.Context, c account.Code, msg account.Message, username string) error {
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
			Details: audit.Details("purpose", string(c.Purpose), "channel", c.Channel, "to", mask(c.Channel, c.Destination),
				"message", msg.Template)})
	}))
}

// mask hides most of a contact for logs and pages: a***@example.com, +86 138****0000.
func mask(channel, to string) string {
	if channel == account.ChannelSMS {
		return account.MaskPhone(to)
	}
	return account.MaskEmail(to)
}

// AttemptCode counts an entry on the newest usable code of the flow (or of no flow) before it is
// compared. An entry in one flow never touches another flow's code.
func (s *Codes) AttemptCode(ctx context.Context, accountID int64, purpose account.Purpose, flowHash []byte, now time.Time) (int64, []byte, string, bool, error) {
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
func (s *Codes) ConsumeCode(ctx context.Context, id int64, now time.Time, username, client string) (bool, error) {
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

// RecordNotSent audits a request for a code or link that sent nothing. It takes the same audited
// write as one that sends, so the two cost the same.
func (s *Codes) RecordNotSent(ctx context.Context, n account.NotSent) error {
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
func (s *Codes) VerifiedChannels(ctx context.Context, accountID int64) ([]string, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT DISTINCT channel FROM codes WHERE account_id = $1 AND purpose = 'verify'
		AND used_at IS NOT NULL`, accountID)
	if err != nil {
		return nil, unavailable("verified channels", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, unavailable("verified channels", err)
}
