package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/lockout"
)

// usable is account.MaySignIn(state, false) in SQL, over the columns of accounts (aliased t; "" for
// none) with $2 the attempt's time: anyone may try an active account's secret. An expired
// temporary lock or time-limited freeze counts as lifted. TestSignInRuleInSQL holds it to the Go rule.
func usable(t string) string {
	return "(" + t + "state = 'active' OR " + lapsed(t) + ") AND " + notExpired(t)
}

// trusted is account.MaySignIn(state, true) in SQL: the owner's known device may also try through a
// temporary lock (SECURITY.md 5), never through a hard lock.
func trusted(t string) string {
	return "(" + t + "state IN ('active', 'locked_temporarily') OR " + lapsed(t) + ") AND " + notExpired(t)
}

func lapsed(t string) string {
	return "(" + t + "state IN ('locked_temporarily', 'frozen') AND " + t + "locked_until IS NOT NULL AND " + t + "locked_until <= $2)"
}

func notExpired(t string) string {
	return "(" + t + "expires_at IS NULL OR " + t + "expires_at > $2)"
}

func idPtr(id int64) *int64 { return &id }

// Policy loads the stored overrides onto the defaults.
func (s *Lockout) Policy(ctx context.Context) (account.Policy, error) {
	overrides, err := s.policyOverrides(ctx, s.db.conn(ctx))
	if err != nil {
		return account.Policy{}, err
	}
	return account.PolicyFromOverrides(overrides), nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (s *Lockout) policyOverrides(ctx context.Context, q querier) (map[string]string, error) {
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
func (s *Lockout) SetPolicy(ctx context.Context, changes map[string]string, actor string, now time.Time) error {
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
func (s *Lockout) ClientFailureCount(ctx context.Context, client string, since time.Time) (int, error) {
	var n int
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT count(*) FROM client_failures WHERE client = $1 AND last_at > $2`,
		client, since).Scan(&n)
	return n, unavailable("client failures", err)
}

// IsRepeatedPassword looks the HMAC up among the account's recent wrong passwords.
func (s *Lockout) IsRepeatedPassword(ctx context.Context, accountID int64, mac []byte, since time.Time) (bool, error) {
	var found bool
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM failed_passwords
		WHERE account_id = $1 AND mac = $2 AND created_at > $3)`, accountID, mac, since).Scan(&found)
	return found, unavailable("repeated password", err)
}

// DeviceAccount finds a known device by its nonce hash.
func (s *Lockout) DeviceAccount(ctx context.Context, nonceHash []byte) (int64, int64, error) {
	var id, accountID int64
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT id, account_id FROM devices WHERE nonce_hash = $1`, nonceHash).Scan(&id, &accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, account.Errorf(account.ENOTFOUND, "unknown device")
	}
	return id, accountID, unavailable("device", err)
}

// ReserveAttempt counts the attempt in one statement before the secret is checked.
func (s *Lockout) ReserveAttempt(ctx context.Context, at account.Attempt) (account.Reservation, error) {
	var res account.Reservation
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		res = account.Reservation{} // afresh on a retry
		if at.DeviceID != 0 {
			trustedRes, ok, err := reserveOnDevice(ctx, tx, at)
			if err != nil || ok {
				res = trustedRes
				return err
			}
			// The device is locked out itself: it counts like any unknown browser.
		}
		if at.Spray.Key != "" && at.Spray.Client != "" {
			throttled, err := reserveSprayPair(ctx, tx, at.Spray, at.Now)
			if err != nil || throttled {
				res.Throttled = throttled
				return err
			}
			res.Spray = at.Spray
		}
		var previous string
		var before int
		// The count goes up by one (from 1 when a lock lapsed).
		err := tx.QueryRow(ctx, `WITH old AS (SELECT id, state, failed_attempts FROM accounts WHERE id = $1 FOR UPDATE)
			UPDATE accounts a SET
				failed_attempts = CASE WHEN a.state = 'active' THEN a.failed_attempts + 1 ELSE 1 END,
				state = 'active', locked_until = NULL,
				state_reason = CASE WHEN a.state = 'active' THEN a.state_reason ELSE '' END
			FROM old WHERE a.id = old.id AND `+usable("a.")+`
			RETURNING a.failed_attempts, old.state, old.failed_attempts`,
			at.AccountID, at.Now).Scan(&res.Failures, &previous, &before)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // locked, frozen, disabled, expired or pending: not allowed, nothing counted
		} else if err != nil {
			return err
		}
		res.Allowed = res.Failures <= at.Policy.Threshold
		if previous == string(account.StateActive) {
			if lockout.LockedByRule(before, at.Policy.Threshold) {
				// This attempt goes over the threshold: the rules lock the account now, in the
				// reservation's transaction, whatever became of the attempts that reached it.
				res.Locked, err = lockByRule(ctx, tx, lockCause{AccountID: at.AccountID, Username: at.Username, Client: at.Client,
					Failures: before, Policy: at.Policy, Now: at.Now, Notice: at.Notice})
			}
			return err
		}
		// A lock ran out: record when it lifted.
		if _, err := tx.Exec(ctx, `UPDATE locks SET lifted_at = until, lifted_by = 'system', lift_reason = 'expired'
			WHERE account_id = $1 AND lifted_at IS NULL AND until IS NOT NULL AND until <= $2`, at.AccountID, at.Now); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: at.Now, Actor: "system", Action: audit.AccountUnlocked,
			AccountID: idPtr(at.AccountID), Details: audit.Details("method", "expiry", "from", previous)})
	})
	return res, unavailable("reserve attempt", err)
}

// reserveSprayPair reserves the pair for the client's spraying throttle and reports whether the
// client had already failed on as many other accounts within the window as it may
// (account.SprayThrottled). The client's reservations are taken one at a time (a
// transaction-scoped advisory lock on the client), and each reads the count afresh after the lock,
// so a burst at many accounts from one client, in any number of processes, never passes the limit.
func reserveSprayPair(ctx context.Context, tx pgx.Tx, p account.SprayPair, now time.Time) (throttled bool, err error) {
	// The lock, then the count of the others and the pair in one statement, sent together: the
	// count's snapshot is taken once the lock is held. A throttled attempt's account counts as
	// tried too (its transaction is committed): a client that keeps spraying stays throttled.
	var others int
	var b pgx.Batch
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('client_failures:' || $1, 0))`, p.Client)
	b.Queue(`WITH pair AS (
			INSERT INTO client_failures (client, login_key, last_at) VALUES ($1, $2, $4)
			ON CONFLICT (client, login_key) DO UPDATE SET last_at = EXCLUDED.last_at)
		SELECT count(*) FROM client_failures WHERE client = $1 AND login_key <> $2 AND last_at > $3`,
		p.Client, p.Key, now.Add(-account.ClientWindow), now).QueryRow(func(row pgx.Row) error { return row.Scan(&others) })
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return false, err
	}
	return account.SprayThrottled(others), nil
}

