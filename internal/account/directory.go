package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Directory is the directory that directory accounts live in, read and written at request time
// (CONTRACT.md, "Directory accounts"): the lock a flow lifts and the password it sets are the
// directory's. Its errors are the domain's: ENOTFOUND when nobody has a username,
// ErrDirectoryUnavailable when it does not answer in time, ErrDirectoryFrozen, and a refusal of
// its own password policy from DirectoryRefusal.
type Directory interface {
	// Person reads one person now, with the state the directory's attributes and policy give.
	Person(ctx context.Context, username string) (DirectoryPerson, error)
	// CheckPassword binds as the person with dn, so that the directory applies its own policy and
	// counts a failure as well.
	CheckPassword(ctx context.Context, dn, password string) (DirectoryVerdict, error)
	// Unlock lifts the directory's lock on dn and forgets its failures, and reports whether there
	// was anything to lift. liftFreeze also lifts an administrator's lock; without it such a lock
	// stays and Unlock answers ErrDirectoryFrozen. Unlocking a person with no lock is no error.
	Unlock(ctx context.Context, dn string, liftFreeze bool) (bool, error)
	// SetPassword sets the person's password through the directory's own password policy.
	SetPassword(ctx context.Context, dn, password string) error
}

// DirectoryVerdict is what a bind as the person says of a password.
type DirectoryVerdict int

const (
	DirectoryPasswordWrong   DirectoryVerdict = iota // refused (also when the directory has locked the person)
	DirectoryPasswordRight                           // accepted
	DirectoryPasswordExpired                         // right, but the directory wants a new one before anything else
)

// ErrDirectoryUnavailable: the directory did not answer in time, or not at all. Pages say so and
// answer 503; nothing was written.
var ErrDirectoryUnavailable = Fail(EDIRECTORY, "error_directory", nil, "The directory cannot be reached. Try again shortly.")

// ErrDirectoryFrozen: a directory administrator's lock is in the way; only an administrator lifts it.
var ErrDirectoryFrozen = Fail(EFORBIDDEN, "err_directory_frozen", nil,
	"An administrator of the directory locked this account: only an administrator can unlock it.")

// DirectoryRule names the rule of the directory's password policy that refused a password.
type DirectoryRule string

const (
	DirectoryRuleQuality  DirectoryRule = "quality"   // too short, too simple
	DirectoryRuleHistory  DirectoryRule = "history"   // used before
	DirectoryRuleTooYoung DirectoryRule = "too_young" // changed too recently
	DirectoryRuleOther    DirectoryRule = "other"
)

// DirectoryRefusal is the directory's own password policy refusing a new password: EINVALID,
// saying which rule in the page's words and quoting the directory's.
func DirectoryRefusal(rule DirectoryRule, reason string) error {
	data := map[string]any{"Reason": reason}
	switch rule {
	case DirectoryRuleQuality:
		return Fail(EINVALID, "err_directory_refused_quality", data, "the directory's password policy finds the password too short or too simple (%s)", reason)
	case DirectoryRuleHistory:
		return Fail(EINVALID, "err_directory_refused_history", data, "the directory's password policy refuses a password used before (%s)", reason)
	case DirectoryRuleTooYoung:
		return Fail(EINVALID, "err_directory_refused_too_young", data, "the directory's password policy allows no new password yet (%s)", reason)
	}
	return Fail(EINVALID, "err_directory_refused_other", data, "the directory's password policy refused the password (%s)", reason)
}

// directoryWriter brings one account in line with what the directory says of its person: the
// sync does it for everyone now and then, the flows for the person they act on.
type directoryWriter struct {
	store DirectoryStore
	work  UnitOfWork
	now   Clock
	care  *directoryCare // nil: nobody is told (WithCare)
}

// liveAccounts finds accounts as the AccountStore does, but reads a directory account's person
// from the directory first and records what changed, so that every flow (the pages, the dashboard,
// the API and the command line) acts on the directory's state now, not on the last sync's. A
// username the directory has and no sync has read yet is found too.
type liveAccounts struct {
	AccountStore
	dir    Directory
	writer *directoryWriter
}

// localProbeWait bounds how long a local account's lookup waits for the directory's answer about
// the same username (liveAccounts.AccountByLogin).
const localProbeWait = 2 * time.Second

// errChangedMeanwhile: unlockd changed the account (an unlock, say) after the directory was read
// and before what it said was written, so that what it said may predate the change and is not
// written over it (readGuard).
var errChangedMeanwhile = errors.New("the account changed while the directory was read")

