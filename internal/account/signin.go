package account

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxPasswordLength is the longest password accepted, in code points (SECURITY.md: up to 256, no truncation).
const MaxPasswordLength = 256

// ErrBadCredentials is the one answer to every failed sign-in: unknown user, wrong password and a
// right password on an account that may not sign in all look the same.
var ErrBadCredentials = &Error{Code: EUNAUTHORIZED, Message: "The username or password is not correct, or the account cannot sign in right now."}

// SignInRequest is one password sign-in attempt.
type SignInRequest struct {
	Login     string
	Password  string
	ClientIP  string
	UserAgent string
}

// SignIn checks a password and returns the account when it may sign in. Every failure is
// ErrBadCredentials, and an unknown login costs the same hashing work as a known one. A hash with
// outdated parameters (or an imported bcrypt hash) is replaced after a successful check.
func (s *Service) SignIn(ctx context.Context, req SignInRequest) (*Account, error) {
	login, ok := NormalizeLogin(req.Login)
	tooLong := utf8.RuneCountInString(req.Password) > MaxPasswordLength || len(req.Password) > 4*MaxPasswordLength
	if !ok || tooLong {
		// Hash anyway so the answer takes as long as for a real account.
		if err := s.hasher.VerifyDummy(ctx, req.Password[:min(len(req.Password), 4*MaxPasswordLength)]); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	a, err := s.store.AccountByLogin(ctx, login)
	if ErrorCode(err) == ENOTFOUND {
		if err := s.hasher.VerifyDummy(ctx, req.Password); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	} else if err != nil {
		return nil, fmt.Errorf("sign in: %w", err)
	}
	if a.PasswordHash == "" {
		// No password set (an account that signs in by code only): same work, same answer.
		if err := s.hasher.VerifyDummy(ctx, req.Password); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	match, needsRehash, err := s.hasher.Verify(ctx, req.Password, a.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("sign in: verify: %w", err)
	}
	if !match {
		return nil, ErrBadCredentials
	}
	if a.EffectiveState(s.now()) != StateActive {
		return nil, ErrBadCredentials
	}
	if needsRehash {
		if err := s.rehash(ctx, a, req.Password); err != nil {
			return nil, err
		}
	}
	if err := s.store.RecordSignIn(ctx, a.ID, s.now()); err != nil {
		return nil, fmt.Errorf("sign in: record: %w", err)
	}
	return a, nil
}

// rehash upgrades a stored hash to the current parameters. Losing the race to a concurrent password
// change is fine: the newer password wins.
func (s *Service) rehash(ctx context.Context, a *Account, password string) error {
	h, err := s.hasher.Hash(ctx, password)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		// The sign-in itself succeeded; the upgrade waits for the next one.
		return nil
	}
	if _, err := s.store.SetPasswordHash(ctx, a.ID, a.PasswordHash, h); err != nil {
		return fmt.Errorf("sign in: rehash: %w", err)
	}
	a.PasswordHash = h
	return nil
}