// releaseSprayPair takes back a reserved pair: the secret was right, or never checked.
func releaseSprayPair(ctx context.Context, q interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, p account.SprayPair) error {
	if p.Key == "" {
		return nil
	}
	_, err := q.Exec(ctx, releasePair, p.Client, p.Key)
	return err
}

// releasePair deletes a reserved pair ($1 the client, $2 the key).
const releasePair = `DELETE FROM client_failures WHERE client = $1 AND login_key = $2`

// reserveOnDevice counts the attempt on a known device's own allowance; ok is false when the
// device is locked out (or the account's state does not let even a known device try), and the
// attempt must count on the account instead. A device at its threshold with no lockout recorded
// (the failure that reached it was never written) is locked out here by the rules.
func reserveOnDevice(ctx context.Context, tx pgx.Tx, at account.Attempt) (account.Reservation, bool, error) {
	limit := lockout.DeviceThreshold(at.Policy)
	var failures int
	err := tx.QueryRow(ctx, `SELECT failures FROM devices WHERE id = $1 AND locked_until IS NULL FOR UPDATE`, at.DeviceID).Scan(&failures)
	if err == nil && lockout.LockedByRule(failures, limit) {
		// This attempt goes over the device's allowance: lock the device out now (its attempts then
		// count like any browser's), whatever became of the attempts that used it up.
		if _, err := tx.Exec(ctx, `UPDATE devices SET locked_until = $2 WHERE id = $1`, at.DeviceID, at.Now.Add(at.Policy.Duration)); err != nil {
			return account.Reservation{}, false, err
		}
	} else if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return account.Reservation{}, false, err
	}
	err = tx.QueryRow(ctx, `UPDATE devices d SET
			failures = CASE WHEN d.locked_until IS NOT NULL THEN 1 ELSE d.failures + 1 END,
			locked_until = NULL, last_seen_at = $2
		FROM accounts a
		WHERE d.id = $1 AND d.account_id = $3 AND a.id = d.account_id
		  AND (d.locked_until IS NULL OR d.locked_until <= $2)
		  AND `+trusted("a.")+`
		RETURNING d.failures`, at.DeviceID, at.Now, at.AccountID).Scan(&failures)
	if errors.Is(err, pgx.ErrNoRows) {
		return account.Reservation{}, false, nil
	} else if err != nil {
		return account.Reservation{}, false, err
	}
	return account.Reservation{Allowed: failures <= limit, Failures: failures, Trusted: true}, true, nil
}

