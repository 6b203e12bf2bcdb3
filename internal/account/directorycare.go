package account

import (
	"context"
	"time"

	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/notice"
)

// What the directory sync tells people of its own accord: that the directory locked them (with the
// unlock link), and that their directory password expires soon (with the reset link). Both are
// queued in the same transaction as what the sync records, and each is said once: once per lock,
// however often a sync sees it begin, and once per expiry date.

// DirectoryCareStore keeps what the sync told whom.
type DirectoryCareStore interface {
	// Policy is the policy in force; the sync reads directory.expiry_warning from it.
	Policy(ctx context.Context) (Policy, error)
	// NoteDirectoryLock records that the owner of account id is told of the directory lock that
	// began at lockStart and queues msgs, in the unit of work ctx carries. It reports false, and
	// queues nothing, when the owner was told of that lock already.
	NoteDirectoryLock(ctx context.Context, id int64, lockStart time.Time, msgs []Message) (bool, error)
	// ExpiringPasswords lists up to limit directory accounts whose password expires after now and
	// no later than before, and whose owner was not warned of that expiry, the soonest first;
	// accounts frozen, disabled or expired may be left out (ExpiryWarningDue skips them anyway).
	ExpiringPasswords(ctx context.Context, now, before time.Time, limit int) ([]ExpiringPassword, error)
	// WarnPasswordExpiry records that the owner was warned of w.ExpiresAt, queues w.Messages and
	// audits it (password.expiry_warned), in one transaction. It reports false, doing nothing, when
	// the account's password no longer expires then or its owner was warned of that expiry already.
	WarnPasswordExpiry(ctx context.Context, w ExpiryWarning) (bool, error)
}

// ExpiringPassword is a directory account whose password expires soon (Account.PasswordExpiresAt),
// with the expiry its owner was last warned of (nil: none).
type ExpiringPassword struct {
	Account   *Account
	WarnedFor *time.Time
}

// ExpiryWarning is one warning of a password's expiry, as it is recorded.
type ExpiryWarning struct {
	AccountID int64
	Username  string
	ExpiresAt time.Time
	Channels  []string // the channels it goes by: email, and sms when the person has a phone
	Messages  []Message
	Actor     string
	Now       time.Time
}

// expiryBatch bounds the warnings of one sync round; the rest go out in the next rounds.
const expiryBatch = 500

// directoryCare is the sync's means of telling people: its store and the settings of messages.
type directoryCare struct {
	*kit
	store DirectoryCareStore
}

// WithCare lets the sync tell people what happens to their directory account: lock notices by
// email and webhook events, and warnings of a password about to expire by email and SMS, with
// links built from opts.BaseURL. Without it the sync tells nobody.
func (s *DirectorySync) WithCare(store DirectoryCareStore, opts Options) *DirectorySync {
	s.care = &directoryCare{kit: &kit{now: s.now, metrics: noMetrics{}, opts: opts}, store: store}
	return s
}

// DirectoryLockNoticeDue is the rule for telling the owner that the directory locked them: a sync
// saw an account that was active become locked, for a while or until unlocked. The first import of
// someone already locked is not news to them, and a freeze, disabling or expiry is the
// administrators' to announce.
func DirectoryLockNoticeDue(created bool, from, to State) bool {
	return !created && from == StateActive && (to == StateLockedTemporarily || to == StateLocked)
}

// ExpiryWarningDue is the rule for warning of a password's expiry at now: warnings are on (window
// above zero), the password expires after now and within the window, its owner was not warned of
// this expiry yet, and the account is one whose owner can still act on it (active, or locked by
// failed sign-ins: a new password also ends a lock).
func ExpiryWarningDue(state State, expiresAt, warnedFor *time.Time, window time.Duration, now time.Time) bool {
	switch {
	case window <= 0 || expiresAt == nil:
		return false
	case !expiresAt.After(now) || expiresAt.Sub(now) > window:
		return false
	case warnedFor != nil && warnedFor.Equal(*expiresAt):
		return false
	}
	return state == StateActive || state == StateLockedTemporarily || state == StateLocked
}

