// Package account is unlockd's domain: accounts, their states and roles, the errors every layer
// speaks, and the Service with the use cases (signing in, adding and importing accounts). It states
// the small interfaces it needs (Store, Hasher, Clock) and imports only the standard library.
package account

import (
	"time"
)

// State is where an account stands. The words are part of the contract (CLI, API, pages).
type State string

const (
	StateActive              State = "active"
	StateLockedTemporarily   State = "locked_temporarily"
	StateLocked              State = "locked"
	StateFrozen              State = "frozen"
	StateDisabled            State = "disabled"
	StatePendingVerification State = "pending_verification"
	StateExpired             State = "expired"
)

// States lists every state, in the order pages show them.
var States = []State{StateActive, StateLockedTemporarily, StateLocked, StateFrozen, StateDisabled,
	StatePendingVerification, StateExpired}

// Valid reports whether s is one of the contract's states.
func (s State) Valid() bool {
	for _, v := range States {
		if v == s {
			return true
		}
	}
	return false
}

// Role is what an account may do. Staff roles reach the dashboard.
type Role string

const (
	RoleUser     Role = "user"
	RoleHelpdesk Role = "helpdesk"
	RoleAuditor  Role = "auditor"
	RoleAdmin    Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleUser, RoleHelpdesk, RoleAuditor, RoleAdmin:
		return true
	}
	return false
}

// IsStaff reports whether the role reaches the dashboard (and so gets the shorter session timeouts).
func (r Role) IsStaff() bool { return r.Valid() && r != RoleUser }

// Source is where an account lives: in unlockd's own database, or in a directory (LDAP, Active
// Directory) that unlockd reads it from.
type Source string

const (
	SourceLocal     Source = "local"
	SourceDirectory Source = "directory"
)

// InDirectory reports whether the account lives in a directory: its password and lock are the
// directory's, read and written there (Directory), and only what the directory has a place for is
// changed (refuseDirectoryChange).
func (a *Account) InDirectory() bool { return a.Source == SourceDirectory }

// refuseDirectoryChange refuses a change of a directory account that belongs in the directory
// itself (a freeze, a disabling, an expiry): made here, it would not be the directory's.
func refuseDirectoryChange(a *Account) error {
	if !a.InDirectory() {
		return nil
	}
	return Fail(EINVALID, "err_directory_account", nil, "%s lives in the directory: change it there", a.Username)
}

// Account is one person's account in the business system.
type Account struct {
	ID          int64
	Source      Source // "" is SourceLocal
	DirectoryDN string // the directory's name of the person, for a directory account
	// DirectoryID is the directory's own identifier of the person (entryUUID, objectGUID), which no
	// rename, move or reuse of the username changes; "" until a read of the person records it.
	DirectoryID    string
	Username       string
	Email          string
	Phone          string // E.164, or empty
	DisplayName    string
	Role           Role
	State          State
	Reason         string // why the account is in its state, when someone said
	LockedUntil    *time.Time
	PasswordHash   string
	Language       string // "", "en" or "zh-CN"
	TimeZone       string // IANA name the owner reads times in, or "" for the organisation's
	ExpiresAt      *time.Time
	FailedAttempts int
	LastSignInAt   *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// SessionEpoch counts the times all of the account's sessions were ended. A session carries the
	// value of its sign-in and is refused once the account's differs (SECURITY.md 27).
	SessionEpoch int64

	// PasswordExpiresAt is when the directory's password policy expires a directory account's
	// password, as the last sync read it; nil when it never does, and for a local account.
	PasswordExpiresAt *time.Time
}

// EffectiveState is the state as of now: a temporary lock or a time-limited freeze whose time has
// passed has lifted, and an account past its expiry is expired, even before any write records it.
func (a *Account) EffectiveState(now time.Time) State {
	state := a.State
	if (state == StateLockedTemporarily || state == StateFrozen) && a.LockedUntil != nil && !now.Before(*a.LockedUntil) {
		state = StateActive
	}
	// Past its end an account is expired, whatever automatic lock it had: unlocking it would not
	// let anyone in.
	switch state {
	case StateActive, StateLockedTemporarily, StateLocked:
		if a.ExpiresAt != nil && !now.Before(*a.ExpiresAt) {
			return StateExpired
		}
	}
	return state
}

// Name is how pages greet the account: the display name, else the username.
func (a *Account) Name() string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	return a.Username
}
