package account

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/notice"
)

// Staff are the staff's actions on accounts and requests, each with a reason and audited, and
// the lockout policy.
type Staff struct {
	*kit
	guard    *guard
	book     *codebook
	accounts AccountStore
	states   StateStore
	lockout  LockoutStore
	admin    AdminStore
	work     UnitOfWork
}

// Transition is one audited change of an account's state by an administrator or the system.
type Transition struct {
	AccountID   int64
	From        []State // allowed current states
	To          State
	Reason      string     // for the record
	UserMessage string     // what the owner is told, when different from Reason
	Until       *time.Time // for frozen: lifts by itself then
	LockKind    string     // "freeze" or "disable": a lock row is opened
	LiftLocks   bool       // open lock rows are closed
	EndSessions bool
	Action      string // the audit action
	Method      string // how it was unlocked, for the audit and metrics ("administrator", "bulk")
	Actor       string
	Client      string
	Now         time.Time
	Notify      []Message // queued with the change
}

// StateStore changes account states.
type StateStore interface {
	// Transition applies t in one transaction with its lock row, session ending and audit event.
	// EINVALID when the account is not in one of t.From (the message names its state).
	Transition(ctx context.Context, t Transition) (*Account, error)
	// LockedSince lists the accounts whose current automatic lock started at or after since.
	LockedSince(ctx context.Context, since time.Time) ([]int64, error)
	// SetRole changes the role as PlanRoleChange allows against the account as it stands: the
	// role, the end of the account's sessions and the audit event in one transaction.
	SetRole(ctx context.Context, accountID int64, role Role, reason string, actor Actor, now time.Time) (*Account, error)
	// SetExpiry sets or clears expires_at (an expired account with none becomes active) and audits.
	SetExpiry(ctx context.Context, accountID int64, at *time.Time, reason string, actor Actor, now time.Time) (*Account, error)
	// AccountsWithRole lists accounts of a role by username.
	AccountsWithRole(ctx context.Context, role Role) ([]*Account, error)
}

// Actor names who acts, for the audit log: "cli", "admin:bob", "token:crm", "system".
type Actor struct {
	Name   string
	Client string
	// Role is the dashboard role or API token role acting; empty for the command line, which
	// runs with the database's own authority.
	Role Role
}

// liftsFreezes reports whether the actor may lift an administrator's freeze: only an administrator
// (CONTRACT.md: frozen, "only an administrator lifts it").
func (a Actor) liftsFreezes() bool { return a.Role == "" || a.Role == RoleAdmin }

// CheckReason checks the reason a staff action is recorded with: required, at most 500 characters.
// It returns the reason trimmed.
func CheckReason(reason string) (string, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return "", Fail(EINVALID, "err_reason_required", nil, "a reason is required")
	}
	if utf8.RuneCountInString(reason) > 500 || !utf8.ValidString(reason) {
		return "", Fail(EINVALID, "err_reason_too_long", map[string]any{"Count": 500}, "the reason must be valid text of at most 500 characters")
	}
	return reason, nil
}

// staffTarget checks the reason a staff action needs and finds the account the action is about.
func (s *Staff) staffTarget(ctx context.Context, login, reason string) (*Account, string, error) {
	reason, err := CheckReason(reason)
	if err != nil {
		return nil, "", err
	}
	a, err := s.guard.accountByLogin(ctx, login)
	return a, reason, err
}

func (s *Staff) transition(ctx context.Context, login string, actor Actor, t Transition) (*Account, error) {
	a, err := s.guard.accountByLogin(ctx, login)
	if err != nil {
		return nil, err
	}
	if err := s.directory.needs(a); err != nil {
		return nil, err
	}
	if t.Action != audit.AccountUnlocked {
		// A directory's person is frozen, disabled or expired in the directory itself.
		if err := refuseDirectoryChange(a); err != nil {
			return nil, err
		}
	}
	t.AccountID, t.Actor, t.Client, t.Now = a.ID, actor.Name, actor.Client, s.now()
	// The owner is told when the account becomes locked or is unlocked (CONTRACT.md).
	switch t.Action {
	case audit.AccountUnlocked:
		t.Notify = append(t.Notify, s.unlockedMessage(a, t.Now, "admin"))
	case audit.AccountFrozen:
		t.Notify = append(t.Notify, s.frozenMessage(a, t))
	}
	t.Notify = append(t.Notify, s.events(t.Action, a, t.Now, "state", string(t.To), "reason", t.Reason, "by", actor.Name)...)
	if !a.InDirectory() {
		return s.states.Transition(ctx, t)
	}
	// The directory's lock is lifted with the record of it, or neither is; an administrator's
	// unlock also lifts a directory administrator's lock, as it lifts a freeze.
	var out *Account
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		var err error
		if out, err = s.states.Transition(ctx, t); err != nil {
			return err
		}
		return s.directory.unlock(ctx, a, actor.liftsFreezes(), actor, t.Reason)
	})
	return out, err
}