// RefundAttempt takes back a counted attempt whose secret was never checked.
func (s *Lockout) RefundAttempt(ctx context.Context, accountID int64, r account.Reservation, deviceID int64) error {
	var err error
	if r.Trusted {
		_, err = s.db.conn(ctx).Exec(ctx, `UPDATE devices SET failures = GREATEST(failures - 1, 0) WHERE id = $1`, deviceID)
	} else {
		_, err = s.db.conn(ctx).Exec(ctx, `UPDATE accounts SET failed_attempts = GREATEST(failed_attempts - 1, 0) WHERE id = $1`, accountID)
	}
	if err == nil {
		err = releaseSprayPair(ctx, s.db.conn(ctx), r.Spray)
	}
	return unavailable("refund attempt", err)
}

// RecordFailure applies a wrong secret's consequences in one transaction.
func (s *Lockout) RecordFailure(ctx context.Context, f account.Failure) (lockout.Outcome, error) {
	locked := lockout.NoLock
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		locked = lockout.NoLock // afresh on a retry
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
		// The client's spraying count already holds this account: the reservation put it there
		// (reserveSprayPair) and it stays, as the secret was wrong. A known device's attempt is not
		// spraying. Not touching the pair here also keeps the locks in one order (device, pair,
		// account) with the reservation's.
		if f.DeviceID != 0 {
			// A known device's failure counts on its own allowance; using it up locks the device
			// out (it then counts like any browser), never the account.
			if lockout.DeviceLocked(f.Policy, f.Failures) {
				until := f.Now.Add(f.Policy.Duration)
				tag, err := tx.Exec(ctx, `UPDATE devices SET locked_until = $2 WHERE id = $1 AND locked_until IS NULL`, f.DeviceID, until)
				if err != nil {
					return err
				}
				if tag.RowsAffected() == 1 {
					events = append(events, &audit.Event{At: f.Now, Actor: "system", Action: audit.DeviceLocked,
						AccountID: idPtr(f.AccountID), Username: f.Username, ClientIP: f.Client,
						Details: audit.Details("until", until.UTC().Format(time.RFC3339))})
				}
			}
		} else {
			var err error
			locked, err = lockByRule(ctx, tx, lockCause{AccountID: f.AccountID, Username: f.Username, Client: f.Client,
				Failures: f.Failures, Policy: f.Policy, Now: f.Now, Notice: f.Notice})
			if err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, events...)
	})
	return locked, unavailable("record failure", err)
}

// lockCause is what lockByRule decides on.
type lockCause struct {
	AccountID int64
	Username  string
	Client    string
	Failures  int // the account's consecutive count
	Policy    lockout.Policy
	Now       time.Time
	Notice    account.LockNotice
}

// lockByRule applies the lockout rules inside tx: lockout.AfterFailure on the count and the
// temporary locks of the policy's memory (read in the same transaction), and the lock it decides,
// with its notice and audit event, when the account is still active. It is idempotent: of
// concurrent callers the first locks and the rest find the account no longer active.
func lockByRule(ctx context.Context, tx pgx.Tx, c lockCause) (lockout.Outcome, error) {
	if c.Failures < c.Policy.Threshold {
		return lockout.NoLock, nil
	}
	rows, err := tx.Query(ctx, `SELECT started_at FROM locks
		WHERE account_id = $1 AND kind = 'temporary' AND source = 'automatic' AND started_at > $2`,
		c.AccountID, c.Now.Add(-c.Policy.Memory))
	if err != nil {
		return lockout.NoLock, err
	}
	starts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return lockout.NoLock, err
	}
	d := lockout.AfterFailure(c.Policy, c.Failures, lockout.CountRecent(c.Policy, starts, c.Now), c.Now)
	if d.Outcome == lockout.NoLock {
		return lockout.NoLock, nil
	}
	event, err := applyAutomaticLock(ctx, tx, c, d)
	if err != nil || event == nil {
		return lockout.NoLock, err
	}
	if c.Notice != nil {
		if err := queue(ctx, tx, c.Notice(d)...); err != nil {
			return lockout.NoLock, err
		}
	}
	return d.Outcome, appendAudit(ctx, tx, event)
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

