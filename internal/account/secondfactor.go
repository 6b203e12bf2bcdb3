package account

import (
	"context"
	"strconv"
	"strings"
	"time"
)

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
	EnrollTOTP(ctx context.Context, accountID int64, username string, sealed []byte, step int64, client string, now time.Time, msg Message) error
	// UseTOTPStep records step as used; false when it (or a later one) was used already: a replay.
	UseTOTPStep(ctx context.Context, accountID, step int64) (bool, error)
	// ReplaceRecoveryCodes stores a new set, invalidating the old one; queues msg and audits.
	ReplaceRecoveryCodes(ctx context.Context, accountID int64, username string, hashes [][]byte, client string, now time.Time, msg Message) error
	// UseRecoveryCode marks one code used and returns how many remain; ok false when it matched none.
	UseRecoveryCode(ctx context.Context, accountID int64, hash []byte, now time.Time) (remaining int, ok bool, err error)
	// SecondFactors tells whether the account has TOTP and how many recovery codes remain.
	SecondFactors(ctx context.Context, accountID int64) (totp bool, recoveryLeft int, err error)
	// FactorFailures counts wrong second-factor entries on the unlock pages since then.
	FactorFailures(ctx context.Context, accountID int64, since time.Time) (int, error)
	// RecordFactorFailure audits one.
	RecordFactorFailure(ctx context.Context, accountID int64, username, method, client string, now time.Time) error
}

// SetFactors configures the second-factor primitives.
func (s *Service) SetFactors(f Factors) { s.factors = f }

// FactorStatus is what the account page shows.
type FactorStatus struct {
	TOTP         bool
	RecoveryLeft int
}

// SecondFactorStatus reports an account's second factors.
func (s *Service) SecondFactorStatus(ctx context.Context, accountID int64) (FactorStatus, error) {
	t, n, err := s.store.SecondFactors(ctx, accountID)
	return FactorStatus{TOTP: t, RecoveryLeft: n}, err
}

// BeginTOTP makes a new secret for the account to enroll; nothing is stored until ConfirmTOTP.
func (s *Service) BeginTOTP(a *Account) (secret, url string, err error) {
	return s.factors.NewTOTP(a.Username)
}

// ConfirmTOTP enrolls a secret once a first code from the app matches it.
func (s *Service) ConfirmTOTP(ctx context.Context, a *Account, secret, code, client, lang string) error {
	now := s.now()
	step, ok := s.factors.MatchTOTP(secret, code, now)
	if !ok {
		return ErrBadCode
	}
	sealed, err := s.factors.Seal(secret)
	if err != nil {
		return err
	}
	return s.store.EnrollTOTP(ctx, a.ID, a.Username, sealed, step, client, now, s.factorMessage(a, lang, "totp_added", now))
}

// NewRecoveryCodes replaces the account's recovery codes with ten new ones, returned once.
func (s *Service) NewRecoveryCodes(ctx context.Context, a *Account, client, lang string) ([]string, error) {
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
	if err := s.store.ReplaceRecoveryCodes(ctx, a.ID, a.Username, hashes, client, now, s.factorMessage(a, lang, "recovery_codes_created", now)); err != nil {
		return nil, err
	}
	return codes, nil
}

func (s *Service) factorMessage(a *Account, lang, change string, now time.Time) Message {
	return Message{Channel: ChannelEmail, To: a.Email, Template: "factor_changed", Lang: s.langFor(a, lang),
		Data: map[string]string{"Name": a.Name(), "Time": now.UTC().Format(time.RFC1123), "Change": change}}
}

// checkSecondFactor proves a TOTP code or a recovery code and says which it was. A TOTP step works
// once; a recovery code works once and the owner is told, with how many remain.
func (s *Service) checkSecondFactor(ctx context.Context, a *Account, code, client string) (method string, ok bool, err error) {
	code = strings.TrimSpace(code)
	if len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		sealed, last, err := s.store.TOTPSecret(ctx, a.ID)
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
		fresh, err := s.store.UseTOTPStep(ctx, a.ID, step)
		return "totp", fresh, err
	}
	norm := s.factors.NormalizeRecoveryCode(code)
	remaining, used, err := s.store.UseRecoveryCode(ctx, a.ID, s.opts.HashToken(norm), s.now())
	if err != nil || !used {
		return "recovery", false, err
	}
	msg := s.factorMessage(a, "", "recovery_code_used", s.now())
	msg.Data["Remaining"] = strconv.Itoa(remaining)
	if err := s.store.QueueMessage(ctx, msg); err != nil {
		return "recovery", true, err
	}
	return "recovery", true, nil
}

// HasSecondFactor reports whether sign-in needs a second step for the account.
func (s *Service) HasSecondFactor(ctx context.Context, accountID int64) (bool, error) {
	t, n, err := s.store.SecondFactors(ctx, accountID)
	return t || n > 0, err
}

// SignInSecondFactor is the second step of sign-in (/login/totp): a TOTP code or a recovery code,
// under the same lockout rules as the password.
func (s *Service) SignInSecondFactor(ctx context.Context, accountID int64, req SignInRequest, code string) (*SignInResult, error) {
	now := s.now()
	policy, err := s.store.Policy(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return nil, err
	}
	reject := Rejection{AccountID: &a.ID, Username: a.Username, Client: req.ClientIP, UserAgent: printable(req.UserAgent), Now: now}
	req.secondStep = true
	return s.attempt(ctx, a, req, policy, reject, nil, func() (bool, string, error) {
		m, ok, err := s.checkSecondFactor(ctx, a, code, req.ClientIP)
		return ok, m, err
	})
}

// maxFactorFailures bounds wrong TOTP or recovery entries on the unlock pages per account and hour:
// they do not lock the account (an attacker must not keep the owner out), so they are bounded here.
const maxFactorFailures = 10

// UnlockWithFactor is UnlockWithCode for the methods that need no message: an authenticator code or
// a recovery code.
func (s *Service) UnlockWithFactor(ctx context.Context, login, code, client, lang string, verified []string) (*UnlockResult, error) {
	a, err := s.AccountByLogin(ctx, login)
	if ErrorCode(err) == ENOTFOUND {
		return nil, ErrBadCode
	} else if err != nil {
		return nil, err
	}
	now := s.now()
	if n, err := s.store.FactorFailures(ctx, a.ID, now.Add(-time.Hour)); err != nil {
		return nil, err
	} else if n >= maxFactorFailures {
		return nil, ErrBadCode
	}
	method, ok, err := s.checkSecondFactor(ctx, a, code, client)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.store.RecordFactorFailure(ctx, a.ID, a.Username, method, client, now); err != nil {
			return nil, err
		}
		return nil, ErrBadCode
	}
	return s.finishUnlock(ctx, a, method, client, lang, verified)
}
