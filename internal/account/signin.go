package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/unlockd/unlockd/internal/lockout"
	"github.com/unlockd/unlockd/internal/notice"

	"github.com/unlockd/unlockd/internal/audit"
)

// guard is the one way a secret is tried on an account (the guess ledger): it counts the attempt
// before checking it, applies the lock, and refuses the same way whatever the reason. The sign-in,
// the second step, the owner's password change and the unlock pages all go through it.
type guard struct {
	*kit
	accounts      AccountStore
	lockout       LockoutStore
	ledger        LedgerStore
	hasher        Hasher
	checkTimes    CheckTimes
	secondFactors FactorStore
	alerts        AlertStore
	states        StateStore
	// waveSeen is when checkWave last found a lockout wave (Unix nanoseconds; see alerts.go).
	waveSeen atomic.Int64
	// signIns is how many password sign-ins are under way: the load a check's time was taken at.
	signIns atomic.Int64
}

// Gate signs people in: a password, a one-time code, and the second step, under the lockout policy.
type Gate struct {
	*guard
	book *codebook
}

// MaxPasswordLength is the longest password accepted, in code points (SECURITY.md: up to 256, no truncation).
const MaxPasswordLength = 256

// ErrBadCredentials is the one answer to every failed sign-in: unknown user, wrong password and a
// right password on an account that may not sign in all look the same.
var ErrBadCredentials = &Error{Code: EUNAUTHORIZED, Message: "The username or password is not correct, or the account cannot sign in right now."}

// ErrThrottled answers a client that failed on too many accounts.
var ErrThrottled = &Error{Code: ETHROTTLED, Message: "Too many failed sign-ins from this network. Try again later."}

// SignInRequest is one password sign-in attempt.
type SignInRequest struct {
	Login       string
	Password    string
	ClientIP    string
	UserAgent   string
	DeviceToken string // the browser's device cookie, if any
	Flow        string // the nonce of the code sign-in flow, for SignInWithCode
	Lang        string // the language of the page signed in from (en, zh-CN), learned by the account

	secondStep bool // this attempt is the second factor after a password
	// reauthentication: a signed-in owner re-enters the password to change it. It is counted and
	// honours the lock like any sign-in; when right, the attempt is given back and nothing else
	// happens (no session, no device).
	reauthentication bool
}

// SignInResult is a successful sign-in.
type SignInResult struct {
	Account *Account
	// DeviceToken is a new device cookie to give the browser; empty when it already has a valid one.
	DeviceToken string
	// PreviousSignIn is when the account last signed in before this one, if ever: the owner checks it.
	PreviousSignIn *time.Time
	// NeedsSecondFactor: the password was right, and the account has a second factor to prove at
	// /login/totp before it is signed in. Nothing else of the result is set.
	NeedsSecondFactor bool
	// DirectoryPasswordExpired: the directory accepted the password but wants a new one; the page
	// asks the person to choose it now.
	DirectoryPasswordExpired bool
}

