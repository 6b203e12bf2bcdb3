package account

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DirectoryPerson is one person as the directory has them, with the state the directory's own
// attributes and policy give (CONTRACT.md, "Directory accounts").
type DirectoryPerson struct {
	DN          string
	ID          string // the directory's identifier of the person for life (entryUUID, objectGUID)
	Username    string
	Email       string
	Phone       string // as the directory writes it; normalized (or dropped) by the sync
	DisplayName string
	State       State      // active, locked_temporarily, locked, frozen, disabled or expired
	LockedAt    *time.Time // when the directory locked the person, when it says
	LockedUntil *time.Time // for locked_temporarily
	// PasswordExpiresAt is when the directory's password policy expires the password; nil: never.
	PasswordExpiresAt *time.Time
}

// DirectoryReader reads people from the directory.
type DirectoryReader interface {
	// Name identifies the directory (its URL and subtree), so that a sync mark of one directory is
	// never taken for another's.
	Name() string
	// People calls each for every person changed since mark (everyone when it is empty) and returns
	// the mark to pass next time. An unreachable directory is an error before any person is read.
	People(ctx context.Context, since string, each func(DirectoryPerson) error) (string, error)
}

// DirectoryStore keeps the accounts read from a directory and how far the last sync read.
type DirectoryStore interface {
	// AccountForSync finds the account named username (any letter case), locked for update when
	// ctx carries a unit of work. ENOTFOUND.
	AccountForSync(ctx context.Context, username string) (*Account, error)
	// SaveDirectoryAccount creates (a.ID == 0, filling ID) or updates the directory account a: its
	// DN, contact details, state, reason and locked_until, with a directory.synced audit event that
	// names the changed fields and, when it changed, the state before. ECONFLICT when the email
	// address or phone number belongs to another account.
	SaveDirectoryAccount(ctx context.Context, a *Account, change DirectoryChange) error
	// SyncMark is where the last sync of the named directory stopped; "" when none finished.
	SyncMark(ctx context.Context, directory string) (string, error)
	// SetSyncMark records where a sync of the named directory stopped.
	SetSyncMark(ctx context.Context, directory, mark string, now time.Time) error
	// RecordDirectoryWrite records, in the audit log, a write unlockd made in the directory: which,
	// on whose account, by whom and why. It goes in the unit of work that records the change.
	RecordDirectoryWrite(ctx context.Context, w DirectoryWrite) error
	// Exclusively runs fn while holding the one database-wide directory sync lock, so that of
	// several processes only one syncs at a time. It reports false, without running fn, when
	// another holds the lock.
	Exclusively(ctx context.Context, fn func(ctx context.Context) error) (bool, error)
}

// DirectoryChange is what one sync changes on one account, for the audit event.
type DirectoryChange struct {
	Created bool
	Fields  []string // the changed fields: "dn", "email", "phone", "display_name", "state", ...
	From    State    // the state before, for an update
	// LockedAt is when the directory locked the person, for the lock record; nil when it does not
	// say (an administrator's lock), and the sync's time is taken.
	LockedAt *time.Time
	Actor    string
	Now      time.Time
	// LockNoticed reports that the owner was told of the lock this change records (set by the
	// step after the save).
	LockNoticed bool
	// NewPerson: the username now names another person of the directory (another DirectoryID) than
	// the one the account was for. Nothing the one before had passes on: their second factors,
	// recovery codes, devices, sessions, pending codes and reset links go, their role is a user's
	// again, and unlockd's own lock and count on them do not carry over (NewPersonOf).
	NewPerson bool
}

// NewPersonOf reports whether want, as the directory has the person now, is another person than
// the one the account have was for: both identifiers known, and different. A username given to a
// new employee after the one before left (the directory deleted their entry and made another)
// arrives so; a rename or a move keeps the identifier.
func NewPersonOf(have, want *Account) bool {
	return have != nil && have.DirectoryID != "" && want.DirectoryID != "" && have.DirectoryID != want.DirectoryID
}

// DirectoryWrite is one write unlockd made in the directory, for the audit log.
type DirectoryWrite struct {
	Account   *Account
	Operation string // "unlock" or "set_password"
	Actor     Actor
	Why       string
	Now       time.Time
	// Failure is why the directory did not take the write (its refusal, or no answer); "" when it
	// did.
	Failure string
}

// DirectorySyncCounts says what one sync did.
type DirectorySyncCounts struct {
	Full     bool // read everyone, for want of a mark
	Read     int  // people the directory returned
	Created  int  // accounts created
	Updated  int  // accounts with any change
	Locked   int  // accounts that became locked, frozen, disabled or expired
	Unlocked int  // accounts whose lock the directory lifted
	Skipped  int  // people not taken: an unusable username or email, or one taken by another account
	// LockNotices counts the owners told that the directory locked them; ExpiryWarnings the
	// warnings of a password about to expire (see directorycare.go).
	LockNotices    int
	ExpiryWarnings int
	// Problems says why people were skipped, the first few.
	Problems []string
}

