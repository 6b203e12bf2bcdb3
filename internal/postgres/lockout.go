package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/lockout"
)

// usable is the SQL condition under which anyone may try an account's password, over the columns
// of accounts (aliased t; "" for none) with $2 the attempt's time. An expired temporary lock or
// time-limited freeze counts as lifted.
func usable(t string) string {
	return "(" + t + "state = 'active' OR " + lapsed(t) + ") AND " + notExpired(t)
}

// trusted is the condition under which the owner's known device may try the password despite an
// automatic lock (SECURITY.md 5).
func trusted(t string) string {
	return "(" + t + "state IN ('active', 'locked_temporarily', 'locked') OR " + lapsed(t) + ") AND " + notExpired(t)
}

func lapsed(t string) string {
	return "(" + t + "state IN ('locked_temporarily', 'frozen') AND " + t + "locked_until IS NOT NULL AND " + t + "locked_until <= $2)"
}

func notExpired(t string) string {
	return "(" + t + "expires_at IS NULL OR " + t + "expires_at > $2)"
}

func idPtr(id int64) *int64 { return &id }

// Policy loads the stored overrides onto the defaults.
func (s *AccountStore) Policy(ctx context.Context) (account.Policy, error) {
	overrides, err := s.policyOverrides(ctx, s.db.Pool)
	if err != nil {
		return account.Policy{}, err
	}
	return account.PolicyFromOverrides(overrides), nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (s *AccountStore) policyOverrides(ctx context.Context, q querier) (map[string]string, error) {
	rows, err := q.Query(ctx, `SELECT key, value FROM policy`)
	if err != nil {
		return nil, unavailable("policy", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, err
		}
		out[k] = v
	}
	return out, unavailable("policy", rows.Err())
}

// SetPolicy stores changes and audits each, with its old and new value.
func (s *AccountStore) SetPolicy(ctx context.Context, changes map[string]string, actor string, now time.Time) error {
	return unavailable("set policy", s.db.Transact(ctx, func(tx pgx.Tx) error {
		old, err := s.policyOverrides(ctx, tx)
		if err != nil {
			return err
		}
		before := account.PolicyFromOverrides(old).Values()
		var events []*audit.Event
		for _, k := range account.PolicyKeys() {
			v, ok := changes[k]
			if !ok || before[k] == v {
				continue
			}
			if _, err := tx.Exec(ctx, `INSERT INTO policy (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at,
				updated_by = EXCLUDED.updated_by`, k, v, now, actor); err != nil {
				return err
			}
			events = append(events, &audit.Event{At: now, Actor: actor, Action: audit.PolicyChanged,
				Details: audit.Details("key", k, "old", before[k], "new", v)})
		}
		return appendAudit(ctx, tx, events...)
	}))
}

// ClientFailureCount counts the accounts a client failed on since then.
func (s *AccountStore) ClientFailureCount(ctx context.Context, client string, since time.Time) (int, error) {
	var n int
	err := s.db.Pool.QueryRow(ctx, `SELECT count(*) FROM client_failures WHERE client = $1 AND last_at > $2`,
		client, since).Scan(&n)
	return n, unavailable("client failures", err)
}

// IsRepeatedPassword looks the HMAC up among the account's recent wrong passwords.
func (s *AccountStore) IsRepeatedPassword(ctx context.Context, accountID int64, mac []byte, since time.Time) (bool, error) {
	var found bool
	err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM failed_passwords
		WHERE account_id = $1 AND mac = $2 AND created_at > $3)`, accountID, mac, since).Scan(&found)
	return found, unavailable("repeated password", err)
}

// DeviceAccount finds a known device by its nonce hash.
func (s *AccountStore) DeviceAccount(ctx context.Context, nonceHash []byte) (int64, int64, error) {
	var id, accountID int64
	err := s.db.Pool.QueryRow(ctx, `SELECT id, account_id FROM devices WHERE nonce_hash = $1`, nonceHash).Scan(&id, &accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, account.Errorf(account.ENOTFOUND, "unknown device")
	}
	return id, accountID, unavailable("device", err)
}

// ReserveAttempt counts the attempt in one statement before the password is checked.
func (s *AccountStore) ReserveAttempt(ctx context.Context, accountID, deviceID int64, p account.Policy, now time.Time) (account.Reservation, error) {
	if deviceID != 0 {
		var failures int
		err := s.db.Pool.QueryRow(ctx, `UPDATE devices d SET
				failures = CASE WHEN d.locked_until IS NOT NULL THEN 1 ELSE d.failures + 1 END,
				locked_until = NULL, last_seen_at = $2
			FROM accounts a
			WHERE d.id = $1 AND d.account_id = $3 AND a.id = d.account_id
			  AND (d.locked_until IS NULL OR d.locked_until <= $2)
			  AND `+trusted("a.")+`
			RETURNING d.failures`, deviceID, now, accountID).Scan(&failures)
		if err == nil {
			return account.Reservation{Allowed: failures <= lockout.DeviceThreshold(p.Lockout), Failures: failures, Trusted: true}, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return account.Reservation{}, unavailable("reserve attempt", err)
		}
		// The device is locked out itself: it counts like any unknown browser.
	}
	var res account.Reservation
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		var previous string
		err := tx.QueryRow(ctx, `WITH old AS (SELECT id, state FROM accounts WHERE id = $1 FOR UPDATE)
			UPDATE accounts a SET
				failed_attempts = CASE WHEN a.state = 'active' THEN a.failed_attempts + 1 ELSE 1 END,
				state = 'active', locked_until = NULL,
				state_reason = CASE WHEN a.state = 'active' THEN a.state_reason ELSE '' END
			FROM old WHERE a.id = old.id AND `+usable("a.")+`
			RETURNING a.failed_attempts, old.state`, accountID, now).Scan(&res.Failures, &previous)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // locked, frozen, disabled, expired or pending: not allowed, nothing counted
		} else if err != nil {
			return err
		}
		res.Allowed = res.Failures <= p.Lockout.Threshold
		if previous == string(account.StateActive) {
			return nil
		}
		// A lock ran out: record when it lifted.
		if _, err := tx.Exec(ctx, `UPDATE locks SET lifted_at = until, lifted_by = 'system', lift_reason = 'expired'
			WHERE account_id = $1 AND lifted_at IS NULL AND until IS NOT NULL AND until <= $2`, accountID, now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "system", Action: audit.AccountUnlocked,
			AccountID: idPtr(accountID), Details: audit.Details("method", "expiry", "from", previous)})
	})
	return res, unavailable("reserve attempt", err)
}

// RefundAttempt takes back a counted attempt whose password was never checked.
func (s *AccountStore) RefundAttempt(ctx context.Context, accountID int64, r account.Reservation, deviceID int64) error {
	var err error
	if r.Trusted {
		_, err = s.db.Pool.Exec(ctx, `UPDATE devices SET failures = GREATEST(failures - 1, 0) WHERE id = $1`, deviceID)
	} else {
		_, err = s.db.Pool.Exec(ctx, `UPDATE accounts SET failed_attempts = GREATEST(failed_attempts - 1, 0) WHERE id = $1`, accountID)
	}
	return unavailable("refund attempt", err)
}

// RecentTemporaryLocks lists the start times of recent automatic temporary locks.
func (s *AccountStore) RecentTemporaryLocks(ctx context.Context, accountID int64, since time.Time) ([]time.Time, error) {
	rows, err := s.db.Pool.Query(ctx, `SELECT started_at FROM locks
		WHERE account_id = $1 AND kind = 'temporary' AND source = 'automatic' AND started_at > $2`, accountID, since)
	if err != nil {
		return nil, unavailable("recent locks", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[time.Time])
}

// RecordFailure applies a wrong password's consequences in one transaction.
func (s *AccountStore) RecordFailure(ctx context.Context, f account.Failure) error {
	return unavailable("record failure", s.db.Transact(ctx, func(tx pgx.Tx) error {
		events := []*audit.Event{{At: f.Now, Actor: "anonymous", Action: audit.SignInFailed, AccountID: idPtr(f.AccountID),
			Username: f.Username, ClientIP: f.Client,
			Details: audit.Details("reason", "wrong_"+methodWord(f.Method), "failures", strconv.Itoa(f.Failures),
				"device", deviceWord(f.DeviceID), "user_agent", f.UserAgent)}}
		if f.PasswordMAC != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO failed_passwords (account_id, mac, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (account_id, mac) DO UPDATE SET created_at = EXCLUDED.created_at`, f.AccountID, f.PasswordMAC, f.Now); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM failed_passwords WHERE account_id = $1 AND mac NOT IN
				(SELECT mac FROM failed_passwords WHERE account_id = $1 ORDER BY created_at DESC LIMIT $2)`,
				f.AccountID, account.RepeatedPasswordKeep); err != nil {
				return err
			}
		}
		if err := countClientFailure(ctx, tx, f.Client, "account:"+strconv.FormatInt(f.AccountID, 10), f.Now); err != nil {
			return err
		}
		if f.DeviceUntil != nil {
			if _, err := tx.Exec(ctx, `UPDATE devices SET locked_until = $2 WHERE id = $1`, f.DeviceID, *f.DeviceUntil); err != nil {
				return err
			}
			events = append(events, &audit.Event{At: f.Now, Actor: "system", Action: audit.DeviceLocked,
				AccountID: idPtr(f.AccountID), Username: f.Username, ClientIP: f.Client,
				Details: audit.Details("until", f.DeviceUntil.UTC().Format(time.RFC3339))})
		}
		switch f.Lock.Outcome {
		case lockout.LockTemporarily, lockout.LockHard:
			locked, err := applyAutomaticLock(ctx, tx, f)
			if err != nil {
				return err
			}
			if locked != nil {
				events = append(events, locked)
				if err := queue(ctx, tx, f.Notify...); err != nil {
					return err
				}
			}
		}
		return appendAudit(ctx, tx, events...)
	}))
}

// methodWord names what was wrong in a failed attempt: the password, or a code.
func methodWord(method string) string {
	if method == "" {
		return "password"
	}
	return method
}

func deviceWord(id int64) string {
	if id != 0 {
		return "known"
	}
	return "unknown"
}

// applyAutomaticLock locks the account after the failure that reached the threshold. It is a no-op
// when the account is no longer active (a concurrent attempt locked it first).
func applyAutomaticLock(ctx context.Context, tx pgx.Tx, f account.Failure) (*audit.Event, error) {
	state, kind := account.StateLockedTemporarily, "temporary"
	var until *time.Time
	if f.Lock.Outcome == lockout.LockHard {
		state, kind = account.StateLocked, "hard"
	} else {
		until = &f.Lock.Until
	}
	const reason = "too many failed sign-ins"
	tag, err := tx.Exec(ctx, `UPDATE accounts SET state = $2, locked_until = $3, state_reason = $4, updated_at = $5
		WHERE id = $1 AND state = 'active'`, f.AccountID, string(state), until, reason, f.Now)
	if err != nil || tag.RowsAffected() == 0 {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO locks (account_id, kind, source, reason, started_at, until)
		VALUES ($1, $2, 'automatic', $3, $4, $5)`, f.AccountID, kind, reason, f.Now, until); err != nil {
		return nil, err
	}
	if state == account.StateLocked {
		// SECURITY.md 4: a lock to `locked` ends the account's sessions.
		if _, err := endAccountSessions(ctx, tx, f.AccountID, ""); err != nil {
			return nil, err
		}
	}
	d := audit.Details("state", string(state), "source", "automatic", "reason", reason, "failures", strconv.Itoa(f.Failures))
	if until != nil {
		d = audit.Details("state", string(state), "source", "automatic", "reason", reason,
			"failures", strconv.Itoa(f.Failures), "until", until.UTC().Format(time.RFC3339))
	}
	return &audit.Event{At: f.Now, Actor: "system", Action: audit.AccountLocked, AccountID: idPtr(f.AccountID),
		Username: f.Username, ClientIP: f.Client, Details: d}, nil
}

