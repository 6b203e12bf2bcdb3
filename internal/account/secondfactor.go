package account

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/notice"
)

// SecondFactors enrolls an authenticator app and makes recovery codes for a signed-in person.
type SecondFactors struct {
	*kit
	secondFactors FactorStore
}

// Factors are the second-factor primitives the domain uses (package secret provides them).
type Factors struct {
	NewTOTP               func(accountName string) (secret, url string, err error)
	MatchTOTP             func(secret, code string, now time.Time) (step int64, ok bool)
	Seal                  func(plain string) ([]byte, error)
	Open                  func(sealed []byte) (string, error)
	NewRecoveryCode       func() (string, error)
	NormalizeRecoveryCode func(string) string
}

// RecoveryCodeCount is how many recovery codes a set has.
const RecoveryCodeCount = 10

// FactorStore keeps second factors.
type FactorStore interface {
	// TOTPSecret returns the sealed secret and the last used step; ENOTFOUND when none is enrolled.
	TOTPSecret(ctx context.Context, accountID int64) (sealed []byte, lastStep int64, err error)
	// EnrollTOTP stores (or replaces) the secret, with the step of the confirming code as used,
	// queues msg and audits it.
	EnrollTOTP(ctx context.Context, accountID int64, username string, sealed []byte, step int64, keep KeptSession, client string, now time.Time, msg Message) error
	// UseTOTPStep records step as used; false when it (or a later one) was used already: a replay.
	UseTOTPStep(ctx context.Context, accountID, step int64) (bool, error)
	// ReplaceRecoveryCodes stores a new set, invalidating the old one; queues msg and audits.
	ReplaceRecoveryCodes(ctx context.Context, accountID int64, username string, hashes [][]byte, keep KeptSession, client string, now time.Time, msg Message) error
	// UseRecoveryCode marks one code used and, in the same transaction, queues notice with the
	// number that remain as its "Remaining" datum; ok false when it matched none.
	UseRecoveryCode(ctx context.Context, accountID int64, hash []byte, now time.Time, notice Message) (remaining int, ok bool, err error)
	// SecondFactors tells whether the account has TOTP and how many recovery codes remain.
	SecondFactors(ctx context.Context, accountID int64) (totp bool, recoveryLeft int, err error)
	// RecordFactorFailure audits a wrong second-factor entry on the unlock pages.
	RecordFactorFailure(ctx context.Context, accountID int64, username, method, client string, now time.Time) error
}

// FactorStatus is what the account page shows.
type FactorStatus struct {
	TOTP         bool
	RecoveryLeft int
}

// SecondFactorStatus reports an account's second factors.
func (s *SecondFactors) SecondFactorStatus(ctx context.Context, accountID int64) (FactorStatus, error) {
	t, n, err := s.secondFactors.SecondFactors(ctx, accountID)
	return FactorStatus{TOTP: t, RecoveryLeft: n}, err
}

// BeginTOTP makes a new secret for the account to enroll; nothing is stored until ConfirmTOTP.
func (s *SecondFactors) BeginTOTP(a *Account) (secret, url string, err error) {
	return s.factors.NewTOTP(a.Username)
}

// ConfirmTOTP enrolls a secret once a first code from the app matches it, asked from the session
// thisSession (a handle; a is the account as that session was checked against): ErrSessionEnded,
// changing nothing, when the session ended meanwhile. An empty thisSession is no browser's.
func (s *SecondFactors) ConfirmTOTP(ctx context.Context, a *Account, secret, code, thisSession, client, lang string) error {
	now := s.now()
	step, ok := s.factors.MatchTOTP(secret, code, now)
	if !ok {
		return ErrBadCode
	}
	sealed, err := s.factors.Seal(secret)
	if err != nil {
		return err
	}
	return s.secondFactors.EnrollTOTP(ctx, a.ID, a.Username, sealed, step, askingSession(a, thisSession), client, now,
		s.factorMessage(a, lang, notice.TOTPAdded, now))
}

// NewRecoveryCodes replaces the account's recovery codes with ten new ones, returned once, asked
// from the session thisSession as for ConfirmTOTP.
func (s *SecondFactors) NewRecoveryCodes(ctx context.Context, a *Account, thisSession, client, lang string) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		c, err := s.factors.NewRecoveryCode()
		if err != nil {
			return nil, err
		}
		codes[i], hashes[i] = c, s.opts.HashToken(c)
	}
	now := s.now()
	if err := s.secondFactors.ReplaceRecoveryCodes(ctx, a.ID, a.Username, hashes, askingSession(a, thisSession), client, now, s.factorMessage(a, lang, notice.RecoveryCodesCreated, now)); err != nil {
		return nil, err
	}
	return codes, nil
}

