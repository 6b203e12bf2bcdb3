package account

import (
	"context"
	"strings"
	"time"
)

// The stores below keep accounts, one interface per capability, so that a use case names what it
// touches and a test fakes only that. Methods return *Error with ENOTFOUND or ECONFLICT where they
// say so; any other error is a failure of the storage itself.

// AccountStore finds, creates and lists accounts.
type AccountStore interface {
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
	// role change is, recorded with reason. A row whose hash replaces a different one of an existing
	// account is a new password, as a reset is: the account's sessions all end, its remembered wrong
	// passwords are forgotten, and what notice builds is queued. The hash an import or the API set
	// last, sent again, changes nothing, even when the stored one has changed since (upgraded at a
	// sign-in, or the owner's own new password).
	ImportAccounts(ctx context.Context, rows []ImportRow, reason string, actor Actor, notice PasswordNotice) (created, updated int, err error)
	// ListAccounts returns accounts ordered by username, optionally only those in state.
	ListAccounts(ctx context.Context, state State, limit int) ([]*Account, error)
	// SetPasswordHash replaces the stored hash only if it is still oldHash (a rehash racing a password
	// change must not undo the change); it reports whether it did.
	SetPasswordHash(ctx context.Context, id int64, oldHash, newHash string) (bool, error)
	// SetLanguage sets the language the account's messages are written in.
	SetLanguage(ctx context.Context, id int64, lang string) error
	// SetTimeZone sets the zone (an IANA name, or "" for the organisation's) the account reads times in.
	SetTimeZone(ctx context.Context, id int64, zone string) error
}

// UnitOfWork commits several store calls together.
type UnitOfWork interface {
	// Atomic runs fn as one unit of work: every store call made with the context fn is given
	// commits together (with its audit events and queued messages) or not at all. fn may run again
	// after a serialization failure, so it sets what it reports afresh; it does no slow work.
	Atomic(ctx context.Context, fn func(ctx context.Context) error) error
}

// Hasher hashes and checks passwords with bounded concurrency (see package secret).
type Hasher interface {
	Hash(ctx context.Context, password string) (string, error)
	Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error)
	VerifyDummy(ctx context.Context, password string) error
	// WithPriority marks ctx so that its checks go before those of strangers when hashing is busy.
	WithPriority(ctx context.Context) context.Context
	// WithStageNotices marks ctx so that its checks call asked when they ask for a worker, and
	// began when their hash begins.
	WithStageNotices(ctx context.Context, asked, began func()) context.Context
	// Turn waits for a hashing worker as a check would and gives it on at once; its error is the
	// busy hasher's, or ctx's, as a check's would be.
	Turn(ctx context.Context) error
	// IdleFor is how long every check has found a worker free: 0 while every worker is taken.
	IdleFor() time.Duration
}

// CheckTimes is the recent distribution of how long password checks take from each stage of a
// sign-in to the verdict (see package secret): a refusal that checks no password waits as long as
// one of them took, instead of hashing.
type CheckTimes interface {
	// Observe records one real check that has come to its verdict after its sign-in passed the
	// stages of its way at the times in stages, started with load sign-ins under way, its own
	// included; err is the check's error, nil for a verdict.
	Observe(stages []time.Time, load int, err error)
	// Draw picks a recent check: rest[s] is how long it took from stage s to its verdict (a stage
	// it did not pass counts as passed with its last), and load the sign-ins under way when it
	// started. ok is false, at once, when the caller is to check for real (and observe it).
	Draw() (rest []time.Duration, load int, ok bool)
	// SleepUntil returns at about end, allowing for how late sleeps wake now, or when ctx ends,
	// with its error.
	SleepUntil(ctx context.Context, end time.Time) error
}

// Clock tells the time; tests replace it.
type Clock func() time.Time

