package postgres

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// TOTPSecret returns the sealed secret and last used step.
func (s *SecondFactors) TOTPSecret(ctx context.Context, accountID int64) ([]byte, int64, error) {
	var sealed []byte
	var last int64
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT sealed, last_step FROM totp_secrets WHERE account_id = $1`, accountID).Scan(&sealed, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, account.Errorf(account.ENOTFOUND, "no authenticator enrolled")
	}
	return sealed, last, unavailable("totp secret", err)
}

// EnrollTOTP stores or replaces the secret, asked from the session keep: nothing when it ended
// meanwhile (account.ErrSessionEnded).
func (s *SecondFactors) EnrollTOTP(ctx context.Context, accountID int64, username string, sealed []byte, step int64, keep account.KeptSession, client string, now time.Time, msg account.Message) error {
	return unavailable("enroll totp", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if err := holdSession(ctx, tx, accountID, keep); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO totp_secrets (account_id, sealed, last_step, enrolled_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account_id) DO UPDATE SET sealed = EXCLUDED.sealed, last_step = EXCLUDED.last_step,
			enrolled_at = EXCLUDED.enrolled_at`, accountID, sealed, step, now); err != nil {
			return err
		}
		if err := queue(ctx, tx, msg); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "user:" + username, Action: audit.FactorAdded,
			AccountID: idPtr(accountID), Username: username, ClientIP: client, Details: audit.Details("factor", "totp")})
	}))
}

// UseTOTPStep marks a step used, refusing replays in one statement.
func (s *SecondFactors) UseTOTPStep(ctx context.Context, accountID, step int64) (bool, error) {
	tag, err := s.db.conn(ctx).Exec(ctx, `UPDATE totp_secrets SET last_step = $2 WHERE account_id = $1 AND last_step < $2`, accountID, step)
	if err != nil {
		return false, unavailable("use totp step", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReplaceRecoveryCodes stores a new set of recovery codes, asked from the session keep: nothing
// when it ended meanwhile (account.ErrSessionEnded).
func (s *SecondFactors) ReplaceRecoveryCodes(ctx context.Context, accountID int64, username string, hashes [][]byte, keep account.KeptSession, client string, now time.Time, msg account.Message) error {
	return unavailable("recovery codes", s.db.Transact(ctx, func(tx pgx.Tx) error {
		if err := holdSession(ctx, tx, accountID, keep); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE account_id = $1`, accountID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.Exec(ctx, `INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES ($1, $2, $3)`, accountID, h, now); err != nil {
				return err
			}
		}
		if err := queue(ctx, tx, msg); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "user:" + username, Action: audit.FactorAdded,
			AccountID: idPtr(accountID), Username: username, ClientIP: client,
			Details: audit.Details("factor", "recovery_codes", "count", strconv.Itoa(len(hashes)))})
	}))
}

// UseRecoveryCode consumes one recovery code and queues the owner's notice in the same transaction.
func (s *SecondFactors) UseRecoveryCode(ctx context.Context, accountID int64, hash []byte, now time.Time, notice account.Message) (int, bool, error) {
	remaining, ok := 0, false
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		remaining, ok = 0, false // afresh on a retry
		tag, err := tx.Exec(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL`, accountID, hash, now)
		if err != nil || tag.RowsAffected() != 1 {
			return err
		}
		ok = true
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL`, accountID).Scan(&remaining); err != nil {
			return err
		}
		notice.Data = maps.Clone(notice.Data)
		if notice.Data == nil {
			notice.Data = map[string]string{}
		}
		notice.Data["Remaining"] = strconv.Itoa(remaining)
		if err := queue(ctx, tx, notice); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "system", Action: audit.RecoveryCodeUsed,
			AccountID: idPtr(accountID), Details: audit.Details("remaining", strconv.Itoa(remaining))})
	})
	return remaining, ok, unavailable("use recovery code", err)
}

// SecondFactors reports an account's second factors.
func (s *SecondFactors) SecondFactors(ctx context.Context, accountID int64) (bool, int, error) {
	var totp bool
	var left int
	err := s.db.conn(ctx).QueryRow(ctx, secondFactors, accountID).Scan(&totp, &left)
	return totp, left, unavailable("second factors", err)
}

// secondFactors reads whether an account ($1) has an authenticator, and how many recovery codes
// it has left.
const secondFactors = `SELECT EXISTS (SELECT 1 FROM totp_secrets WHERE account_id = $1),
	(SELECT count(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL)`

// RecordFactorFailure audits a wrong second-factor entry on the unlock pages.
func (s *SecondFactors) RecordFactorFailure(ctx context.Context, accountID int64, username, method, client string, now time.Time) error {
	return unavailable("factor failure", s.db.Transact(ctx, func(tx pgx.Tx) error {
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "anonymous", Action: audit.FactorFailed,
			AccountID: idPtr(accountID), Username: username, ClientIP: client, Details: audit.Details("method", method, "page", "unlock")})
	}))
}
