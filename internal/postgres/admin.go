package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// Overview counts for the dashboard, and the hourly lock and unlock chart of the last 7 days.
func (s *Admin) Overview(ctx context.Context, now time.Time) (*account.Overview, error) {
	o := &account.Overview{}
	day := now.Add(-24 * time.Hour)
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT
		(SELECT count(*) FROM accounts WHERE (state = 'locked_temporarily' AND locked_until > $1) OR state = 'locked'),
		(SELECT count(*) FROM audit_events WHERE action = $3 AND at > $2),
		(SELECT count(*) FROM audit_events WHERE action = $4 AND at > $2 AND details LIKE '%"source":"self-service"%'),
		(SELECT count(*) FROM unlock_requests WHERE status = 'open')`,
		now, day, audit.AccountLocked, audit.AccountUnlocked).Scan(&o.LockedNow, &o.Locks24h, &o.SelfUnlocks24h, &o.OpenRequests)
	if err != nil {
		return nil, unavailable("overview", err)
	}
	start := now.Truncate(time.Hour).Add(-7*24*time.Hour + time.Hour)
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT date_trunc('hour', at), count(*) FILTER (WHERE action = $2), count(*) FILTER (WHERE action = $3)
		FROM audit_events WHERE action IN ($2, $3) AND at >= $1 GROUP BY 1`, start, audit.AccountLocked, audit.AccountUnlocked)
	if err != nil {
		return nil, unavailable("overview chart", err)
	}
	counts := map[int64][2]int{}
	for rows.Next() {
		var h time.Time
		var l, u int
		if err := rows.Scan(&h, &l, &u); err != nil {
			rows.Close()
			return nil, err
		}
		counts[h.Unix()] = [2]int{l, u}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable("overview chart", err)
	}
	for h := start; !h.After(now); h = h.Add(time.Hour) {
		c := counts[h.Unix()]
		o.Hours = append(o.Hours, account.HourCount{Hour: h, Locks: c[0], Unlocks: c[1]})
	}
	return o, nil
}

const requestColumns = `r.id, r.reference, r.account_id, r.login, r.contact, r.message, r.created_at, r.status, r.handled_by,
	r.response, COALESCE(a.state, '')`

func scanRequest(row pgx.Row) (*account.Request, error) {
	var r account.Request
	var state string
	if err := row.Scan(&r.ID, &r.Reference, &r.AccountID, &r.Login, &r.Contact, &r.Message, &r.CreatedAt, &r.Status,
		&r.HandledBy, &r.Response, &state); err != nil {
		return nil, err
	}
	r.State = account.State(state)
	return &r, nil
}

// Requests lists unlock requests, open ones oldest first, else newest first.
func (s *Admin) Requests(ctx context.Context, status string, limit int) ([]account.Request, error) {
	sql := `SELECT ` + requestColumns + ` FROM unlock_requests r LEFT JOIN accounts a ON a.id = r.account_id`
	switch status {
	case "open":
		sql += ` WHERE r.status = 'open' ORDER BY r.created_at`
	case "closed":
		sql += ` WHERE r.status <> 'open' ORDER BY r.created_at DESC`
	default:
		sql += ` ORDER BY r.created_at DESC`
	}
	rows, err := s.db.conn(ctx).Query(ctx, sql+fmt.Sprintf(" LIMIT %d", limit))
	if err != nil {
		return nil, unavailable("requests", err)
	}
	defer rows.Close()
	var out []account.Request
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, unavailable("requests", rows.Err())
}

// Request loads one request.
func (s *Admin) Request(ctx context.Context, id int64) (*account.Request, error) {
	r, err := scanRequest(s.db.conn(ctx).QueryRow(ctx, `SELECT `+requestColumns+` FROM unlock_requests r
		LEFT JOIN accounts a ON a.id = r.account_id WHERE r.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, account.Errorf(account.ENOTFOUND, "no request %d", id)
	}
	return r, unavailable("request", err)
}

// CloseRequest marks a request handled once.
func (s *Admin) CloseRequest(ctx context.Context, id int64, status, response string, actor account.Actor, now time.Time, msgs []account.Message) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false // afresh on a retry
		var ref string
		var accountID *int64
		err := tx.QueryRow(ctx, `UPDATE unlock_requests SET status = $2, response = $3, handled_by = $4, handled_at = $5
			WHERE id = $1 AND status = 'open' RETURNING reference, account_id`, id, status, response, actor.Name, now).Scan(&ref, &accountID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		ok = true
		if err := queue(ctx, tx, msgs...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.RequestHandled, AccountID: accountID,
			ClientIP: actor.Client, Details: audit.Details("reference", ref, "outcome", status, "response", response)})
	})
	return ok, unavailable("close request", err)
}

// ResetSecondFactors removes an account's authenticator and recovery codes.
func (s *Admin) ResetSecondFactors(ctx context.Context, accountID int64, username string, actor account.Actor, reason string, now time.Time, msgs []account.Message) error {
	return unavailable("reset second factors", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM totp_secrets WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		if err := queue(ctx, tx, msgs...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.FactorsReset, AccountID: idPtr(accountID),
			Username: username, ClientIP: actor.Client, Details: audit.Details("reason", reason)})
	}))
}

// EndAllSessions ends every session of an account.
func (s *Admin) EndAllSessions(ctx context.Context, accountID int64, username string, actor account.Actor, reason string, now time.Time) (int, error) {
	n := 0
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ended, _, err := endAccountSessions(ctx, tx, accountID, account.KeptSession{})
		if err != nil {
			return err
		}
		n = int(ended)
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.SessionsEnded, AccountID: idPtr(accountID),
			Username: username, ClientIP: actor.Client, Details: audit.Details("reason", reason, "count", strconv.Itoa(n))})
	})
	return n, unavailable("end sessions", err)
}

// RecordRefused audits a refused staff action.
func (s *Admin) RecordRefused(ctx context.Context, actor account.Actor, action, target string, now time.Time) error {
	return unavailable("record refused", s.db.Transact(ctx, func(tx pgx.Tx) error {
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.ActionRefused, ClientIP: actor.Client,
			Details: audit.Details("action", action, "target", target)})
	}))
}

// LockHistory lists an account's locks, newest first.
func (s *Admin) LockHistory(ctx context.Context, accountID int64, limit int) ([]account.LockRecord, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT kind, source, reason, user_message, actor, started_at, until, lifted_at, lifted_by, lift_reason
		FROM locks WHERE account_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2`, accountID, limit)
	if err != nil {
		return nil, unavailable("locks", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[account.LockRecord])
	return out, unavailable("locks", err)
}
