package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

const accountColumns = `id, username, email, phone, display_name, role, state, state_reason, locked_until,
	password_hash, language, expires_at, failed_attempts, last_sign_in_at, created_at, updated_at, session_epoch, time_zone,
	source, coalesce(directory_dn, ''), coalesce(directory_id, ''), password_expires_at`

// scanAccount reads a row of accountColumns, and then of extra's columns into extra.
func scanAccount(row pgx.Row, extra ...any) (*account.Account, error) {
	var a account.Account
	var role, state, source string
	err := row.Scan(append([]any{&a.ID, &a.Username, &a.Email, &a.Phone, &a.DisplayName, &role, &state, &a.Reason,
		&a.LockedUntil, &a.PasswordHash, &a.Language, &a.ExpiresAt, &a.FailedAttempts, &a.LastSignInAt,
		&a.CreatedAt, &a.UpdatedAt, &a.SessionEpoch, &a.TimeZone, &source, &a.DirectoryDN, &a.DirectoryID, &a.PasswordExpiresAt},
		extra...)...)
	if err != nil {
		return nil, err
	}
	a.Role, a.State, a.Source = account.Role(role), account.State(state), account.Source(source)
	return &a, nil
}

// AccountByLogin matches the username or email without regard to case, or the phone exactly.
// The username wins over another account's email of the same spelling.
func (s *Accounts) AccountByLogin(ctx context.Context, login string) (*account.Account, error) {
	q := `SELECT ` + accountColumns + ` FROM accounts
		WHERE lower(username) = lower($1) OR lower(email) = lower($1) OR (phone <> '' AND phone = $1)
		ORDER BY (lower(username) = lower($1)) DESC LIMIT 1`
	a, err := scanAccount(s.db.conn(ctx).QueryRow(ctx, q, login))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, account.Fail(account.ENOTFOUND, "err_account_not_found", map[string]any{"Login": login}, "no account %q", login)
	}
	if err != nil {
		return nil, unavailable("account by login", err)
	}
	return a, nil
}

// AccountByID loads one account.
func (s *Accounts) AccountByID(ctx context.Context, id int64) (*account.Account, error) {
	a, err := scanAccount(s.db.conn(ctx).QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, account.Errorf(account.ENOTFOUND, "no account with id %d", id)
	}
	if err != nil {
		return nil, unavailable("account by id", err)
	}
	return a, nil
}

// CreateAccount inserts one account and audits it; a staff role is recorded as a grant.
func (s *Accounts) CreateAccount(ctx context.Context, a *account.Account, actor account.Actor) error {
	now := s.db.now()
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		role, grant, err := account.PlanRoleChange(actor, 0, a.Username, "", a.Role, "created", now)
		if err != nil {
			return err
		}
		a.Role = role
		err = tx.QueryRow(ctx, `INSERT INTO accounts
			(username, email, phone, display_name, role, state, password_hash, language, time_zone, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id, created_at, updated_at`,
			a.Username, a.Email, a.Phone, a.DisplayName, string(a.Role), string(a.State), a.PasswordHash,
			a.Language, a.TimeZone, now).Scan(&a.ID, &a.CreatedAt, &a.UpdatedAt)
		if err != nil {
			return err
		}
		if err := appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.AccountCreated,
			AccountID: idPtr(a.ID), Username: a.Username, ClientIP: actor.Client,
			Details: audit.Details("role", string(a.Role), "state", string(a.State))}); err != nil {
			return err
		}
		if grant != nil {
			grant.AccountID = a.ID
			_, err = applyRoleChange(ctx, tx, grant)
		}
		return err
	})
	if c, ok := isUniqueViolation(err); ok {
		return conflict(c, a)
	}
	var ae *account.Error
	if errors.As(err, &ae) {
		return err
	}
	return unavailable("create account", err)
}

func conflict(constraint string, a *account.Account) error {
	switch constraint {
	case "accounts_username_key":
		return account.Errorf(account.ECONFLICT, "username %q is taken", a.Username)
	case "accounts_email_key":
		return account.Errorf(account.ECONFLICT, "email %q belongs to another account", a.Email)
	case "accounts_phone_key":
		return account.Errorf(account.ECONFLICT, "phone %q belongs to another account", a.Phone)
	}
	return account.Errorf(account.ECONFLICT, "account %q conflicts with an existing one", a.Username)
}