// SignIn checks a password under the lockout policy. The order matters:
//  1. a client spraying many accounts is throttled before anything else;
//  2. unknown logins take the time a wrong password takes, without its hashing work;
//  3. the attempt is counted atomically before the password is checked, so concurrent attempts
//     (also in other processes) can never check more passwords than the allowance;
//  4. only then is the password hashed, and the outcome recorded.
//
// Every refusal is ErrBadCredentials (or ErrThrottled for the whole client).
func (s *Gate) SignIn(ctx context.Context, req SignInRequest) (*SignInResult, error) {
	load := s.signIns.Add(1)
	defer s.signIns.Add(-1)
	timeline, now := startTimeline(int(load)), s.now()
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	login, valid := NormalizeLogin(req.Login)
	if utf8.RuneCountInString(req.Password) > MaxPasswordLength || len(req.Password) > 4*MaxPasswordLength {
		valid = false
	}
	password := req.Password[:min(len(req.Password), 4*MaxPasswordLength)]
	reject := Rejection{Username: printable(req.Login), Client: req.ClientIP, UserAgent: printable(req.UserAgent), Now: now, timeline: timeline}

	if err := s.throttleClient(ctx, reject); err != nil {
		return nil, err
	}
	if !valid {
		reject.Reason, reject.Spray = "invalid", sprayPair(req.ClientIP, "invalid")
		return nil, s.refuse(ctx, &password, reject, "unknown")
	}
	a, err := s.accounts.AccountByLogin(ctx, login)
	reject.timeline.mark(stageLookedUp)
	if ErrorCode(err) == ENOTFOUND {
		reject.Reason, reject.Spray = "unknown_user", sprayPair(req.ClientIP, loginKey(login))
		return nil, s.refuse(ctx, &password, reject, "unknown")
	} else if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	reject.AccountID, reject.Username = &a.ID, a.Username
	if s.directory.checks(a) {
		return s.signInDirectory(ctx, a, req, policy, reject, password)
	}
	if a.PasswordHash == "" {
		reject.Reason, reject.Spray = "no_password", sprayPair(req.ClientIP, accountKey(a.ID))
		return nil, s.refuse(ctx, &password, reject, "failure")
	}

	mac := s.passwordMAC(a.ID, password)
	if policy.Lockout.IgnoreRepeated {
		repeated, err := s.lockout.IsRepeatedPassword(ctx, a.ID, mac, now.Add(-RepeatedPasswordMemory))
		if err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
		if repeated {
			// Known to be wrong already: a device retrying a stale saved password. Not counted again
			// on the account, but for the client like any refusal (left out of the client's count,
			// a known account's name would be told by the throttle that an unknown one brings on),
			// unless it comes from a known device of the account, which the throttle never counts.
			reject.Reason = "repeated_password"
			device, err := s.knownDevice(ctx, a.ID, req.DeviceToken)
			if err != nil {
				return nil, fmt.Errorf("sign in: %w", err)
			}
			if device == 0 {
				reject.Spray = sprayPair(req.ClientIP, accountKey(a.ID))
			}
			return nil, s.refuse(ctx, &password, reject, "repeated")
		}
	}

	req.Password = password
	var needsRehash bool
	res, err := s.attempt(ctx, a, req, policy, reject, mac, func(ctx context.Context) (bool, string, error) {
		match, rehash, err := s.hasher.Verify(ctx, password, a.PasswordHash)
		needsRehash = rehash
		return match, "password", err
	})
	if err != nil {
		return nil, err
	}
	if needsRehash {
		if err := s.rehash(ctx, a, password); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// signInDirectory checks a directory account's password by binding as the person, so that the
// directory applies its own policy and counts a failure as well; unlockd's own lockout rules apply
// on top, in the same counted attempt as a local password. The bind is followed by the dummy hash,
// so that the answer takes as long as a local account's or an unknown user's (SECURITY.md 8).
func (s *Gate) signInDirectory(ctx context.Context, a *Account, req SignInRequest, policy Policy, reject Rejection,
	password string) (*SignInResult, error) {
	req.Password = password
	var expired bool
	res, err := s.attempt(ctx, a, req, policy, reject, s.passwordMAC(a.ID, password), func(ctx context.Context) (bool, string, error) {
		match, exp, err := s.directory.checkPassword(ctx, a, password)
		if err != nil {
			return false, "password", err
		}
		expired = exp
		return match, "password", s.hasher.VerifyDummy(ctx, password)
	})
	if err != nil {
		return nil, err
	}
	res.DirectoryPasswordExpired = expired
	return res, nil
}

// attempt runs one counted sign-in attempt on a known account: the attempt is reserved (counted)
// first, then check proves the secret (password or code), then the outcome is recorded. Every way
// in goes through here, so every way in honours the lock (SECURITY.md 4). mac is the password's
// HMAC for a password attempt, nil for a code.
//
// Once the attempt is counted its outcome is written whatever happens to the request: a client
// that hangs up while its secret is checked still leaves a recorded failure, and the lock it may
// lead to (SECURITY.md 26).
func (s *guard) attempt(ctx context.Context, a *Account, req SignInRequest, policy Policy, reject Rejection,
	mac []byte, check func(ctx context.Context) (ok bool, method string, err error)) (*SignInResult, error) {
	now := reject.Now
	deviceID, err := s.knownDevice(ctx, a.ID, req.DeviceToken)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	notice := func(d lockout.Decision) []Message { return s.lockNotice(a, d, now, req.ClientIP) }
	res, err := s.lockout.ReserveAttempt(ctx, Attempt{AccountID: a.ID, Username: a.Username, DeviceID: deviceID,
		Client: req.ClientIP, Policy: policy.Lockout, Now: now, Notice: notice,
		Spray: sprayPair(req.ClientIP, accountKey(a.ID))})
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if res.Throttled {
		return nil, s.refuseThrottled(ctx, reject)
	}
	// Counted (or refused, or locked by rule): nothing below depends on the client staying.
	ctx = context.WithoutCancel(ctx)
	if err := s.noteLock(ctx, res.Locked, now); err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if !res.Allowed {
		// Locked, frozen, disabled, expired, or over the allowance: the same time, the same answer,
		// and the lock is not extended.
		reject.Reason, reject.Spray = "locked", sprayPair(req.ClientIP, accountKey(a.ID))
		var password *string // a refused password takes the time a check would; a code takes none
		if mac != nil {
			password = &req.Password
		}
		return nil, s.refuse(ctx, password, reject, "locked")
	}
	if !res.Trusted {
		deviceID = 0
	}
	if deviceID != 0 {
		ctx = s.hasher.WithPriority(ctx) // the owner's device goes before a flood from elsewhere
	}
	// A stranger's wrong password, or a check that found no worker, is what a refusal imitates.
	observe := func(err error) {
		if mac != nil && deviceID == 0 {
			s.observeCheck(reject.timeline, err)
		}
	}
	match, method, err := check(s.stageNotices(ctx, &reject.timeline))
	if err != nil && !errors.Is(err, ErrBadCode) {
		// The secret was never checked: the attempt must not count against the owner.
		if rerr := s.lockout.RefundAttempt(ctx, a.ID, res, deviceID); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		observe(err)
		return nil, fmt.Errorf("sign in: verify: %w", err)
	}
	if !match {
		f := Failure{AccountID: a.ID, Username: a.Username, DeviceID: deviceID, Failures: res.Failures, Policy: policy.Lockout,
			PasswordMAC: mac, Method: method, Client: req.ClientIP, UserAgent: printable(req.UserAgent), Now: now, Notice: notice}
		locked, err := s.lockout.RecordFailure(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
		observe(nil)
		s.metrics.SignIn("failure")
		if err := s.noteLock(ctx, locked, now); err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
		if method != "password" {
			return nil, ErrBadCode
		}
		return nil, ErrBadCredentials
	}

	if req.reauthentication {
		if err := s.lockout.RefundAttempt(ctx, a.ID, res, deviceID); err != nil {
			return nil, fmt.Errorf("sign in: %w", err)
		}
		return &SignInResult{Account: a}, nil
	}
	if !req.secondStep {
		// A password or an emailed code is only the first step when the account has a second
		// factor: it neither signs in nor resets the count (the attempt is given back; the second
		// step counts).
		second, err := s.HasSecondFactor(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		if second {
			if err := s.lockout.RefundAttempt(ctx, a.ID, res, deviceID); err != nil {
				return nil, err
			}
			return &SignInResult{Account: a, NeedsSecondFactor: true}, nil
		}
	}
	result := &SignInResult{Account: a, PreviousSignIn: a.LastSignInAt}
	succ := Success{AccountID: a.ID, Username: a.Username, DeviceID: deviceID, Client: req.ClientIP,
		UserAgent: printable(req.UserAgent), Method: method, Now: now, Spray: res.Spray}
	if deviceID == 0 {
		token, hash, err := s.newDeviceToken()
		if err != nil {
			return nil, err
		}
		result.DeviceToken, succ.NewDeviceHash = token, hash
	}
	ok, err := s.lockout.RecordSuccess(ctx, succ)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if !ok {
		// Locked by concurrent failures while this secret was being checked.
		s.metrics.SignIn("locked")
		return nil, ErrBadCredentials
	}
	a.LastSignInAt = &now
	s.metrics.SignIn("success")
	s.learnLanguage(ctx, a, req.Lang)
	return result, nil
}

// noteLock reports an automatic lock the store applied, if any, and looks for a lockout wave.
func (s *guard) noteLock(ctx context.Context, o lockout.Outcome, now time.Time) error {
	if o == lockout.NoLock {
		return nil
	}
	s.metrics.Lock(o.String())
	return s.checkWave(ctx, now)
}

// lockNotice is what an automatic lock queues: the owner's email and the webhook events.
func (s *guard) lockNotice(a *Account, d lockout.Decision, now time.Time, client string) []Message {
	return append([]Message{s.lockedMessage(a, d, now, client)},
		s.events(audit.AccountLocked, a, now, "state", lockedState(d.Outcome), "source", "automatic")...)
}

// lockedMessage tells the owner their account locked, when, from where, and how to unlock it.
func (s *kit) lockedMessage(a *Account, d lockout.Decision, now time.Time, client string) Message {
	n := notice.Locked{Name: a.Name(), At: now, Place: client, UnlockLink: s.link("/unlock")}
	if d.Until.After(now) {
		n.Until = d.Until
	}
	return compose(ChannelEmail, a.Email, s.readerOf(a, ""), n)
}

// SignInWithCode signs in with a one-time code sent by SendCode (purpose signin), under the same
// lockout rules as a password: a wrong code counts as a failed sign-in.
func (s *Gate) SignInWithCode(ctx context.Context, req SignInRequest, code string) (*SignInResult, error) {
	now := s.now()
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	reject := Rejection{Username: printable(req.Login), Client: req.ClientIP, UserAgent: printable(req.UserAgent), Now: now}
	if err := s.throttleClient(ctx, reject); err != nil {
		return nil, err
	}
	a, err := s.guard.accountByLogin(ctx, req.Login)
	if ErrorCode(err) == ENOTFOUND {
		// Recorded and counted for the client as a wrong code for an account is: the throttle
		// must not tell one from the other.
		login, _ := NormalizeLogin(req.Login)
		reject.Reason, reject.Spray = "unknown_user", sprayPair(req.ClientIP, loginKey(login))
		if err := s.refuse(ctx, nil, reject, "unknown"); !errors.Is(err, ErrBadCredentials) {
			return nil, err
		}
		return nil, ErrBadCode
	} else if err != nil {
		return nil, err
	}
	reject.AccountID, reject.Username = &a.ID, a.Username
	return s.attempt(ctx, a, req, policy, reject, nil, func(ctx context.Context) (bool, string, error) {
		_, err := s.book.verifyCode(ctx, a, PurposeSignIn, req.Flow, code, req.ClientIP)
		if errors.Is(err, ErrBadCode) {
			return false, "code", nil
		}
		return err == nil, "code", err
	})
}

// throttleClient refuses every sign-in from a client that failed on too many accounts lately
// (password spraying): ErrThrottled, recorded.
func (s *guard) throttleClient(ctx context.Context, reject Rejection) error {
	n, err := s.lockout.ClientFailureCount(ctx, ClientNetwork(reject.Client), reject.Now.Add(-ClientWindow))
	if err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if !SprayThrottled(n) {
		return nil
	}
	return s.refuseThrottled(ctx, reject)
}

// refuseThrottled answers a spraying client: ErrThrottled, recorded and counted, with no hashing.
func (s *guard) refuseThrottled(ctx context.Context, reject Rejection) error {
	reject.Reason, reject.Throttled = "throttled", true
	s.metrics.Throttled("sign_in")
	s.metrics.Rejection(reject.Reason, "none")
	s.metrics.SignIn("throttled")
	if err := s.lockout.RecordRejection(ctx, reject); err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	return ErrThrottled
}

// refuse records a refused password attempt and answers it when a wrong password, checked and
// recorded, would have been answered (see checktimes.go). A refused code (password == nil) waits
// for nothing, as checking a code does not.
func (s *guard) refuse(ctx context.Context, password *string, r Rejection, result string) error {
	if err := s.lockout.RecordRejection(ctx, r); err != nil {
		return fmt.Errorf("sign in: %w", err)
	}
	if password == nil {
		s.metrics.Rejection(r.Reason, "none")
	} else if err := s.imitateCheck(ctx, r, *password); err != nil {
		return err
	}
	s.metrics.SignIn(result)
	return ErrBadCredentials
}

func accountKey(id int64) string { return fmt.Sprintf("account:%d", id) }

// loginKey is what the spraying throttle counts for a login that is no account's.
func loginKey(login string) string { return "login:" + strings.ToLower(login) }

// printable bounds and cleans text that goes into the audit log.
func printable(s string) string {
	if len(s) > 256 {
		s = s[:256]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// rehash upgrades a stored hash to the current parameters. Losing the race to a concurrent password
// change is fine: the newer password wins.
func (s *guard) rehash(ctx context.Context, a *Account, password string) error {
	h, err := s.hasher.Hash(ctx, password)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		// The sign-in itself succeeded; the upgrade waits for the next one.
		return nil
	}
	if _, err := s.accounts.SetPasswordHash(ctx, a.ID, a.PasswordHash, h); err != nil {
		return fmt.Errorf("sign in: rehash: %w", err)
	}
	a.PasswordHash = h
	return nil
}

func lockedState(o lockout.Outcome) string {
	if o == lockout.LockHard {
		return string(StateLocked)
	}
	return string(StateLockedTemporarily)
}

// learnLanguage remembers the language of the browser a person signed in or proved who they are
// from, for the messages they do not ask for (lock notices, staff actions). It is a courtesy: a
// failure to write it fails nothing.
func (s *guard) learnLanguage(ctx context.Context, a *Account, lang string) {
	if !ValidLanguage(lang) || a.Language == lang {
		return
	}
	if err := s.accounts.SetLanguage(ctx, a.ID, lang); err == nil {
		a.Language = lang
	}
}
