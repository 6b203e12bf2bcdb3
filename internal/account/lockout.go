package account

import (
	"context"
	"time"

	"github.com/unlockd/unlockd/internal/lockout"
)

// Spraying throttle: one client failing to sign in to more than ClientAccountLimit different accounts
// within ClientWindow gets 429 for every sign-in until the window has passed. A person mistyping
// their own password fails on one account and never meets it; the account's own lockout handles
// them.
const (
	ClientAccountLimit = 20
	ClientWindow       = 15 * time.Minute
	// RepeatedPasswordMemory is how long the HMAC of a wrong password is kept to recognise a retry.
	RepeatedPasswordMemory = time.Hour
	// RepeatedPasswordKeep is how many recent wrong passwords are remembered per account.
	RepeatedPasswordKeep = 5
)

// SprayThrottled is the spraying rule: a client that failed on otherAccounts different accounts in
// the last ClientWindow (not counting the one it tries now) may try no more.
func SprayThrottled(otherAccounts int) bool { return otherAccounts >= ClientAccountLimit }

// SprayPair is one account a client tries, as the spraying throttle counts it: reserved before the
// secret is checked (so a burst at many accounts cannot pass the limit while the count still reads
// low), kept when the secret was wrong, released when it was right or never checked.
type SprayPair struct {
	Client string // the client's network (ClientNetwork)
	Key    string // what it tried: "account:ID", or "login:NAME" for a login that is no account's
}

// sprayPair is the pair of client (an address) and key the spraying throttle counts.
func sprayPair(client, key string) SprayPair {
	return SprayPair{Client: ClientNetwork(client), Key: key}
}

// LockNotice builds what an automatic lock queues with it (the owner's email, webhook events)
// from the rules' decision.
type LockNotice func(d lockout.Decision) []Message

// Attempt is one attempt to count before its secret is checked.
type Attempt struct {
	AccountID int64
	Username  string
	DeviceID  int64 // the browser's known device of this account, or 0
	Client    string
	Policy    lockout.Policy
	Now       time.Time
	// Notice is queued when the reservation finds the account already at the threshold and locks it.
	Notice LockNotice
	// Spray is the pair the client's spraying throttle reserves when the attempt is not counted on a
	// known device (SprayThrottled decides); empty: not counted.
	Spray SprayPair
}

// Reservation is the outcome of counting an attempt before its secret is checked.
type Reservation struct {
	Allowed  bool // the attempt is within the allowance and the account (or device) may sign in
	Failures int  // the counter after this attempt
	Trusted  bool // counted on a known device's own allowance rather than the account's
	// Locked is the lock the rules applied at this reservation: the count was already at the
	// threshold with the account still active (the outcome of earlier attempts was never written,
	// or they are still being checked). An account at or over the threshold is locked by rule,
	// never left to the luck of which write lands.
	Locked lockout.Outcome
	// Throttled: the client is spraying (SprayThrottled); nothing was counted on the account.
	Throttled bool
	// Spray is the pair reserved for the spraying throttle, to release if the secret proves right or
	// is never checked; empty when none was reserved.
	Spray SprayPair
}

// Failure is a wrong secret on a counted attempt. The store applies what it leads to (the rules'
// lock decision, the device's lockout) in the transaction that records it.
type Failure struct {
	AccountID   int64
	Username    string
	DeviceID    int64 // the known device counted, or 0
	Failures    int
	Policy      lockout.Policy
	PasswordMAC []byte // nil when the secret was a code
	Method      string // password, code, totp
	Client      string
	UserAgent   string
	Now         time.Time
	Notice      LockNotice // queued with a lock
}

// Success is a right password on a counted attempt.
type Success struct {
	AccountID     int64
	Username      string
	DeviceID      int64  // the known device, or 0
	NewDeviceHash []byte // SHA-256 of a new device cookie's nonce, when the browser had none
	Client        string
	UserAgent     string
	Method        string // "password"
	Now           time.Time
	Spray         SprayPair // the reservation's pair, released: a right secret is not spraying
}

// Rejection is an attempt refused without counting on an account: unknown user, throttled client,
// a retried wrong password, or an account that may not sign in.
type Rejection struct {
	AccountID *int64
	Username  string // the account's, or what was typed
	Reason    string // unknown_user, throttled, repeated_password, locked, no_password, invalid
	Client    string
	Spray     SprayPair // when set, counts towards the client's spraying throttle
	Throttled bool
	UserAgent string
	Now       time.Time

	// timeline is when the sign-in passed each stage of its way so far, by the wall clock rather
	// than the service's clock: a refusal's answer is timed from the last (see checktimes.go).
	// Empty for other attempts.
	timeline timeline
}

// LockoutStore keeps the counters, locks and devices. Every method is atomic on its own; counters
// change in single statements so that concurrent attempts and several processes agree.
type LockoutStore interface {
	// Policy loads the current policy.
	Policy(ctx context.Context) (Policy, error)
	// SetPolicy stores changed keys (already validated) and audits each change, in one transaction.
	SetPolicy(ctx context.Context, changes map[string]string, actor string, now time.Time) error
	// ClientFailureCount counts the accounts client failed on since then.
	ClientFailureCount(ctx context.Context, client string, since time.Time) (int, error)
	// IsRepeatedPassword reports whether mac is one of the account's recent wrong passwords.
	IsRepeatedPassword(ctx context.Context, accountID int64, mac []byte, since time.Time) (bool, error)
	// DeviceAccount returns the device id and its account for a device cookie's nonce hash. ENOTFOUND.
	DeviceAccount(ctx context.Context, nonceHash []byte) (deviceID, accountID int64, err error)
	// ReserveAttempt counts an attempt in one statement before the secret is checked: on the known
	// device's own counter when the device is set and not locked out, else on the account's, and
	// only where MaySignIn allows. An expired temporary lock lifts here; a count already at the
	// threshold locks by the rules here.
	ReserveAttempt(ctx context.Context, a Attempt) (Reservation, error)
	// RefundAttempt takes back a reservation whose secret was not checked, or that was only a
	// first step.
	RefundAttempt(ctx context.Context, accountID int64, r Reservation, deviceID int64) error
	// RecordFailure applies a failure in one transaction: the rules' lock decision (lockout.AfterFailure
	// over the recent temporary locks, read in the same transaction), the device lockout, the
	// remembered wrong password, the client's count and the audit events. It returns the lock applied.
	RecordFailure(ctx context.Context, f Failure) (lockout.Outcome, error)
	// RecordSuccess resets the counters and notes the sign-in, unless the account was locked in the
	// meantime (ok false). It registers a new device when NewDeviceHash is set.
	RecordSuccess(ctx context.Context, s Success) (ok bool, err error)
	// RecordRejection audits a refused attempt and counts it for the client when Spray is set.
	RecordRejection(ctx context.Context, r Rejection) error
}

// Metrics observes what the service does; the server exports it to Prometheus.
type Metrics interface {
	SignIn(result string)
	Lock(cause string)
	Unlock(method string)
	Throttled(where string)
	// Rejection counts a sign-in refused without a password check, by reason (as Rejection.Reason)
	// and what it cost: "padded", "dummy_hash", "busy" or "none".
	Rejection(reason, cost string)
}

type noMetrics struct{}

func (noMetrics) SignIn(string)            {}
func (noMetrics) Lock(string)              {}
func (noMetrics) Unlock(string)            {}
func (noMetrics) Throttled(string)         {}
func (noMetrics) Rejection(string, string) {}