// AccountByLogin finds the account login names, read afresh from the directory when it lives
// there. A directory that does not answer is ErrDirectoryUnavailable: the flow cannot act on the
// person now, and says so.
func (l *liveAccounts) AccountByLogin(ctx context.Context, login string) (*Account, error) {
	a, err := l.AccountStore.AccountByLogin(ctx, login)
	var username string
	switch {
	case err == nil && !a.InDirectory():
		// An account of this place's own is looked for in the directory too, as an unknown
		// username is, so that the time of a lookup does not tell the two apart (SECURITY.md 8,
		// 9). What the directory says of it is not used, nor whether it answers, and a directory
		// that does not answer holds a local account up for localProbeWait at most. Inside a unit
		// of work (a dashboard's or the API's change) there is no asking: the unit holds its locks.
		if ValidateUsername(login) == nil && !inUnitOfWork(ctx) {
			probe, cancel := context.WithTimeout(ctx, localProbeWait)
			_, _ = l.dir.Person(probe, login)
			cancel()
		}
		return a, nil
	case err == nil:
		username = a.Username
	case ErrorCode(err) == ENOTFOUND && ValidateUsername(login) == nil:
		username = login // perhaps someone the directory has and no sync has read yet
	default:
		return nil, err
	}
	if a == nil {
		p, derr := l.dir.Person(ctx, username)
		switch {
		case ErrorCode(derr) == ENOTFOUND:
			return nil, err
		case derr != nil:
			return nil, derr
		}
		// What was read only makes the account: one another read made meanwhile, and may have
		// changed since (an unlock), is read again under its lock below.
		var counts DirectorySyncCounts
		if err := l.writer.apply(ctx, p, readGuard{onlyNew: true}, &counts); err != nil && !errors.Is(err, errChangedMeanwhile) {
			return nil, err
		}
		if a, err = l.AccountStore.AccountByLogin(ctx, username); err != nil || counts.Created == 1 {
			return a, err
		}
	}
	// The account stays locked while the directory is read and its answer written, so that an
	// older answer never overwrites a newer record: an unlock in flight, a lock just recorded.
	var counts DirectorySyncCounts
	var held *Account
	err = l.writer.work.Atomic(ctx, func(ctx context.Context) error {
		counts = DirectorySyncCounts{}
		var err error
		if held, err = l.writer.store.AccountForSync(ctx, username); err != nil {
			return err
		}
		p, err := l.dir.Person(ctx, username)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			return l.writer.removed(ctx, held, &counts)
		case err != nil:
			return err
		}
		return l.writer.apply(ctx, p, readGuard{}, &counts)
	})
	switch {
	case err != nil:
		return nil, err
	case counts.Updated == 0:
		return held, nil // the directory says what unlockd holds, as read under the lock: no read again
	}
	return l.AccountStore.AccountByLogin(ctx, username)
}

// removedReason is the reason recorded when the directory no longer has an account's person.
const removedReason = "no longer in the directory"

// removed disables the account of a person the directory no longer has: nobody signs in or
// unlocks it any more. Should the person come back, the directory's state replaces this one.
func (w *directoryWriter) removed(ctx context.Context, a *Account, counts *DirectorySyncCounts) error {
	if a.State == StateDisabled && a.Reason == removedReason {
		return nil
	}
	counts.Updated++
	gone := *a
	gone.State, gone.Reason, gone.LockedUntil = StateDisabled, removedReason, nil
	now := w.now()
	return w.work.Atomic(ctx, func(ctx context.Context) error {
		return w.store.SaveDirectoryAccount(ctx, &gone, DirectoryChange{Fields: directoryChanges(a, &gone),
			From: a.EffectiveState(now), Actor: "directory", Now: now})
	})
}

// reasonWords are the reasons unlockd and the directory record themselves, each with the message
// id that says it in the page's language.
var reasonWords = map[string]string{
	"too many failed sign-ins":              "status_lock_temporary",
	removedReason:                           "status_lock_directory_removed",
	directoryReason(StateLockedTemporarily): "status_lock_directory_temporary",
	directoryReason(StateLocked):            "status_lock_directory_hard",
	directoryReason(StateFrozen):            "status_lock_directory_freeze",
	directoryReason(StateDisabled):          "status_lock_directory_disable",
	directoryReason(StateExpired):           "status_lock_directory_expired",
}

// ReasonID is the message id that says the account's recorded reason in the page's language; ""
// for a reason staff wrote, which is shown as written.
func (a *Account) ReasonID() string { return reasonWords[a.Reason] }

// isDirectoryReason reports whether a state's recorded reason is the directory's, as opposed to
// a lock of unlockd's own.
func isDirectoryReason(reason string) bool {
	return strings.HasPrefix(reasonWords[reason], "status_lock_directory_")
}

// withOwnLock is the account a directory person should have, given the account unlockd holds
// (nil: none yet). The directory decides the state, except that a lock of unlockd's own (its
// lockout rules, which apply on top of the directory's) stays while the directory has none.
func withOwnLock(have, want *Account) *Account {
	if have == nil || want.State != StateActive || !isDirectoryLock(have.State) || isDirectoryReason(have.Reason) {
		return want
	}
	w := *want
	w.State, w.Reason, w.LockedUntil = have.State, have.Reason, have.LockedUntil
	return &w
}

