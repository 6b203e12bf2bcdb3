package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// UpdateContact sets an account's email address or phone number, asked from the session keep:
// nothing when it ended meanwhile (account.ErrSessionEnded).
func (s *Contact) UpdateContact(ctx context.Context, accountID int64, username, channel, value string, keep account.KeptSession, client string, now time.Time, notify []account.Message) error {
	column := "email"
	if channel == account.ChannelSMS {
		column = "phone"
	}
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		if err := holdSession(ctx, tx, accountID, keep); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET `+column+` = $2, updated_at = $3 WHERE id = $1`, accountID, value, now); err != nil {
			return err
		}
		if err := queue(ctx, tx, notify...); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: "user:" + username, Action: audit.ContactChanged,
			AccountID: idPtr(accountID), Username: username, ClientIP: client, Details: audit.Details("contact", column)})
	})
	if c, ok := isUniqueViolation(err); ok {
		return conflict(c, &account.Account{Email: value, Phone: value})
	}
	return unavailable("update contact", err)
}