// applyAutomaticLock locks the account as the rules decided. It is a no-op when the account is no
// longer active (a concurrent attempt locked it first).
func applyAutomaticLock(ctx context.Context, tx pgx.Tx, f lockCause, d lockout.Decision) (*audit.Event, error) {
	state, kind := account.StateLockedTemporarily, "temporary"
	var until *time.Time
	if d.Outcome == lockout.LockHard {
		state, kind = account.StateLocked, "hard"
	} else {
		until = &d.Until
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
		if _, _, err := endAccountSessions(ctx, tx, f.AccountID, account.KeptSession{}); err != nil {
			return nil, err
		}
	}
	details := audit.Details("state", string(state), "source", "automatic", "reason", reason, "failures", strconv.Itoa(f.Failures))
	if until != nil {
		details = audit.Details("state", string(state), "source", "automatic", "reason", reason,
			"failures", strconv.Itoa(f.Failures), "until", until.UTC().Format(time.RFC3339))
	}
	return &audit.Event{At: f.Now, Actor: "system", Action: audit.AccountLocked, AccountID: idPtr(f.AccountID),
		Username: f.Username, ClientIP: f.Client, Details: details}, nil
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
func (s *Lockout) RecordSuccess(ctx context.Context, sc account.Success) (bool, error) {
	ok := false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		ok = false
		// Sent together, in this order. A right password is not spraying: the pair goes first, as
		// the reservation takes it before the account's row, so the locks are taken in one order.
		var b pgx.Batch
		if sc.Spray.Key != "" {
			b.Queue(releasePair, sc.Spray.Client, sc.Spray.Key)
		}
		var signedIn int64
		counted := func(tag pgconn.CommandTag) error { signedIn = tag.RowsAffected(); return nil }
		if sc.DeviceID != 0 {
			b.Queue(`UPDATE accounts SET last_sign_in_at = $2,
				failed_attempts = CASE WHEN state = 'active' THEN 0 ELSE failed_attempts END
				WHERE id = $1 AND `+trusted(""), sc.AccountID, sc.Now).Exec(counted)
			b.Queue(`UPDATE devices SET failures = 0, last_seen_at = $2 WHERE id = $1`, sc.DeviceID, sc.Now)
		} else {
			b.Queue(`UPDATE accounts SET last_sign_in_at = $2, failed_attempts = 0
				WHERE id = $1 AND state = 'active' AND `+notExpired(""), sc.AccountID, sc.Now).Exec(counted)
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		event := &audit.Event{At: sc.Now, Actor: "user:" + sc.Username, Action: audit.SignInSucceeded,
			AccountID: idPtr(sc.AccountID), Username: sc.Username, ClientIP: sc.Client,
			Details: audit.Details("method", sc.Method, "device", deviceWord(sc.DeviceID), "user_agent", sc.UserAgent)}
		if signedIn == 0 {
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
func (s *Lockout) RecordRejection(ctx context.Context, r account.Rejection) error {
	return unavailable("record rejection", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if err := countClientFailure(ctx, tx, r.Spray.Client, r.Spray.Key, r.Now); err != nil {
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
func (s *Lockout) PruneClientFailures(ctx context.Context, before time.Time) error {
	_, err := s.db.conn(ctx).Exec(ctx, `DELETE FROM client_failures WHERE last_at < $1`, before)
	if err == nil {
		_, err = s.db.conn(ctx).Exec(ctx, `DELETE FROM failed_passwords WHERE created_at < $1`, before.Add(-account.RepeatedPasswordMemory))
	}
	if err == nil {
		// The ledger's windows are at most account.SendWindow long; a day later nothing reads them.
		_, err = s.db.conn(ctx).Exec(ctx, `DELETE FROM guess_counters WHERE window_start < $1`, before.Add(-24*time.Hour))
	}
	return unavailable("prune", err)
}