// directoryOps are the flows' hands on the directory: the directory itself and the store that
// audits its writes, both nil when none is configured.
type directoryOps struct {
	dir   Directory
	store DirectoryStore
	now   Clock
}

// checks reports whether the account's password is the directory's to check: a directory account,
// with a directory configured. Without one, nothing can check it, and it signs in with codes only.
func (k *directoryOps) checks(a *Account) bool { return a.InDirectory() && k.dir != nil }

// needs refuses a change of a directory account's password or lock when no directory is
// configured to make it in.
func (k *directoryOps) needs(a *Account) error {
	if a.InDirectory() && k.dir == nil {
		return refuseDirectoryChange(a)
	}
	return nil
}

// directoryUnlock lifts the directory's lock on the account's person, inside the unit of work that
// records the unlock, so that the record and the directory agree: a directory that refuses or does
// not answer rolls the record back. The write is audited with who and why. An account that lives
// here only has nothing to lift.
func (k *directoryOps) unlock(ctx context.Context, a *Account, liftFreeze bool, actor Actor, why string) error {
	if !a.InDirectory() {
		return nil
	}
	if err := k.needs(a); err != nil {
		return err
	}
	write := DirectoryWrite{Account: a, Operation: "unlock", Actor: actor, Why: why, Now: k.now()}
	NoteOutsideWrite(ctx)
	lifted, err := k.dir.Unlock(ctx, a.DirectoryDN, liftFreeze)
	if errors.Is(err, ErrDirectoryFrozen) {
		return err // a directory administrator's lock: nothing was tried
	} else if err != nil {
		return failedWrite(write, fmt.Errorf("unlock %s in the directory: %w", a.Username, err))
	}
	if !lifted {
		return nil // nothing to lift, nothing written
	}
	return k.store.RecordDirectoryWrite(ctx, write)
}

// directorySetPassword sets a directory account's password in the directory, through its own
// policy, inside the unit of work that records the change, and audits the write.
func (k *directoryOps) setPassword(ctx context.Context, a *Account, password string, actor Actor, why string) error {
	if err := k.needs(a); err != nil {
		return err
	}
	write := DirectoryWrite{Account: a, Operation: "set_password", Actor: actor, Why: why, Now: k.now()}
	NoteOutsideWrite(ctx)
	if err := k.dir.SetPassword(ctx, a.DirectoryDN, password); err != nil {
		return failedWrite(write, fmt.Errorf("set the password of %s in the directory: %w", a.Username, err))
	}
	return k.store.RecordDirectoryWrite(ctx, write)
}

// recordFailure records, in the unit of work, a failed write the flow goes on without (a reset
// whose password the directory took, and whose unlock it then could not): the unit commits, and
// the record of the attempt with it. Any other error is returned as it is.
func (k *directoryOps) recordFailure(ctx context.Context, err error) error {
	if w, ok := FailedDirectoryWrite(err); ok {
		return k.store.RecordDirectoryWrite(ctx, w)
	}
	return nil
}

// directoryWriteFailure is a write the directory did not take, with what was tried. The unit of
// work that meant to record the write rolls back, and its record with it; the storage's unit of
// work records the attempt after the rollback (FailedDirectoryWrite), so a refused or unanswered
// write is in the audit log too.
type directoryWriteFailure struct {
	write DirectoryWrite
	err   error
}

func (f *directoryWriteFailure) Error() string { return f.err.Error() }
func (f *directoryWriteFailure) Unwrap() error { return f.err }

func failedWrite(w DirectoryWrite, err error) error {
	w.Failure = ErrorMessage(err)
	if ErrorCode(err) == EINTERNAL {
		w.Failure = err.Error()
	}
	return &directoryWriteFailure{write: w, err: err}
}

// FailedDirectoryWrite returns the write err says the directory did not take, with why.
func FailedDirectoryWrite(err error) (DirectoryWrite, bool) {
	var f *directoryWriteFailure
	if errors.As(err, &f) {
		return f.write, true
	}
	return DirectoryWrite{}, false
}

// checkDirectoryPassword binds as the account's person: the sign-in's check of a directory
// account's password. A right password that has expired is right: the person proved who they
// are, and expired tells the page to have them choose a new one.
func (k *directoryOps) checkPassword(ctx context.Context, a *Account, password string) (match, expired bool, err error) {
	v, err := k.dir.CheckPassword(ctx, a.DirectoryDN, password)
	if err != nil {
		return false, false, err
	}
	return v != DirectoryPasswordWrong, v == DirectoryPasswordExpired, nil
}