// Unlock lifts an automatic lock, or, for an administrator, a freeze. The owner's counters start
// afresh.
func (s *Staff) Unlock(ctx context.Context, login, reason string, actor Actor) (*Account, error) {
	reason, err := CheckReason(reason)
	if err != nil {
		return nil, err
	}
	from := statesFor(ActionUnlock)
	if actor.liftsFreezes() {
		from = append(from, statesFor(ActionUnfreeze)...)
	}
	a, err := s.transition(ctx, login, actor, Transition{
		From: from, To: StateActive, Reason: reason,
		LiftLocks: true, Action: audit.AccountUnlocked, Method: "administrator"})
	if err == nil {
		s.metrics.Unlock("administrator")
	}
	return a, err
}

// Freeze is an administrator's lock with a reason (and optionally an end). Only an administrator
// lifts it. The account's sessions end.
func (s *Staff) Freeze(ctx context.Context, login, reason, userMessage string, until *time.Time, actor Actor) (*Account, error) {
	reason, err := CheckReason(reason)
	if err != nil {
		return nil, err
	}
	if until != nil && !until.After(s.now()) {
		return nil, Fail(EINVALID, "err_until_past", nil, "--until must be in the future")
	}
	a, err := s.transition(ctx, login, actor, Transition{
		From: statesFor(ActionFreeze),
		To:   StateFrozen, Reason: reason, UserMessage: strings.TrimSpace(userMessage), Until: until,
		LockKind: "freeze", LiftLocks: true, EndSessions: true, Action: audit.AccountFrozen})
	if err == nil {
		s.metrics.Lock("freeze")
	}
	return a, err
}

// Disable switches an account off; its sessions end.
func (s *Staff) Disable(ctx context.Context, login, reason string, actor Actor) (*Account, error) {
	reason, err := CheckReason(reason)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, login, actor, Transition{
		From: statesFor(ActionDisable),
		To:   StateDisabled, Reason: reason, LockKind: "disable", LiftLocks: true, EndSessions: true,
		Action: audit.AccountDisabled})
}

// Enable switches a disabled account back on.
func (s *Staff) Enable(ctx context.Context, login, reason string, actor Actor) (*Account, error) {
	reason, err := CheckReason(reason)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, login, actor, Transition{
		From: statesFor(ActionEnable), To: StateActive, Reason: reason, LiftLocks: true, Action: audit.AccountEnabled})
}

// UnlockAll is the emergency lift of every automatic lock that started within the last `since`
// (a credential-stuffing wave locked many accounts). It returns how many accounts it unlocked.
func (s *Staff) UnlockAll(ctx context.Context, since time.Duration, reason string, actor Actor) (int, error) {
	reason, err := CheckReason(reason)
	if err != nil {
		return 0, err
	}
	if since <= 0 {
		return 0, Fail(EINVALID, "err_locked_since_positive", nil, "--locked-since must be a positive duration such as 2h")
	}
	now := s.now()
	ids, err := s.states.LockedSince(ctx, now.Add(-since))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		a, err := s.accounts.AccountByID(ctx, id)
		if err != nil {
			return n, err
		}
		t := Transition{AccountID: id, From: statesFor(ActionUnlock),
			To: StateActive, Reason: reason, LiftLocks: true, Action: audit.AccountUnlocked, Method: "bulk",
			Actor: actor.Name, Client: actor.Client, Now: now, Notify: append([]Message{s.unlockedMessage(a, now, "admin")},
				s.events(audit.AccountUnlocked, a, now, "state", string(StateActive), "reason", reason, "by", actor.Name)...)}
		// A directory's lock is lifted in the directory with the record of it, or neither is.
		err = s.work.Atomic(ctx, func(ctx context.Context) error {
			if _, err := s.states.Transition(ctx, t); err != nil {
				return err
			}
			return s.directory.unlock(ctx, a, false, actor, reason)
		})
		if ErrorCode(err) == EINVALID {
			continue // unlocked meanwhile
		} else if err != nil {
			return n, err
		}
		n++
		s.metrics.Unlock("bulk")
	}
	return n, nil
}

