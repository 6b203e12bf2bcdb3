package account

import "time"

// MaySignIn is the one rule for who may try a secret on an account (a password, a sign-in code, a
// second factor, the API's authenticate), given the account's effective state at the time
// (EffectiveState: a lapsed temporary lock or freeze is active again, a past end is expired):
//   - on an active account, anyone may try;
//   - through a temporary lock, only the owner's known device (a signed device cookie that signed
//     in before): failures from elsewhere do not keep the owner out (SECURITY.md 5);
//   - on locked, frozen, disabled, expired or pending accounts, no one: a hard lock is lifted by
//     verification at /unlock or by an administrator, never by a password.
//
// The storage layer writes the same rule in SQL for its atomic reservations; a table test holds the
// two together.
func MaySignIn(state State, knownDevice bool) bool {
	switch state {
	case StateActive:
		return true
	case StateLockedTemporarily:
		return knownDevice
	}
	return false
}

// SessionCurrent reports whether a session that signed in at sessionEpoch outlived none of its
// account's ends of sessions (a reset, a lock, "sign out everywhere else"...): each moves the
// account's epoch on (SECURITY.md 27). A session that did not is over, and may change nothing: a
// sign-in decided before such an end but saved after it carries the epoch of before, and is
// refused.
func SessionCurrent(accountEpoch, sessionEpoch int64) bool { return accountEpoch == sessionEpoch }

// KeptSession is the session that asks for an owner's change (to end the account's others, to
// change a password, a second factor or a contact), and stays: its handle, and the session epoch
// it carries. It must still be live and current when the change is made: a session ended
// meanwhile (by another of the account's browsers) stays ended, and its request changes nothing
// (ErrSessionEnded). An empty handle is no browser's, and is not checked.
type KeptSession struct {
	Handle string
	Epoch  int64
}

// askingSession is the session of handle that asks for a change of a, as it was checked against a.
func askingSession(a *Account, handle string) KeptSession {
	return KeptSession{Handle: handle, Epoch: a.SessionEpoch}
}

// SessionAllowed is MaySignIn for a signed-in session: its browser proved itself at sign-in, so it
// is a known device, and a session lives exactly while its browser could sign in again. A lock to
// locked or frozen therefore ends it (SECURITY.md 4); a temporary lock from elsewhere does not.
func SessionAllowed(a *Account, now time.Time) bool {
	return MaySignIn(a.EffectiveState(now), true)
}

// Who may sign in, in one word, for the pages that explain a state (status, dashboard).
const (
	SignInAnyone       = "anyone"        // anyone with the password
	SignInKnownDevices = "known_devices" // only browsers that signed in before
	SignInNoOne        = "no_one"        // no one until it is unlocked
)

// SignInAccess is MaySignIn told as one word for a state.
func SignInAccess(state State) string {
	switch {
	case MaySignIn(state, false):
		return SignInAnyone
	case MaySignIn(state, true):
		return SignInKnownDevices
	}
	return SignInNoOne
}