// ImportAccounts upserts every row by username in one transaction. An update changes contact details
// and display name, the hash only when the row has one, and the role only as account.PlanRoleChange
// allows against the account as it stands (applyRoleChange); it never touches state or counters.
// A hash that replaces a different one is a new password (passwordReplaced).
func (s *Accounts) ImportAccounts(ctx context.Context, rows []account.ImportRow, reason string, actor account.Actor, notice account.PasswordNotice) (created, updated int, err error) {
	now := s.db.now()
	err = s.db.Transact(ctx, func(tx pgx.Tx) error {
		created, updated = 0, 0
		for _, r := range rows {
			inserted, err := importRow(ctx, tx, r, reason, actor, notice, now)
			if c, ok := isUniqueViolation(err); ok {
				return account.Errorf(account.ECONFLICT, "line %d: %s", r.Line, account.ErrorMessage(conflict(c, r.Account)))
			} else if ae := (*account.Error)(nil); errors.As(err, &ae) {
				return account.Errorf(ae.Code, "line %d: %s", r.Line, ae.Message)
			} else if err != nil {
				return fmt.Errorf("line %d: %w", r.Line, err)
			}
			if inserted {
				created++
			} else {
				updated++
			}
		}
		return nil
	})
	if err != nil {
		var ae *account.Error
		if errors.As(err, &ae) {
			return 0, 0, err
		}
		return 0, 0, unavailable("import accounts", err)
	}
	return created, updated, nil
}

// importRow writes one row of an import and audits it; it reports whether it created the account.
func importRow(ctx context.Context, tx pgx.Tx, r account.ImportRow, reason string, actor account.Actor, notice account.PasswordNotice, now time.Time) (bool, error) {
	a := r.Account
	var lastImported []byte // imported_hash_sha256
	before, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+`, imported_hash_sha256 FROM accounts
		WHERE lower(username) = lower($1) FOR UPDATE`, a.Username), &lastImported)
	inserted := errors.Is(err, pgx.ErrNoRows)
	if err != nil && !inserted {
		return false, err
	}
	var current account.Role
	if !inserted {
		a.ID, current = before.ID, before.Role
	}
	role, change, err := account.PlanRoleChange(actor, a.ID, a.Username, current, a.Role, reason, now)
	if err != nil {
		return false, err
	}
	if inserted {
		// Two writes creating the same username at once: the second fails on the unique index as a
		// conflict and writes nothing; sent again, it updates.
		err = tx.QueryRow(ctx, `INSERT INTO accounts
			(username, email, phone, display_name, role, state, password_hash, imported_hash_sha256, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id`,
			a.Username, a.Email, a.Phone, a.DisplayName, string(role), string(a.State), r.PasswordHash, hashDigest(r.PasswordHash), now).Scan(&a.ID)
		if change != nil {
			change.AccountID = a.ID
		}
	} else {
		hash, digest := newImportedHash(lastImported, r.PasswordHash)
		_, err = tx.Exec(ctx, `UPDATE accounts SET email = $2, phone = $3, display_name = $4,
				password_hash = CASE WHEN $5 = '' THEN password_hash ELSE $5 END,
				imported_hash_sha256 = coalesce($6, imported_hash_sha256), updated_at = $7
			WHERE id = $1`, a.ID, a.Email, a.Phone, a.DisplayName, hash, digest, now)
		if err == nil && hash != "" && hash != before.PasswordHash {
			err = passwordReplaced(ctx, tx, before, notice, now)
		}
	}
	if err != nil {
		return false, err
	}
	err = appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.AccountImported,
		AccountID: idPtr(a.ID), Username: a.Username, ClientIP: actor.Client,
		Details: audit.Details("created", strconv.FormatBool(inserted), "role", string(role),
			"password_hash", strconv.FormatBool(r.PasswordHash != ""), "reason", reason)})
	if err == nil && change != nil {
		_, err = applyRoleChange(ctx, tx, change)
	}
	a.Role = role
	return inserted, err
}

