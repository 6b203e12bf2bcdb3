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

// directorySyncLockID is the session advisory lock a directory sync holds, so that of several
// processes only one syncs at a time.
const directorySyncLockID = 0x6469725f73796e63 // "dir_sync"

// AccountForSync finds the account named username, whatever its letter case; inside a unit of work
// the row is locked until the unit ends.
func (s *Directory) AccountForSync(ctx context.Context, username string) (*account.Account, error) {
	q := `SELECT ` + accountColumns + ` FROM accounts WHERE lower(username) = lower($1)`
	if _, inUnit := ctx.Value(txKey{}).(pgx.Tx); inUnit {
		q += ` FOR UPDATE`
	}
	a, err := scanAccount(s.db.conn(ctx).QueryRow(ctx, q, username))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, account.Errorf(account.ENOTFOUND, "no account %q", username)
	}
	return a, unavailable("account for sync", err)
}

// SaveDirectoryAccount creates or updates a directory account, with its lock rows and a
// directory.synced audit event, in one transaction.
func (s *Directory) SaveDirectoryAccount(ctx context.Context, a *account.Account, change account.DirectoryChange) error {
	now := change.Now
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		var roleBefore string
		if change.Created {
			err := tx.QueryRow(ctx, `INSERT INTO accounts
				(source, directory_dn, username, email, phone, display_name, role, state, state_reason, locked_until, created_at, updated_at,
				 password_expires_at, directory_id)
				VALUES ('directory', $1, $2, $3, $4, $5, 'user', $6, $7, $8, $9, $9, $10, nullif($11, '')) RETURNING id, created_at, updated_at`,
				a.DirectoryDN, a.Username, a.Email, a.Phone, a.DisplayName, string(a.State), a.Reason, a.LockedUntil, now,
				a.PasswordExpiresAt, a.DirectoryID).
				Scan(&a.ID, &a.CreatedAt, &a.UpdatedAt)
			if err != nil {
				return err
			}
		} else {
			if change.NewPerson {
				var err error
				if roleBefore, err = forgetPerson(ctx, tx, a.ID, now); err != nil {
					return err
				}
			}
			tag, err := tx.Exec(ctx, `UPDATE accounts SET source = 'directory', directory_dn = $2, email = $3, phone = $4,
					display_name = $5, state = $6, state_reason = $7, locked_until = $8, updated_at = $9,
					failed_attempts = CASE WHEN $12 OR ($6 = 'active' AND state <> 'active') THEN 0 ELSE failed_attempts END,
					password_expires_at = $10, directory_id = coalesce(nullif($11, ''), directory_id),
					role = CASE WHEN $12 THEN 'user' ELSE role END
				WHERE id = $1`,
				a.ID, a.DirectoryDN, a.Email, a.Phone, a.DisplayName, string(a.State), a.Reason, a.LockedUntil, now,
				a.PasswordExpiresAt, a.DirectoryID, change.NewPerson)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return account.Errorf(account.ENOTFOUND, "no account with id %d", a.ID)
			}
		}
		if change.Created || change.From != a.State {
			if err := recordDirectoryLock(ctx, tx, a, change); err != nil {
				return err
			}
		}
		kv := []string{"dn", a.DirectoryDN, "state", string(a.State)}
		if change.NewPerson {
			kv = append(kv, "new_person", "true", "role_before", roleBefore)
		}
		if change.Created {
			kv = append(kv, "created", "true")
		} else {
			kv = append(kv, "changed", strings.Join(change.Fields, ","), "from", string(change.From))
		}
		if a.LockedUntil != nil {
			kv = append(kv, "until", a.LockedUntil.UTC().Format(time.RFC3339))
		}
		if a.PasswordExpiresAt != nil {
			kv = append(kv, "expires", a.PasswordExpiresAt.UTC().Format(time.RFC3339))
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: change.Actor, Action: audit.DirectorySynced,
			AccountID: idPtr(a.ID), Username: a.Username, Details: audit.Details(kv...)})
	})
	if c, ok := isUniqueViolation(err); ok {
		return conflict(c, a)
	}
	var ae *account.Error
	if errors.As(err, &ae) {
		return err
	}
	return unavailable("save directory account", err)
}

