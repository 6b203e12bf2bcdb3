package account

import (
	"context"
	"time"

	"github.com/unlockd/unlockd/internal/notice"
)

// PurposeContact binds a code to confirming a new email address or phone number.
const PurposeContact Purpose = "contact"

// ContactStore changes contacts.
type ContactStore interface {
	// UpdateContact sets the account's email or phone, queues notices and audits. ECONFLICT when
	// another account has it.
	UpdateContact(ctx context.Context, accountID int64, username, channel, value string, keep KeptSession, client string, now time.Time, notify []Message) error
}

// StartContactChange sends a code to a new email address or phone number; the change happens only
// once the code comes back (ConfirmContactChange), which proves the new contact works.
// The code belongs to flow, the nonce the signed-in browser keeps for this change.
func (s *OwnAccount) StartContactChange(ctx context.Context, a *Account, channel, value, client, lang, flow string) (string, error) {
	var err error
	switch channel {
	case ChannelEmail:
		value, err = NormalizeEmail(value)
	case ChannelSMS:
		value, err = ValidatePhone(value)
		if err == nil && value == "" {
			err = Fail(EINVALID, "err_phone_required", nil, "phone number is required")
		}
	default:
		err = Fail(EINVALID, "err_contact_kind", nil, "unknown contact kind")
	}
	if err != nil {
		return "", err
	}
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return "", err
	}
	now := s.now()
	if err := s.guard.reserveClientSend(ctx, client, "contact_change", now); err != nil {
		return "", err
	}
	// The limits are read and the code written under the send lock, as for sign-in codes (sendCode).
	return value, s.work.Atomic(ctx, func(ctx context.Context) error {
		if err := s.codes.LockSends(ctx, sendKey(a, a.Username), value); err != nil {
			return err
		}
		counts, err := s.codes.SendCounts(ctx, a.ID, 0, value, now.Add(-SendWindow))
		if err != nil {
			return err
		}
		if counts.ToDestination >= SendLimitDestination || now.Sub(counts.LastToAccount) < policy.CodeResendInterval {
			return Fail(EINVALID, "err_codes_too_soon", nil, "too many codes were sent just now; wait a minute and try again")
		}
		return s.book.issueCode(ctx, a, codeTarget{purpose: PurposeContact, channel: channel, destination: value, flow: flow}, client, lang, policy)
	})
}

// ConfirmContactChange checks the code sent to the new contact and makes the change. The old
// contact is told, so a takeover does not go unnoticed. It is asked from the session thisSession
// (a handle; a is the account as that session was checked against): ErrSessionEnded, changing
// nothing, when the session ended meanwhile. An empty thisSession is no browser's.
func (s *OwnAccount) ConfirmContactChange(ctx context.Context, a *Account, channel, value, code, thisSession, client, lang, flow string) error {
	sentBy, err := s.book.verifyCode(ctx, a, PurposeContact, flow, code, client)
	if err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx) // the code is used up: carry out what it proves
	if sentBy != channel {
		return ErrBadCode
	}
	now := s.now()
	change, old := notice.EmailChanged, a.Email
	if channel == ChannelSMS {
		change, old = notice.PhoneChanged, a.Phone
	}
	var notify []Message
	if old != "" {
		m := s.factorMessage(a, lang, change, now)
		m.Channel, m.To = channel, old
		notify = append(notify, m)
	}
	if channel == ChannelSMS && a.Email != "" {
		notify = append(notify, s.factorMessage(a, lang, change, now))
	}
	return s.contact.UpdateContact(ctx, a.ID, a.Username, channel, value, askingSession(a, thisSession), client, now, notify)
}