// maxSyncProblems bounds the reasons a sync keeps for skipped people.
const maxSyncProblems = 20

// ErrDirectorySyncBusy: another process is syncing the directory now.
var ErrDirectorySyncBusy = errors.New("another directory sync is running")

// DirectorySync reads people and lock states from the directory into unlockd's accounts.
type DirectorySync struct {
	*directoryWriter
	reader DirectoryReader
}

// NewDirectorySync returns the sync of reader's directory into store. A nil clock is time.Now.
func NewDirectorySync(reader DirectoryReader, store DirectoryStore, work UnitOfWork, clock Clock) *DirectorySync {
	if clock == nil {
		clock = time.Now
	}
	return &DirectorySync{reader: reader, directoryWriter: &directoryWriter{store: store, work: work, now: clock}}
}

// Run syncs once: the people changed since the stored mark, or everyone when there is none. Each
// person is written in a unit of work of their own, so an error stops the sync with the people
// before it kept; the mark moves only when the whole read succeeded. ErrDirectorySyncBusy when
// another process is syncing.
func (s *DirectorySync) Run(ctx context.Context) (DirectorySyncCounts, error) {
	return s.exclusively(ctx, false)
}

// RunFull syncs everyone, whatever the mark: an incremental sync does not see what changes no
// entry, such as a change made to a directory account in unlockd itself, so one is due now and then.
func (s *DirectorySync) RunFull(ctx context.Context) (DirectorySyncCounts, error) {
	return s.exclusively(ctx, true)
}

func (s *DirectorySync) exclusively(ctx context.Context, full bool) (DirectorySyncCounts, error) {
	var counts DirectorySyncCounts
	ran, err := s.store.Exclusively(ctx, func(ctx context.Context) error {
		counts = DirectorySyncCounts{}
		return s.run(ctx, full, &counts)
	})
	if err == nil && !ran {
		err = ErrDirectorySyncBusy
	}
	return counts, err
}

func (s *DirectorySync) run(ctx context.Context, full bool, counts *DirectorySyncCounts) error {
	directory := s.reader.Name()
	mark, err := s.store.SyncMark(ctx, directory)
	if err != nil {
		return err
	}
	since := mark
	if full {
		since = ""
	}
	counts.Full = since == ""
	read := readGuard{since: s.now()}
	next, err := s.reader.People(ctx, since, func(p DirectoryPerson) error {
		counts.Read++
		err := s.apply(ctx, p, read, counts)
		if errors.Is(err, errChangedMeanwhile) {
			// Unlocked here after the directory was read: what was read may predate the unlock,
			// which changed the person's entry, so the next sync reads them again.
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("directory sync: %w", err)
	}
	if next != mark {
		if err := s.store.SetSyncMark(ctx, directory, next, s.now()); err != nil {
			return err
		}
	}
	// Only after a whole read: an expiry the sync could not refresh may be one the person has
	// already pushed back with a new password.
	return s.warnExpiring(ctx, counts)
}

// readGuard keeps a person read by a sync from being written over a change unlockd made after
// the read (an unlock that lifted the directory's lock, say), which the read may predate. A flow's
// read needs none: it holds the account's row while it reads (liveAccounts).
type readGuard struct {
	// since is when the directory was read (a sync reads many people before it writes them): an
	// account unlockd changed after that is not locked again by what was read.
	since time.Time
	// onlyNew: the person was read for an account that did not exist yet, so what was read may
	// only make it; an account made meanwhile is not written over.
	onlyNew bool
}

// stale reports whether writing want over before would undo a change made after the read.
func (g readGuard) stale(before, want *Account) bool {
	if g.onlyNew {
		return true
	}
	return !g.since.IsZero() && before.UpdatedAt.After(g.since) && isDirectoryLock(want.State) && !isDirectoryLock(before.State)
}

// apply brings one person's account in line with the directory. A person who cannot be taken is
// counted as skipped, with the reason; only a failure of the storage stops the sync. When what was
// read is stale by the guard, apply writes nothing and answers errChangedMeanwhile.
func (s *directoryWriter) apply(ctx context.Context, p DirectoryPerson, read readGuard, counts *DirectorySyncCounts) error {
	person, problem := directoryAccount(p)
	if problem != "" {
		counts.skip(p.Username, problem)
		return nil
	}
	now := s.now()
	// Most people are unchanged: read without a transaction, and write only when something differs.
	before, err := s.store.AccountForSync(ctx, person.Username)
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return err
	}
	if before != nil && !NewPersonOf(before, person) && len(directoryChanges(before, withOwnLock(before, person))) == 0 {
		return nil
	}
	var want *Account
	var change DirectoryChange
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		before, err := s.store.AccountForSync(ctx, person.Username)
		switch {
		case ErrorCode(err) == ENOTFOUND:
			before = nil
		case err != nil:
			return err
		case before.Source != SourceDirectory:
			return Errorf(ECONFLICT, "a local account has the username %s", before.Username)
		}
		newPerson := NewPersonOf(before, person)
		if want = withOwnLock(before, person); newPerson {
			want = person // the lock of unlockd's own was on the one before
		}
		if before != nil && read.stale(before, want) {
			return errChangedMeanwhile
		}
		a := *want
		change = DirectoryChange{Actor: "directory", Now: now, LockedAt: p.LockedAt, NewPerson: newPerson}
		if before == nil {
			change.Created = true
		} else {
			change.Fields = directoryChanges(before, want)
			if len(change.Fields) == 0 {
				return nil
			}
			change.From = before.EffectiveState(now)
			a.ID, a.Username, a.Role = before.ID, before.Username, before.Role
			if newPerson {
				a.Role = RoleUser // a role was the one before's, as everything else they had
			}
		}
		if err := s.store.SaveDirectoryAccount(ctx, &a, change); err != nil {
			return err
		}
		return s.afterSave(ctx, before, &a, &change)
	})
	switch {
	case ErrorCode(err) == ECONFLICT:
		counts.skip(p.Username, err.Error())
		return nil
	case err != nil:
		return err
	}
	if change.LockNoticed {
		counts.LockNotices++
	}
	switch {
	case change.Created:
		counts.Created++
		if isDirectoryLock(want.State) {
			counts.Locked++
		}
	case len(change.Fields) > 0:
		counts.Updated++
		switch {
		case isDirectoryLock(want.State) && !isDirectoryLock(change.From):
			counts.Locked++
		case want.State == StateActive && isDirectoryLock(change.From):
			counts.Unlocked++
		}
	}
	return nil
}