func (s *kit) factorMessage(a *Account, lang, change string, now time.Time) Message {
	return compose(ChannelEmail, a.Email, s.readerOf(a, lang), notice.FactorChanged{Name: a.Name(), At: now, Change: change})
}

// checkSecondFactor proves a TOTP code or a recovery code and says which it was. A TOTP step works
// once; a recovery code works once and the owner is told, with how many remain.
func (s *guard) checkSecondFactor(ctx context.Context, a *Account, code, client string) (method string, ok bool, err error) {
	code = strings.TrimSpace(code)
	if len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		sealed, last, err := s.secondFactors.TOTPSecret(ctx, a.ID)
		if ErrorCode(err) == ENOTFOUND {
			return "totp", false, nil
		} else if err != nil {
			return "totp", false, err
		}
		secret, err := s.factors.Open(sealed)
		if err != nil {
			return "totp", false, err
		}
		step, match := s.factors.MatchTOTP(secret, code, s.now())
		if !match || step <= last {
			return "totp", false, nil
		}
		fresh, err := s.secondFactors.UseTOTPStep(ctx, a.ID, step)
		return "totp", fresh, err
	}
	norm := s.factors.NormalizeRecoveryCode(code)
	// The code is burnt and its owner told in one transaction: never one without the other.
	_, used, err := s.secondFactors.UseRecoveryCode(ctx, a.ID, s.opts.HashToken(norm), s.now(),
		s.factorMessage(a, "", notice.RecoveryCodeUsed, s.now()))
	return "recovery", used && err == nil, err
}

// HasSecondFactor reports whether sign-in needs a second step for the account.
func (s *guard) HasSecondFactor(ctx context.Context, accountID int64) (bool, error) {
	t, n, err := s.secondFactors.SecondFactors(ctx, accountID)
	return t || n > 0, err
}

// SignInSecondFactor is the second step of sign-in (/login/totp): a TOTP code or a recovery code,
// under the same lockout rules as the password.
func (s *Gate) SignInSecondFactor(ctx context.Context, accountID int64, req SignInRequest, code string) (*SignInResult, error) {
	now := s.now()
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.accounts.AccountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	reject := Rejection{AccountID: &a.ID, Username: a.Username, Client: req.ClientIP, UserAgent: printable(req.UserAgent), Now: now}
	req.secondStep = true
	return s.attempt(ctx, a, req, policy, reject, nil, func(ctx context.Context) (bool, string, error) {
		m, ok, err := s.checkSecondFactor(ctx, a, code, req.ClientIP)
		return ok, m, err
	})
}

// Wrong TOTP or recovery entries on the unlock pages do not lock the account (an attacker must not
// keep the owner out), so the ledger bounds them: MaxFactorGuesses per FactorGuessWindow for the
// account from unknown browsers, and as many again for each known device of the account.
const (
	MaxFactorGuesses  = 10
	FactorGuessWindow = time.Hour
)

// UnlockWithFactor is UnlockWithCode for the methods that need no message: an authenticator code or
// a recovery code. The guess is reserved on the ledger before it is checked and given back only
// when it proves right, so concurrent guesses never check more than the allowance.
func (s *SelfService) UnlockWithFactor(ctx context.Context, p Proof) (*UnlockResult, error) {
	a, err := s.proofAccount(ctx, p, PurposeUnlock)
	if err != nil {
		return nil, err
	}
	now := s.now()
	device, err := s.guard.knownDevice(ctx, a.ID, p.DeviceToken)
	if err != nil {
		return nil, err
	}
	subject := guessSubject(a.ID, device)
	n, err := s.ledger.Reserve(ctx, scopeFactorGuess, subject, FactorGuessWindow, now)
	if err != nil {
		return nil, err
	}
	if !Within(n, MaxFactorGuesses) {
		s.metrics.Throttled("unlock_factor")
		return nil, ErrBadCode
	}
	// Counted: from here the outcome is written even if the client hangs up.
	ctx = context.WithoutCancel(ctx)
	method, ok, err := s.guard.checkSecondFactor(ctx, a, p.Code, p.Client)
	if err != nil {
		return nil, errors.Join(err, s.ledger.Release(ctx, scopeFactorGuess, subject))
	}
	if !ok {
		if err := s.secondFactors.RecordFactorFailure(ctx, a.ID, a.Username, method, p.Client, now); err != nil {
			return nil, err
		}
		return nil, ErrBadCode
	}
	if err := s.ledger.Release(ctx, scopeFactorGuess, subject); err != nil {
		return nil, err
	}
	return s.finishUnlock(ctx, a, method, p)
}