// newImportedHash is the hash a row sets for an existing account whose kept digest is last, and the
// digest to keep of it (nil: the one kept stays). The password stays ("") when the row has no hash or sends the one an
// import or the API set last (imported_hash_sha256): a sync sending the same hash every night thus
// neither takes back the upgrade a sign-in made of it nor the password its owner has chosen since.
// It stays too, with the hash's digest kept from now on, when an import set the account's hash
// before digests were kept (an empty one): the hash sent may well be that one, and the stored
// hash may be its upgrade or the owner's own choice since.
func newImportedHash(last []byte, hash string) (set string, digest []byte) {
	if hash == "" {
		return "", nil
	}
	switch digest = hashDigest(hash); {
	case bytes.Equal(last, digest):
		return "", nil
	case last != nil && len(last) == 0:
		return "", digest
	}
	return hash, digest
}

// hashDigest is the SHA-256 of a password hash an import sets, nil for none.
func hashDigest(hash string) []byte {
	if hash == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(hash))
	return sum[:]
}

// passwordReplaced does inside tx what follows a new password set for an existing account, as a
// reset does: the remembered wrong passwords say nothing about the new one (one of them may be it),
// every session ends with none kept (a stolen one with the rest), and the owner is told
// by what notice builds from the account as it stood before (nil: nothing).
func passwordReplaced(ctx context.Context, tx pgx.Tx, before *account.Account, notice account.PasswordNotice, now time.Time) error {
	if _, err := tx.Exec(ctx, `DELETE FROM failed_passwords WHERE account_id = $1`, before.ID); err != nil {
		return err
	}
	if _, _, err := endAccountSessions(ctx, tx, before.ID, account.KeptSession{}); err != nil {
		return err
	}
	if notice == nil {
		return nil
	}
	return queue(ctx, tx, notice(before, now)...)
}

// ListAccounts lists accounts by username.
func (s *Accounts) ListAccounts(ctx context.Context, state account.State, limit int) ([]*account.Account, error) {
	if limit <= 0 {
		limit = 1000
	}
	var where []string
	args := []any{limit}
	if state != "" {
		where = append(where, "state = $2")
		args = append(args, string(state))
	}
	q := `SELECT ` + accountColumns + ` FROM accounts`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY lower(username) LIMIT $1"
	rows, err := s.db.conn(ctx).Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable("list accounts", err)
	}
	defer rows.Close()
	var out []*account.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("list accounts", err)
	}
	return out, nil
}

// SetPasswordHash swaps the hash only when it is still oldHash.
func (s *Accounts) SetPasswordHash(ctx context.Context, id int64, oldHash, newHash string) (bool, error) {
	tag, err := s.db.conn(ctx).Exec(ctx, `UPDATE accounts SET password_hash = $3, updated_at = $4
		WHERE id = $1 AND password_hash = $2`, id, oldHash, newHash, s.db.now())
	if err != nil {
		return false, unavailable("set password hash", err)
	}
	return tag.RowsAffected() == 1, nil
}

// SetLanguage sets the language of the account's messages.
func (s *Accounts) SetLanguage(ctx context.Context, id int64, lang string) error {
	_, err := s.db.conn(ctx).Exec(ctx, `UPDATE accounts SET language = $2, updated_at = $3 WHERE id = $1`, id, lang, s.db.now())
	return unavailable("set language", err)
}

// SetTimeZone sets the zone the account reads times in ("" for the organisation's).
func (s *Accounts) SetTimeZone(ctx context.Context, id int64, zone string) error {
	_, err := s.db.conn(ctx).Exec(ctx, `UPDATE accounts SET time_zone = $2, updated_at = $3 WHERE id = $1`, id, zone, s.db.now())
	return unavailable("set time zone", err)
}

// SetState puts an account into a state directly. The demo seed uses it; the lockout engine has its
// own audited transitions.
func (s *Accounts) SetState(ctx context.Context, id int64, state account.State, reason string, lockedUntil, expiresAt *time.Time) error {
	_, err := s.db.conn(ctx).Exec(ctx, `UPDATE accounts SET state = $2, state_reason = $3, locked_until = $4,
		expires_at = COALESCE($5, expires_at), updated_at = $6 WHERE id = $1`,
		id, string(state), reason, lockedUntil, expiresAt, s.db.now())
	return unavailable("set state", err)
}