func (c *DirectorySyncCounts) skip(username, problem string) {
	c.Skipped++
	if len(c.Problems) < maxSyncProblems {
		c.Problems = append(c.Problems, fmt.Sprintf("%q: %s", username, problem))
	}
}

// isDirectoryLock reports whether a state keeps the person out.
func isDirectoryLock(s State) bool {
	switch s {
	case StateLockedTemporarily, StateLocked, StateFrozen, StateDisabled, StateExpired:
		return true
	}
	return false
}

// directoryAccount is the account a directory person should have, or why they cannot have one. A
// phone number that is not in international form is left out, not a reason to skip the person.
func directoryAccount(p DirectoryPerson) (*Account, string) {
	if err := ValidateUsername(p.Username); err != nil {
		return nil, err.Error()
	}
	if p.DN == "" {
		return nil, "the directory gave no DN"
	}
	email, err := NormalizeEmail(p.Email)
	if err != nil {
		return nil, "no usable email address (mail): " + err.Error()
	}
	phone, _ := NormalizePhone(p.Phone)
	name, err := ValidateDisplayName(p.DisplayName)
	if err != nil {
		name = ""
	}
	if !p.State.Valid() || p.State == StatePendingVerification {
		return nil, fmt.Sprintf("the directory state %q is not one of an account", p.State)
	}
	a := &Account{Source: SourceDirectory, DirectoryDN: p.DN, DirectoryID: p.ID, Username: p.Username, Email: email, Phone: phone,
		DisplayName: name, Role: RoleUser, State: p.State, Reason: directoryReason(p.State)}
	if p.State == StateLockedTemporarily {
		if p.LockedUntil == nil {
			return nil, "a temporary lock without an end"
		}
		until := p.LockedUntil.UTC().Truncate(time.Microsecond) // as the database keeps it
		a.LockedUntil = &until
	}
	if p.PasswordExpiresAt != nil {
		expires := p.PasswordExpiresAt.UTC().Truncate(time.Microsecond)
		a.PasswordExpiresAt = &expires
	}
	return a, ""
}

// directoryReason is the recorded reason for a state the directory decided.
func directoryReason(s State) string {
	switch s {
	case StateLockedTemporarily:
		return "locked by the directory after failed sign-ins"
	case StateLocked:
		return "locked by the directory until someone unlocks it"
	case StateFrozen:
		return "locked by a directory administrator"
	case StateDisabled:
		return "disabled in the directory"
	case StateExpired:
		return "expired in the directory"
	}
	return ""
}

// directoryChanges names the fields in which the stored account differs from the directory's.
func directoryChanges(have, want *Account) []string {
	var changed []string
	add := func(differ bool, field string) {
		if differ {
			changed = append(changed, field)
		}
	}
	add(have.Source != SourceDirectory, "source")
	add(have.DirectoryDN != want.DirectoryDN, "dn")
	add(have.DirectoryID != want.DirectoryID, "directory_id")
	add(have.Email != want.Email, "email")
	add(have.Phone != want.Phone, "phone")
	add(have.DisplayName != want.DisplayName, "display_name")
	add(have.State != want.State, "state")
	add(have.Reason != want.Reason, "reason")
	add(!sameTime(have.LockedUntil, want.LockedUntil), "locked_until")
	add(!sameTime(have.PasswordExpiresAt, want.PasswordExpiresAt), "password_expires_at")
	return changed
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