// forgetPerson takes from an account everything of the person it was for, now that its username
// names another (account.DirectoryChange.NewPerson): the second factor and recovery codes (the one
// before could still prove them), known devices, remembered wrong passwords, the counts of their
// guesses, a password hash an import left and its digest, their language and time zone, what
// they were told of, every session (none kept), unused codes and reset links, and their open
// requests to the administrators (denied: approved, they would unlock the new person). It returns
// the role they had.
func forgetPerson(ctx context.Context, tx pgx.Tx, id int64, now time.Time) (role string, err error) {
	// One round trip: the role is read before the account's update that follows in the caller.
	var b pgx.Batch
	b.Queue(`SELECT role FROM accounts WHERE id = $1`, id).QueryRow(func(row pgx.Row) error { return row.Scan(&role) })
	for _, q := range []string{
		`DELETE FROM totp_secrets WHERE account_id = $1`,
		`DELETE FROM recovery_codes WHERE account_id = $1`,
		`DELETE FROM devices WHERE account_id = $1`,
		`DELETE FROM failed_passwords WHERE account_id = $1`,
		`DELETE FROM guess_counters WHERE subject = 'account:' || $1::bigint OR subject LIKE 'account:' || $1::bigint || ' %'`,
		`UPDATE accounts SET password_hash = '', imported_hash_sha256 = NULL, language = '', time_zone = '',
			expiry_warned_for = NULL, lock_noticed_for = NULL WHERE id = $1`,
	} {
		b.Queue(q, id)
	}
	for _, q := range []string{
		`UPDATE codes SET superseded_at = $2 WHERE account_id = $1 AND used_at IS NULL AND superseded_at IS NULL`,
		`UPDATE reset_tokens SET used_at = $2 WHERE account_id = $1 AND used_at IS NULL`,
		`UPDATE unlock_requests SET status = 'denied', handled_by = 'directory', handled_at = $2,
			response = 'The username now belongs to someone else.' WHERE account_id = $1 AND status = 'open'`,
	} {
		b.Queue(q, id, now)
	}
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return "", err
	}
	_, _, err = endAccountSessions(ctx, tx, id, account.KeptSession{})
	return role, err
}

// recordDirectoryLock keeps the lock history true to the directory: the open locks close when the
// state changes, and a lock the directory set opens one of source 'directory', started when the
// directory says it locked the person.
func recordDirectoryLock(ctx context.Context, tx pgx.Tx, a *account.Account, change account.DirectoryChange) error {
	if _, err := tx.Exec(ctx, `UPDATE locks SET lifted_at = $2, lifted_by = $3, lift_reason = $4
		WHERE account_id = $1 AND lifted_at IS NULL`, a.ID, change.Now, change.Actor, "the directory says "+string(a.State)); err != nil {
		return err
	}
	kind := map[account.State]string{account.StateLockedTemporarily: "temporary", account.StateLocked: "hard",
		account.StateFrozen: "freeze", account.StateDisabled: "disable"}[a.State]
	if kind == "" {
		return nil
	}
	started := change.Now
	if change.LockedAt != nil && !change.LockedAt.After(change.Now) {
		started = *change.LockedAt
	}
	_, err := tx.Exec(ctx, `INSERT INTO locks (account_id, kind, source, reason, actor, started_at, until)
		VALUES ($1, $2, 'directory', $3, $4, $5, $6)`, a.ID, kind, a.Reason, change.Actor, started, a.LockedUntil)
	return err
}

// SyncMark is where the last finished sync of the directory stopped, or "".
func (s *Directory) SyncMark(ctx context.Context, directory string) (string, error) {
	var mark string
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT mark FROM directory_sync WHERE directory = $1`, directory).Scan(&mark)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return mark, unavailable("sync mark", err)
}

// SetSyncMark records where a sync of the directory stopped.
func (s *Directory) SetSyncMark(ctx context.Context, directory, mark string, now time.Time) error {
	_, err := s.db.conn(ctx).Exec(ctx, `INSERT INTO directory_sync (directory, mark, synced_at) VALUES ($1, $2, $3)
		ON CONFLICT (directory) DO UPDATE SET mark = excluded.mark, synced_at = excluded.synced_at`, directory, mark, now)
	return unavailable("set sync mark", err)
}

// Exclusively runs fn holding the directory sync's advisory lock on a connection of its own, and
// reports false without running it when another session holds the lock. The lock ends with the
// connection, so a process that dies mid-sync does not keep it.
func (s *Directory) Exclusively(ctx context.Context, fn func(ctx context.Context) error) (bool, error) {
	conn, err := s.db.Pool.Acquire(ctx)
	if err != nil {
		return false, unavailable("directory sync lock", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(directorySyncLockID)).Scan(&got); err != nil {
		return false, unavailable("directory sync lock", err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock($1)`, int64(directorySyncLockID)); err != nil {
			// A connection that may still hold the lock is not given back to the pool.
			_ = conn.Conn().Close(unlockCtx)
		}
	}()
	return true, fn(ctx)
}

// RecordDirectoryWrite appends a directory.written audit event for a write made in the directory,
// in the unit of work that records the change it belongs to; or directory.write_failed, with why,
// for one the directory did not take.
func (s *Directory) RecordDirectoryWrite(ctx context.Context, w account.DirectoryWrite) error {
	return unavailable("record directory write", recordDirectoryWrite(ctx, s.db, w))
}

func recordDirectoryWrite(ctx context.Context, db *DB, w account.DirectoryWrite) error {
	return db.Transact(ctx, func(tx pgx.Tx) error {
		action, kv := audit.DirectoryWritten, []string{"operation", w.Operation, "dn", w.Account.DirectoryDN}
		if w.Why != "" {
			kv = append(kv, "reason", w.Why)
		}
		if w.Failure != "" {
			action, kv = audit.DirectoryWriteFailed, append(kv, "error", w.Failure)
		}
		return appendAudit(ctx, tx, &audit.Event{At: w.Now, Actor: w.Actor.Name, Action: action,
			AccountID: idPtr(w.Account.ID), Username: w.Account.Username, ClientIP: w.Actor.Client, Details: audit.Details(kv...)})
	})
}
