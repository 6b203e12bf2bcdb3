package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/directory"
)

// newDirectorySource connects the configured directory (nil when there is none) as the domain's
// account.Directory and account.DirectoryReader.
func newDirectorySource(c *config.Directory, clock account.Clock, metrics directoryMetrics) (*directorySource, error) {
	if c == nil {
		return nil, nil
	}
	d, err := directory.New(directoryConfig(c))
	if err != nil {
		return nil, err
	}
	if clock == nil {
		clock = time.Now
	}
	return &directorySource{dir: d, name: c.URL + " " + c.BaseDN, now: clock, metrics: metrics}, nil
}

// directoryMetrics counts the requests the flows make to the directory, by result.
type directoryMetrics interface {
	DirectoryOperation(op, result string)
}

// count reports one request of op and returns err as it is.
func (s *directorySource) count(op string, err error) error {
	result := "ok"
	switch e := account.ErrorCode(err); {
	case err == nil:
	case e == account.EDIRECTORY:
		result = "unavailable"
	case e == account.ENOTFOUND:
		result = "not_found"
	case e == account.EINVALID || e == account.EFORBIDDEN:
		result = "refused"
	default:
		result = "error"
	}
	s.record(op, result)
	return err
}

func (s *directorySource) record(op, result string) {
	if s.metrics != nil {
		s.metrics.DirectoryOperation(op, result)
	}
}

// policyTTL is how long a password policy read for one person serves the next: policies change
// rarely, and each read is a round trip to the directory.
const policyTTL = time.Minute

// cachedPolicy is a password policy and when it was read.
type cachedPolicy struct {
	policy directory.Policy
	read   time.Time
}

// policies keeps the password policies the live reads used, by policy DN.
type policies struct {
	mu   sync.Mutex
	byDN map[string]cachedPolicy
}

// policy returns the policy at dn, read again when older than policyTTL.
func (s *directorySource) policy(ctx context.Context, dn string) (directory.Policy, error) {
	now := time.Now()
	s.policies.mu.Lock()
	c, ok := s.policies.byDN[dn]
	s.policies.mu.Unlock()
	if ok && now.Sub(c.read) < policyTTL {
		return c.policy, nil
	}
	p, err := s.dir.Policy(ctx, dn)
	if err != nil {
		return directory.Policy{}, err
	}
	s.policies.mu.Lock()
	if s.policies.byDN == nil {
		s.policies.byDN = map[string]cachedPolicy{}
	}
	s.policies.byDN[dn] = cachedPolicy{policy: p, read: now}
	s.policies.mu.Unlock()
	return p, nil
}

// Person reads one person from the directory now, with the state their attributes and policy give.
func (s *directorySource) Person(ctx context.Context, username string) (account.DirectoryPerson, error) {
	p, err := s.dir.Find(ctx, username)
	if err != nil {
		return account.DirectoryPerson{}, s.count("person", directoryError(err))
	}
	policy, err := s.policy(ctx, p.PolicyDN)
	if err != nil {
		return account.DirectoryPerson{}, s.count("person", directoryError(err))
	}
	return s.personOf(p, policy), s.count("person", nil)
}

// CheckPassword binds as the person.
func (s *directorySource) CheckPassword(ctx context.Context, dn, password string) (account.DirectoryVerdict, error) {
	switch err := s.dir.CheckPassword(ctx, dn, password); {
	case err == nil:
		return account.DirectoryPasswordRight, s.count("password_check", nil)
	case errors.Is(err, directory.ErrPasswordExpired):
		return account.DirectoryPasswordExpired, s.count("password_check", nil)
	case errors.Is(err, directory.ErrInvalidCredentials):
		s.record("password_check", "wrong_password")
		return account.DirectoryPasswordWrong, nil
	default:
		return account.DirectoryPasswordWrong, s.count("password_check", directoryError(err))
	}
}

// Unlock lifts the directory's lock on the person.
func (s *directorySource) Unlock(ctx context.Context, dn string, liftFreeze bool) (bool, error) {
	how := directory.KeepFreeze
	if liftFreeze {
		how = directory.LiftFreeze
	}
	lifted, err := s.dir.Unlock(ctx, dn, how)
	return lifted, s.count("unlock", directoryError(err))
}

// SetPassword sets the person's password through the directory's policy.
func (s *directorySource) SetPassword(ctx context.Context, dn, password string) error {
	return s.count("set_password", directoryError(s.dir.SetPassword(ctx, dn, password)))
}

// directoryError turns the connector's errors into the domain's, keeping the cause for the log.
func directoryError(err error) error {
	var refused *directory.RefusedError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, directory.ErrUnavailable):
		return fmt.Errorf("%w: %w", account.ErrDirectoryUnavailable, err)
	case errors.Is(err, directory.ErrNotFound), errors.Is(err, directory.ErrAmbiguous):
		// Several people matching one username is nobody: none of them is chosen.
		return fmt.Errorf("%w: %w", account.Errorf(account.ENOTFOUND, "no one person in the directory has that username"), err)
	case errors.Is(err, directory.ErrFrozen):
		return fmt.Errorf("%w: %w", account.ErrDirectoryFrozen, err)
	case errors.As(err, &refused):
		return account.DirectoryRefusal(account.DirectoryRule(refused.Rule), refused.Reason)
	}
	// Anything else (an untrusted certificate, a refused bind of the service account) is a fault
	// of the directory's setup: named as the domain's, so that it is never taken for the database's.
	return fmt.Errorf("%w: %w", account.Errorf(account.EINTERNAL, "the directory failed"), err)
}
