package postgres

import "github.com/unlockd/unlockd/internal/account"

// Stores is every store of the domain over one database, one field per store of account.Deps.
type Stores struct {
	Accounts      *Accounts
	UnitOfWork    *DB // DB.Atomic
	Lockout       *Lockout
	States        *States
	Codes         *Codes
	SelfService   *SelfService
	SecondFactors *SecondFactors
	AccountPage   *AccountPage
	Contact       *Contact
	Tokens        *Tokens
	API           *API
	Admin         *Admin
	Alerts        *Alerts
	Maintenance   *Maintenance
	Ledger        *Ledger
	// Directory keeps the accounts read from a directory: account.DirectoryStore, which only the
	// directory sync (account.NewDirectorySync) uses.
	Directory *Directory
}

// NewStores returns every store over db.
func NewStores(db *DB) *Stores {
	return &Stores{
		Accounts:      &Accounts{db: db},
		UnitOfWork:    db,
		Lockout:       &Lockout{db: db},
		States:        &States{db: db},
		Codes:         &Codes{db: db},
		SelfService:   &SelfService{db: db},
		SecondFactors: &SecondFactors{db: db},
		AccountPage:   &AccountPage{db: db},
		Contact:       &Contact{db: db},
		Tokens:        &Tokens{db: db},
		API:           &API{db: db},
		Admin:         &Admin{db: db, walkRows: DefaultSearchWalk, trigrams: &trigramSample{}},
		Alerts:        &Alerts{db: db},
		Maintenance:   &Maintenance{db: db},
		Ledger:        &Ledger{db: db},
		Directory:     &Directory{db: db},
	}
}

// ReadFrom sends the dashboard's account search and the audit log's reads to reads, a pool of
// their own (UNLOCKD_DATABASE_READ_URL, which may be a standby), so that they do not take the
// primary's connections; every write, and every read a decision depends on, stays on the primary.
// Without it they read from the primary.
func (s *Stores) ReadFrom(reads *DB) {
	s.Admin.readsDB = reads
	s.API.readsDB = reads
}

// Directory keeps directory accounts and sync marks: account.DirectoryStore (directory.go).
type Directory struct{ db *DB }

// Accounts finds, creates, imports and lists accounts: account.AccountStore (accounts.go), and
// SetState for the demo seed.
type Accounts struct{ db *DB }

// Lockout keeps the policy, counters, locks and devices of sign-in: account.LockoutStore
// (lockout.go), and PruneClientFailures, which serve runs now and then.
type Lockout struct{ db *DB }

// States changes account states, roles and expiry: account.StateStore (states.go).
type States struct{ db *DB }

// Codes keeps one-time codes and their send locks: account.CodeStore (codes.go).
type Codes struct{ db *DB }

// SelfService keeps what the self-service flows change: account.SelfServiceStore (selfservice.go).
type SelfService struct{ db *DB }

// SecondFactors keeps TOTP secrets and recovery codes: account.FactorStore (factors.go).
type SecondFactors struct{ db *DB }

// AccountPage reads and changes what the account page shows: account.AccountPageStore
// (accountpage.go).
type AccountPage struct{ db *DB }

// Contact changes an account's email address or phone: account.ContactStore (contact.go).
type Contact struct{ db *DB }

// Tokens keeps API tokens: account.TokenStore (tokens.go).
type Tokens struct{ db *DB }

// API audits API calls and reads the audit log for the API: account.APIStore (api.go).
type API struct {
	db      *DB
	readsDB *DB // see Stores.ReadFrom; nil reads from db
}

func (s *API) reads() *DB { return orDB(s.readsDB, s.db) }

// Admin backs the dashboard and its account search: account.AdminStore (admin.go, search.go), and
// PrepareSearch, which serve runs at start.
type Admin struct {
	db       *DB
	readsDB  *DB // see Stores.ReadFrom; nil reads from db
	walkRows int // see search.go
	trigrams *trigramSample
}

// reads is where the search reads.
func (s *Admin) reads() *DB { return orDB(s.readsDB, s.db) }

func orDB(db, fallback *DB) *DB {
	if db != nil {
		return db
	}
	return fallback
}

// Alerts counts automatic locks and keeps alerts: account.AlertStore (alerts.go).
type Alerts struct{ db *DB }

// Maintenance keeps maintenance windows: account.MaintenanceStore (maintenance.go).
type Maintenance struct{ db *DB }

// Ledger is the guess ledger's windowed counters: account.LedgerStore (ledger.go).
type Ledger struct{ db *DB }

var (
	_ account.AccountStore     = (*Accounts)(nil)
	_ account.UnitOfWork       = (*DB)(nil)
	_ account.LockoutStore     = (*Lockout)(nil)
	_ account.StateStore       = (*States)(nil)
	_ account.CodeStore        = (*Codes)(nil)
	_ account.SelfServiceStore = (*SelfService)(nil)
	_ account.FactorStore      = (*SecondFactors)(nil)
	_ account.AccountPageStore = (*AccountPage)(nil)
	_ account.ContactStore     = (*Contact)(nil)
	_ account.TokenStore       = (*Tokens)(nil)
	_ account.APIStore         = (*API)(nil)
	_ account.AdminStore       = (*Admin)(nil)
	_ account.AlertStore       = (*Alerts)(nil)
	_ account.MaintenanceStore = (*Maintenance)(nil)
	_ account.LedgerStore      = (*Ledger)(nil)
)