func countClientFailure(ctx context.Context, tx pgx.Tx, client, key string, now time.Time) error {
	if client == "" || key == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO client_failures (client, login_key, last_at) VALUES ($1, $2, $3)
		ON CONFLICT (client, login_key) DO UPDATE SET last_at = EXCLUDED.last_at`, client, key, now)
	return err
}

// RecordSuccess resets the counters unless the account was locked meanwhile.
func (s *AccountStore) RecordSuccess(ctx context.Context, sc account.Success) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false
		var tag interface{ RowsAffected() int64 }
		var err error
		if sc.DeviceID != 0 {
			tag, err = tx.Exec(ctx, `UPDATE accounts SET last_sign_in_at = $2,
				failed_attempts = CASE WHEN state = 'active' THEN 0 ELSE failed_attempts END
				WHERE id = $1 AND `+trusted(""), sc.AccountID, sc.Now)
			if err == nil {
				_, err = tx.Exec(ctx, `UPDATE devices SET failures = 0, last_seen_at = $2 WHERE id = $1`, sc.DeviceID, sc.Now)
			}
		} else {
			tag, err = tx.Exec(ctx, `UPDATE accounts SET last_sign_in_at = $2, failed_attempts = 0
				WHERE id = $1 AND state = 'active' AND `+notExpired(""), sc.AccountID, sc.Now)
		}
		if err != nil {
			return err
		}
		event := &audit.Event{At: sc.Now, Actor: "user:" + sc.Username, Action: audit.SignInSucceeded,
			AccountID: idPtr(sc.AccountID), Username: sc.Username, ClientIP: sc.Client,
			Details: audit.Details("method", sc.Method, "device", deviceWord(sc.DeviceID), "user_agent", sc.UserAgent)}
		if tag.RowsAffected() == 0 {
			event.Actor, event.Action = "anonymous", audit.SignInFailed
			event.Details = audit.Details("reason", "locked", "method", sc.Method, "user_agent", sc.UserAgent)
			return appendAudit(ctx, tx, event)
		}
		ok = true
		if sc.NewDeviceHash != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO devices (account_id, nonce_hash, user_agent, created_at, last_seen_at)
				VALUES ($1, $2, $3, $4, $4)`, sc.AccountID, sc.NewDeviceHash, sc.UserAgent, sc.Now); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, event)
	})
	return ok, unavailable("record success", err)
}

// RecordRejection audits a refused attempt and counts it for the client's spraying throttle.
func (s *AccountStore) RecordRejection(ctx context.Context, r account.Rejection) error {
	return unavailable("record rejection", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if err := countClientFailure(ctx, tx, r.Client, r.ClientKey, r.Now); err != nil {
			return err
		}
		action := audit.SignInFailed
		if r.Throttled {
			action = audit.SignInThrottled
		}
		return appendAudit(ctx, tx, &audit.Event{At: r.Now, Actor: "anonymous", Action: action, AccountID: r.AccountID,
			Username: r.Username, ClientIP: r.Client, Details: audit.Details("reason", r.Reason, "user_agent", r.UserAgent)})
	}))
}

// PruneClientFailures forgets client failures older than the throttle window; run it now and then.
func (s *AccountStore) PruneClientFailures(ctx context.Context, before time.Time) error {
	_, err := s.db.Pool.Exec(ctx, `DELETE FROM client_failures WHERE last_at < $1`, before)
	if err == nil {
		_, err = s.db.Pool.Exec(ctx, `DELETE FROM failed_passwords WHERE created_at < $1`, before.Add(-account.RepeatedPasswordMemory))
	}
	return unavailable("prune", err)
}
