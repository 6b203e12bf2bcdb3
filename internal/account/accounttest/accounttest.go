// Package accounttest builds account services for unit tests without a database: every store is
// a stand-in that panics when called, and a test puts fakes in the few its use case needs. Only
// tests import it.
package accounttest

import (
	"sync"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// Deps is every dependency account.New requires, keyed by key (at least 32 bytes), with stores a
// test does not expect to be called: a call to one panics on its nil interface.
func Deps(key []byte) account.Deps {
	return account.Deps{
		Accounts:      struct{ account.AccountStore }{},
		UnitOfWork:    struct{ account.UnitOfWork }{},
		Lockout:       struct{ account.LockoutStore }{},
		States:        struct{ account.StateStore }{},
		Codes:         struct{ account.CodeStore }{},
		SelfService:   struct{ account.SelfServiceStore }{},
		SecondFactors: struct{ account.FactorStore }{},
		AccountPage:   struct{ account.AccountPageStore }{},
		Contact:       struct{ account.ContactStore }{},
		Tokens:        struct{ account.TokenStore }{},
		API:           struct{ account.APIStore }{},
		Admin:         struct{ account.AdminStore }{},
		Alerts:        struct{ account.AlertStore }{},
		Maintenance:   struct{ account.MaintenanceStore }{},
		Ledger:        struct{ account.LedgerStore }{},
		Hasher:        struct{ account.Hasher }{},
		Key:           key,
		Options: account.Options{
			BaseURL:   "http://127.0.0.1:8080",
			NewCode:   secret.NewCode,
			NewToken:  secret.NewToken,
			HashToken: secret.HashToken,
			Strength:  secret.PasswordStrength,
			ValidHash: secret.ValidateHash,
		},
		Factors: account.Factors{
			NewTOTP:               func(string) (string, string, error) { return "", "", nil },
			MatchTOTP:             secret.MatchTOTP,
			Seal:                  func(plain string) ([]byte, error) { return secret.Seal(key, plain) },
			Open:                  func(sealed []byte) (string, error) { return secret.Open(key, sealed) },
			NewRecoveryCode:       secret.NewRecoveryCode,
			NormalizeRecoveryCode: secret.NormalizeRecoveryCode,
		},
	}
}

// Clock is a clock a test moves by hand; hand its Now to the service and to storage alike.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads t until it is moved.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
