package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// Transition changes an account's state with its lock rows, sessions and audit event, atomically.
func (s *States) Transition(ctx context.Context, t account.Transition) (*account.Account, error) {
	var out *account.Account
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		var current string
		var lockedUntil *time.Time
		err := tx.QueryRow(ctx, `SELECT state, locked_until FROM accounts WHERE id = $1 FOR UPDATE`, t.AccountID).Scan(&current, &lockedUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			return account.Errorf(account.ENOTFOUND, "no account with id %d", t.AccountID)
		} else if err != nil {
			return err
		}
		effective := (&account.Account{State: account.State(current), LockedUntil: lockedUntil}).EffectiveState(t.Now)
		allowed := false
		for _, f := range t.From {
			allowed = allowed || f == account.State(current)
		}
		if !allowed {
			return account.Fail(account.EINVALID, "err_state_action", map[string]any{"State": account.StateName(effective)}, "the account is %s; %s applies only to %s", effective,
				strings.TrimPrefix(t.Action, "account."), joinStates(t.From))
		}
		reason := t.Reason
		if t.To == account.StateActive {
			reason = ""
		}
		out, err = scanAccount(tx.QueryRow(ctx, `UPDATE accounts SET state = $2, state_reason = $3, locked_until = $4,
				failed_attempts = CASE WHEN $2 = 'active' THEN 0 ELSE failed_attempts END, updated_at = $5
			WHERE id = $1 RETURNING `+accountColumns, t.AccountID, string(t.To), reason, t.Until, t.Now))
		if err != nil {
			return err
		}
		if t.LiftLocks {
			if _, err := tx.Exec(ctx, `UPDATE locks SET lifted_at = $2, lifted_by = $3, lift_reason = $4
				WHERE account_id = $1 AND lifted_at IS NULL`, t.AccountID, t.Now, t.Actor, t.Reason); err != nil {
				return err
			}
		}
		if t.LockKind != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO locks (account_id, kind, source, reason, user_message, actor, started_at, until)
				VALUES ($1, $2, 'administrator', $3, $4, $5, $6, $7)`,
				t.AccountID, t.LockKind, t.Reason, t.UserMessage, t.Actor, t.Now, t.Until); err != nil {
				return err
			}
		}
		if t.EndSessions {
			if _, _, err := endAccountSessions(ctx, tx, t.AccountID, account.KeptSession{}); err != nil {
				return err
			}
		}
		if err := queue(ctx, tx, t.Notify...); err != nil {
			return err
		}
		kv := []string{"from", current, "to", string(t.To), "reason", t.Reason}
		if t.Method != "" {
			kv = append(kv, "method", t.Method)
		}
		if t.Until != nil {
			kv = append(kv, "until", t.Until.UTC().Format(time.RFC3339))
		}
		if t.UserMessage != "" {
			kv = append(kv, "user_message", t.UserMessage)
		}
		return appendAudit(ctx, tx, &audit.Event{At: t.Now, Actor: t.Actor, Action: t.Action,
			AccountID: idPtr(t.AccountID), Username: out.Username, ClientIP: t.Client, Details: audit.Details(kv...)})
	})
	if err != nil {
		var ae *account.Error
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, unavailable("transition", err)
	}
	return out, nil
}

func joinStates(states []account.State) string {
	parts := make([]string, len(states))
	for i, s := range states {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}

// LockedSince lists accounts under an automatic lock that started at or after since.
func (s *States) LockedSince(ctx context.Context, since time.Time) ([]int64, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT DISTINCT l.account_id FROM locks l JOIN accounts a ON a.id = l.account_id
		WHERE l.lifted_at IS NULL AND l.kind IN ('temporary', 'hard') AND l.source IN ('automatic', 'directory')
		  AND l.started_at >= $1 AND a.state IN ('locked_temporarily', 'locked')
		ORDER BY l.account_id`, since)
	if err != nil {
		return nil, unavailable("locked since", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return ids, unavailable("locked since", err)
}

// SetRole changes an account's role as account.PlanRoleChange allows against the role it has now.
// The same role again changes nothing.
func (s *States) SetRole(ctx context.Context, accountID int64, role account.Role, reason string, actor account.Actor, now time.Time) (*account.Account, error) {
	var out *account.Account
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1 FOR UPDATE`, accountID))
		if errors.Is(err, pgx.ErrNoRows) {
			return account.Errorf(account.ENOTFOUND, "no account with id %d", accountID)
		} else if err != nil {
			return err
		}
		_, change, err := account.PlanRoleChange(actor, out.ID, out.Username, out.Role, role, reason, now)
		if err != nil || change == nil {
			return err
		}
		out, err = applyRoleChange(ctx, tx, change)
		return err
	})
	if err != nil {
		var ae *account.Error
		if errors.As(err, &ae) {
			return nil, err
		}
		return nil, unavailable("set role", err)
	}
	return out, nil
}

// applyRoleChange is the one way a role changes in the database, inside the transaction of the write
// it belongs to: the role, the end of every session of the account (a privilege change takes a new
// sign-in), and the audit event with who, whom, from, to and why.
func applyRoleChange(ctx context.Context, tx pgx.Tx, c *account.RoleChange) (*account.Account, error) {
	out, err := scanAccount(tx.QueryRow(ctx, `UPDATE accounts SET role = $2, updated_at = $3 WHERE id = $1 RETURNING `+accountColumns,
		c.AccountID, string(c.To), c.Now))
	if err != nil {
		return nil, err
	}
	if _, _, err := endAccountSessions(ctx, tx, c.AccountID, account.KeptSession{}); err != nil {
		return nil, err
	}
	return out, appendAudit(ctx, tx, &audit.Event{At: c.Now, Actor: c.Actor.Name, Action: audit.RoleChanged, AccountID: idPtr(c.AccountID),
		Username: out.Username, ClientIP: c.Actor.Client, Details: audit.Details("from", string(c.From), "to", string(c.To), "reason", c.Reason)})
}

// AccountsWithRole lists accounts of one role.
func (s *States) AccountsWithRole(ctx context.Context, role account.Role) ([]*account.Account, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT `+accountColumns+` FROM accounts WHERE role = $1 ORDER BY lower(username) LIMIT 1000`, string(role))
	if err != nil {
		return nil, unavailable("accounts with role", err)
	}
	defer rows.Close()
	var out []*account.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, unavailable("accounts with role", rows.Err())
}

// SetExpiry sets or clears an account's expiry.
func (s *States) SetExpiry(ctx context.Context, accountID int64, at *time.Time, reason string, actor account.Actor, now time.Time) (*account.Account, error) {
	var out *account.Account
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = scanAccount(tx.QueryRow(ctx, `UPDATE accounts SET expires_at = $2, updated_at = $3,
				state = CASE WHEN state = 'expired' AND ($2::timestamptz IS NULL OR $2 > $3) THEN 'active' ELSE state END
			WHERE id = $1 RETURNING `+accountColumns, accountID, at, now))
		if err != nil {
			return err
		}
		until := ""
		if at != nil {
			until = at.UTC().Format(time.RFC3339)
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.ExpirySet, AccountID: idPtr(accountID),
			Username: out.Username, ClientIP: actor.Client, Details: audit.Details("expires_at", until, "reason", reason)})
	})
	return out, unavailable("set expiry", err)
}
