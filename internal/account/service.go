package account

import (
	"context"
	"sync/atomic"
	"time"
)

// Store keeps accounts. Methods return *Error with ENOTFOUND or ECONFLICT where they say so; any
// other error is a failure of the storage itself.
type Store interface {
	// AccountByLogin finds the account whose username or email (any letter case) or phone is login. ENOTFOUND.
	AccountByLogin(ctx context.Context, login string) (*Account, error)
	// AccountByID loads one account. ENOTFOUND.
	AccountByID(ctx context.Context, id int64) (*Account, error)
	// CreateAccount inserts a, filling ID and timestamps. ECONFLICT when the username, email or phone
	// is taken. A staff role is a grant, checked and recorded as every role change is.
	CreateAccount(ctx context.Context, a *Account, actor Actor) error
	// ImportAccounts creates or updates accounts by username (case-insensitive) in one transaction:
	// all rows or none. ECONFLICT names the row whose email or phone belongs to another account.
	// Each row's role is checked with PlanRoleChange against the account as it stands in the
	// transaction (EFORBIDDEN when the actor may not write it), and a change is applied as every
	// role change is, recorded with reason.
	ImportAccounts(ctx context.Context, rows []ImportRow, reason string, actor Actor) (created, updated int, err error)
	// ListAccounts returns accounts ordered by username, optionally only those in state.
	ListAccounts(ctx context.Context, state State, limit int) ([]*Account, error)
	// SetPasswordHash replaces the stored hash only if it is still oldHash (a rehash racing a password
	// change must not undo the change); it reports whether it did.
	SetPasswordHash(ctx context.Context, id int64, oldHash, newHash string) (bool, error)

	LockoutStore
	StateStore
	CodeStore
	SelfServiceStore
	FactorStore
	AccountPageStore
	ContactStore
	TokenStore
	APIStore
	AdminStore
	AlertStore
	MaintenanceStore
	LedgerStore
	// Atomic runs fn as one unit of work: every store call made with the context fn is given
	// commits together (with its audit events and queued messages) or not at all. fn may run again
	// after a serialization failure, so it sets what it reports afresh; it does no slow work.
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error
	// QueueMessage queues one message in a transaction of its own.
	QueueMessage(ctx context.Context, m Message) error
}

// Hasher hashes and checks passwords with bounded concurrency (see package secret).
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
	VerifyDummy(ctx context.Context, password string) error
}

// Clock tells the time; tests replace it.
type Clock func() time.Time

// Service holds unlockd's use cases.
type Service struct {
	store   Store
	hasher  Hasher
	key     []byte // keys device cookies and the HMACs of wrong passwords
	now     Clock
	metrics Metrics
	opts    Options
	factors Factors
	// waveSeen is when checkWave last found a lockout wave (Unix nanoseconds; see alerts.go).
	waveSeen atomic.Int64
}

// Options are what the self-service flows need from outside the domain.
type Options struct {
	BaseURL   string                           // links in messages are built from it only
	SMS       bool                             // an SMS gateway is configured
	NewCode   func(digits int) (string, error) // uniform random digits
	NewToken  func() (string, error)           // 32 random bytes, URL-safe
	HashToken func(token string) []byte        // SHA-256 for storage
	// Strength scores a password from 0 to 4 (zxcvbn) given words from the user's context and, when
	// it is weak, says why with a key of WeakPasswordMessages ("" when nothing stands out).
	Strength func(password string, context []string) (score int, reason string)
	// ValidHash checks an imported password hash (argon2id PHC or bcrypt).
	ValidHash func(encoded string) error
	// Webhooks receive events (lock, unlock, freeze, request) as signed JSON.
	Webhooks []string
}

// SetOptions configures the self-service flows.
func (s *Service) SetOptions(o Options) { s.opts = o }

// NewService wires a Service. key is the server's secret key (at least 32 bytes); now may be nil
// for the real clock.
func NewService(store Store, hasher Hasher, key []byte, now Clock) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, hasher: hasher, key: key, now: now, metrics: noMetrics{}}
}

// SetMetrics sets where the service reports what it does.
func (s *Service) SetMetrics(m Metrics) {
	if m != nil {
		s.metrics = m
	}
}

// Policy returns the policy in force.
func (s *Service) Policy(ctx context.Context) (Policy, error) { return s.store.Policy(ctx) }

// Now is the service's clock, for callers that must agree with it.
func (s *Service) Now() time.Time { return s.now() }