// afterSave is the step after a person's account is saved, in the same unit of work: when the
// directory locked someone who was active, the owner is told, once for that lock, whether a sync
// or a flow reading the person at request time saw the lock first.
func (s *directoryWriter) afterSave(ctx context.Context, before, after *Account, change *DirectoryChange) error {
	change.LockNoticed = false
	if s.care == nil || !DirectoryLockNoticeDue(change.Created, change.From, after.State) {
		return nil
	}
	start := change.Now
	if change.LockedAt != nil && !change.LockedAt.After(change.Now) {
		start = *change.LockedAt
	}
	start = start.UTC().Truncate(time.Microsecond) // as the database keeps it
	told, err := s.care.store.NoteDirectoryLock(ctx, after.ID, start, s.care.lockNotice(before, after, start, change.Now))
	change.LockNoticed = told
	return err
}

// lockNotice is the owner's email, written for them as they were before the sync (their language
// and zone are unlockd's, not the directory's) to the address the directory has now, and the
// webhook events a local lock sends too.
func (c *directoryCare) lockNotice(before, after *Account, start, now time.Time) []Message {
	n := notice.Locked{Name: after.Name(), At: start, UnlockLink: c.link("/unlock")}
	if after.LockedUntil != nil && after.LockedUntil.After(now) {
		n.Until = *after.LockedUntil
	}
	return append([]Message{compose(ChannelEmail, after.Email, c.readerOf(before, ""), n)},
		c.events(audit.AccountLocked, after, now, "state", string(after.State), "source", "directory")...)
}

// warnExpiring warns the owners of passwords that expire within directory.expiry_warning, each in
// a unit of work of its own, counting the warnings in counts.
func (s *DirectorySync) warnExpiring(ctx context.Context, counts *DirectorySyncCounts) error {
	if s.care == nil {
		return nil
	}
	policy, err := s.care.store.Policy(ctx)
	if err != nil {
		return err
	}
	window := policy.DirectoryExpiryWarning
	if window <= 0 {
		return nil
	}
	now := s.now()
	due, err := s.care.store.ExpiringPasswords(ctx, now, now.Add(window), expiryBatch)
	if err != nil {
		return err
	}
	for _, e := range due {
		a := e.Account
		if !ExpiryWarningDue(a.EffectiveState(now), a.PasswordExpiresAt, e.WarnedFor, window, now) {
			continue
		}
		w := s.care.expiryWarning(a, now)
		var warned bool
		err := s.work.Atomic(ctx, func(ctx context.Context) error {
			var err error
			warned, err = s.care.store.WarnPasswordExpiry(ctx, w)
			return err
		})
		if err != nil {
			return err
		}
		if warned {
			counts.ExpiryWarnings++
		}
	}
	return nil
}

// expiryWarning is the warning of a's expiry: by email, and by SMS when a has a phone and SMS can
// be sent, in a's language and zone, with the link to /reset.
func (c *directoryCare) expiryWarning(a *Account, now time.Time) ExpiryWarning {
	n := notice.PasswordExpiry{Name: a.Name(), ExpiresAt: *a.PasswordExpiresAt, ResetLink: c.link("/reset")}
	r := c.readerOf(a, "")
	w := ExpiryWarning{AccountID: a.ID, Username: a.Username, ExpiresAt: *a.PasswordExpiresAt, Actor: "directory", Now: now,
		Channels: []string{ChannelEmail}, Messages: []Message{compose(ChannelEmail, a.Email, r, n)}}
	if c.opts.SMS && a.Phone != "" {
		w.Channels = append(w.Channels, ChannelSMS)
		w.Messages = append(w.Messages, compose(ChannelSMS, a.Phone, r, n))
	}
	return w
}