// Deps is every dependency of a Service. Every store, the hasher, the key and every function of
// Options and Factors are required; Clock, Metrics and CheckTimes may be left nil.
type Deps struct {
	Accounts      AccountStore
	UnitOfWork    UnitOfWork
	Lockout       LockoutStore
	States        StateStore
	Codes         CodeStore
	SelfService   SelfServiceStore
	SecondFactors FactorStore
	AccountPage   AccountPageStore
	Contact       ContactStore
	Tokens        TokenStore
	API           APIStore
	Admin         AdminStore
	Alerts        AlertStore
	Maintenance   MaintenanceStore
	Ledger        LedgerStore

	// Directory is where directory accounts live, read and written at request time, and
	// DirectoryStore keeps what was read of it; both nil when accounts live here only.
	Directory      Directory
	DirectoryStore DirectoryStore
	// DirectoryCare, when set, lets a flow that finds the directory locked someone tell the owner,
	// as the sync does (DirectorySync.WithCare).
	DirectoryCare DirectoryCareStore

	Hasher Hasher
	// CheckTimes times the refusals that check no password; nil: each of them hashes a dummy.
	CheckTimes CheckTimes
	// Key is the server's secret key (at least 32 bytes): it keys device cookies and the HMACs of
	// wrong passwords.
	Key     []byte
	Clock   Clock   // nil: time.Now
	Metrics Metrics // nil: reports nothing
	Options Options
	Factors Factors
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

// Services are unlockd's use cases, one type per capability. Each holds only the stores it uses.
type Services struct {
	Gate          *Gate               // sign-in: passwords, sign-in codes, the second step
	SelfService   *SelfService        // codes, unlock, status, reset, requests for help, verification
	SecondFactors *SecondFactors      // enrolling an authenticator and recovery codes
	OwnAccount    *OwnAccount         // the signed-in person's own account page
	Staff         *Staff              // staff actions on accounts and requests; the policy
	Oversight     *Oversight          // what staff read: overview, search, requests, locks, waves
	Maintenance   *MaintenanceWindows // announced maintenance
	Accounts      *Accounts           // creating, importing, finding and listing accounts
	Tokens        *APITokens          // API tokens
	Audit         *AuditLog           // reading and checking the audit log; API calls and refusals
	// Now is the clock every capability uses, for callers that must agree with it.
	Now Clock
}

// New wires every capability from d. A required dependency left unset is a programming error: New
// panics naming it, at start-up rather than at the first request that needs it.
func New(d Deps) *Services {
	if missing := d.missing(); len(missing) > 0 {
		panic("account.New: missing " + strings.Join(missing, ", "))
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Metrics == nil {
		d.Metrics = noMetrics{}
	}
	if d.CheckTimes == nil {
		d.CheckTimes = noCheckTimes{}
	}
	k := &kit{now: d.Clock, metrics: d.Metrics, opts: d.Options, factors: d.Factors, key: d.Key,
		directory: &directoryOps{dir: d.Directory, store: d.DirectoryStore, now: d.Clock}}
	if d.Directory != nil {
		writer := &directoryWriter{store: d.DirectoryStore, work: d.UnitOfWork, now: d.Clock}
		if d.DirectoryCare != nil {
			writer.care = &directoryCare{kit: k, store: d.DirectoryCare}
		}
		d.Accounts = &liveAccounts{AccountStore: d.Accounts, dir: d.Directory, writer: writer}
	}
	g := &guard{kit: k, accounts: d.Accounts, lockout: d.Lockout, ledger: d.Ledger, hasher: d.Hasher,
		checkTimes: d.CheckTimes, secondFactors: d.SecondFactors, alerts: d.Alerts, states: d.States}
	book := &codebook{kit: k, guard: g, codes: d.Codes, work: d.UnitOfWork, lockout: d.Lockout, selfService: d.SelfService}
	staff := &Staff{kit: k, guard: g, book: book, accounts: d.Accounts, states: d.States, lockout: d.Lockout,
		admin: d.Admin, work: d.UnitOfWork}
	return &Services{
		Gate: &Gate{guard: g, book: book},
		SelfService: &SelfService{kit: k, guard: g, book: book, accounts: d.Accounts, lockout: d.Lockout,
			selfService: d.SelfService, codes: d.Codes, states: d.States, work: d.UnitOfWork, ledger: d.Ledger,
			secondFactors: d.SecondFactors, hasher: d.Hasher},
		SecondFactors: &SecondFactors{kit: k, secondFactors: d.SecondFactors},
		OwnAccount: &OwnAccount{kit: k, guard: g, book: book, lockout: d.Lockout, accountPage: d.AccountPage,
			contact: d.Contact, codes: d.Codes, work: d.UnitOfWork, hasher: d.Hasher},
		Staff:       staff,
		Oversight:   &Oversight{kit: k, admin: d.Admin, states: d.States, alerts: d.Alerts},
		Maintenance: &MaintenanceWindows{kit: k, maintenance: d.Maintenance},
		Accounts: &Accounts{kit: k, guard: g, book: book, staff: staff, accounts: d.Accounts, work: d.UnitOfWork,
			hasher: d.Hasher},
		Tokens: &APITokens{kit: k, tokens: d.Tokens},
		Audit:  &AuditLog{kit: k, api: d.API, admin: d.Admin},
		Now:    d.Clock,
	}
}

// kit is what every capability shares besides stores: the clock, metrics, settings, the
// second-factor primitives and the server key, with the helpers built on them alone.
type kit struct {
	now     Clock
	metrics Metrics
	opts    Options
	factors Factors
	key     []byte
	// directory acts on the directory that directory accounts live in.
	directory *directoryOps
}

// missing names the required dependencies d lacks, in the order Deps declares them.
func (d Deps) missing() []string {
	var m []string
	need := func(ok bool, name string) {
		if !ok {
			m = append(m, name)
		}
	}
	need(d.Accounts != nil, "Accounts")
	need(d.UnitOfWork != nil, "UnitOfWork")
	need(d.Lockout != nil, "Lockout")
	need(d.States != nil, "States")
	need(d.Codes != nil, "Codes")
	need(d.SelfService != nil, "SelfService")
	need(d.SecondFactors != nil, "SecondFactors")
	need(d.AccountPage != nil, "AccountPage")
	need(d.Contact != nil, "Contact")
	need(d.Tokens != nil, "Tokens")
	need(d.API != nil, "API")
	need(d.Admin != nil, "Admin")
	need(d.Alerts != nil, "Alerts")
	need(d.Maintenance != nil, "Maintenance")
	need(d.Ledger != nil, "Ledger")
	need((d.Directory == nil) == (d.DirectoryStore == nil), "Directory and DirectoryStore together")
	need(d.Hasher != nil, "Hasher")
	need(len(d.Key) >= 32, "Key (at least 32 bytes)")
	o := d.Options
	need(o.BaseURL != "", "Options.BaseURL")
	need(o.NewCode != nil, "Options.NewCode")
	need(o.NewToken != nil, "Options.NewToken")
	need(o.HashToken != nil, "Options.HashToken")
	need(o.Strength != nil, "Options.Strength")
	need(o.ValidHash != nil, "Options.ValidHash")
	f := d.Factors
	need(f.NewTOTP != nil, "Factors.NewTOTP")
	need(f.MatchTOTP != nil, "Factors.MatchTOTP")
	need(f.Seal != nil, "Factors.Seal")
	need(f.Open != nil, "Factors.Open")
	need(f.NewRecoveryCode != nil, "Factors.NewRecoveryCode")
	need(f.NormalizeRecoveryCode != nil, "Factors.NormalizeRecoveryCode")
	return m
}