// Policy returns the policy in force.
func (s *Staff) Policy(ctx context.Context) (Policy, error) { return s.lockout.Policy(ctx) }

// SetPolicy applies KEY=VALUE changes: all valid together, or none.
func (s *Staff) SetPolicy(ctx context.Context, changes map[string]string, actor Actor) (Policy, error) {
	if len(changes) == 0 {
		return Policy{}, Fail(EINVALID, "err_policy_no_changes", nil, "no changes given")
	}
	p, err := s.lockout.Policy(ctx)
	if err != nil {
		return Policy{}, err
	}
	for k, v := range changes {
		if err := p.Set(k, v); err != nil {
			return Policy{}, err
		}
	}
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	normalized := map[string]string{}
	values := p.Values()
	for k := range changes {
		normalized[k] = values[k]
	}
	if err := s.lockout.SetPolicy(ctx, normalized, actor.Name, s.now()); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// passwordChanged tells the owner the password changed, by email and, when there is a phone, by SMS.
func (s *kit) passwordChanged(a *Account, lang string, now time.Time) []Message {
	n := notice.PasswordChanged{Name: a.Name(), At: now}
	out := []Message{compose(ChannelEmail, a.Email, s.readerOf(a, lang), n)}
	if a.Phone != "" && s.opts.SMS {
		out = append(out, compose(ChannelSMS, a.Phone, s.readerOf(a, lang), n))
	}
	return out
}

// unlockedMessage tells the owner their account works again, and how it was unlocked.
func (s *kit) unlockedMessage(a *Account, now time.Time, method string) Message {
	return compose(ChannelEmail, a.Email, s.readerOf(a, ""), notice.Unlocked{Name: a.Name(), At: now, Method: method})
}

// frozenMessage tells the owner an administrator locked the account, with the administrator's
// message for them (not the reason for the record) and the end, if any.
func (s *kit) frozenMessage(a *Account, t Transition) Message {
	n := notice.Frozen{Name: a.Name(), At: t.Now, Message: t.UserMessage}
	if t.Until != nil {
		n.Until = *t.Until
	}
	return compose(ChannelEmail, a.Email, s.readerOf(a, ""), n)
}

// CountLockedSince previews UnlockAll: how many accounts it would unlock.
func (s *Oversight) CountLockedSince(ctx context.Context, since time.Duration) (int, error) {
	ids, err := s.states.LockedSince(ctx, s.now().Add(-since))
	return len(ids), err
}

// SetRole changes an account's role (staff management), as every role change is made (roles.go):
// only an administrator grants or removes a staff role, the account's sessions end (a privilege
// change takes a new sign-in), and the change is audited.
func (s *Staff) SetRole(ctx context.Context, login string, role Role, reason string, actor Actor) (*Account, error) {
	if !role.Valid() {
		return nil, Fail(EINVALID, "err_role_invalid", map[string]any{"Role": string(role)}, "role %q must be user, helpdesk, auditor or admin", role)
	}
	a, reason, err := s.staffTarget(ctx, login, reason)
	if err != nil {
		return nil, err
	}
	if _, err := CheckRoleWrite(actor, a.Role, role); err != nil {
		return nil, err
	}
	return s.states.SetRole(ctx, a.ID, role, reason, actor, s.now())
}

// AccountsWithRole lists the accounts of one role (the staff page).
func (s *Oversight) AccountsWithRole(ctx context.Context, role Role) ([]*Account, error) {
	return s.states.AccountsWithRole(ctx, role)
}

// SetExpiry sets (or, with nil, clears) when an account expires. Clearing it on an expired account
// makes it active again.
func (s *Staff) SetExpiry(ctx context.Context, login string, at *time.Time, reason string, actor Actor) (*Account, error) {
	a, reason, err := s.staffTarget(ctx, login, reason)
	if err != nil {
		return nil, err
	}
	return s.states.SetExpiry(ctx, a.ID, at, reason, actor, s.now())
}
