package postgres_test

import (
	"context"
	"crypto/sha256"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func pgtestURL(tb testing.TB) string { return pgtest.NewDatabase(tb, pgtest.Migrate) }

// mustDB returns a fresh, migrated database for one test.
func mustDB(t *testing.T) *postgres.DB { return mustDBAt(t, nil) }

// mustDBAt is mustDB whose storage reads the time from now (nil: the wall clock).
func mustDBAt(t *testing.T, now func() time.Time) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), pgtestURL(t), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func TestMigrationsGoUpDownAndUpAgain(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	m, err := postgres.NewMigrator(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if ok, err := m.Current(ctx); err != nil || !ok {
		t.Fatalf("Current after up = %v, %v", ok, err)
	}
	st, err := m.Status(ctx)
	if err != nil || len(st) == 0 || !st[len(st)-1].Applied {
		t.Fatalf("status = %+v, %v", st, err)
	}
	for range st {
		if err := m.Down(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := m.Current(ctx); ok {
		t.Fatal("Current after rolling everything back = true")
	}
	if n, err := m.Up(ctx); err != nil || n != len(st) {
		t.Fatalf("up again applied %d, %v; want %d", n, err, len(st))
	}
}

// Two processes starting together must not both migrate: the advisory lock serialises them.
func TestConcurrentMigrationsDoNotRace(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	m0, err := postgres.NewMigrator(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := m0.Status(ctx)
	if err != nil || len(st) == 0 {
		t.Fatalf("status: %d migrations, %v", len(st), err)
	}
	for range st {
		if err := m0.Down(ctx); err != nil {
			t.Fatal(err)
		}
	}
	m0.Close()
	var wg sync.WaitGroup
	applied := make([]int, 4)
	errs := make([]error, 4)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := postgres.NewMigrator(db, nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer m.Close()
			applied[i], errs[i] = m.Up(ctx)
		}()
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Fatalf("migrator %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	if total != len(st) {
		t.Fatalf("migrations applied %d times in all, want exactly %d", total, len(st))
	}
}

func newAccount(username string) *account.Account {
	return &account.Account{Username: username, Email: username + "@example.com", Role: account.RoleUser, State: account.StateActive}
}

func TestUsernamesAndEmailsAreUniqueWhateverTheCase(t *testing.T) {
	db := mustDB(t)
	s := postgres.NewStores(db).Accounts
	ctx := context.Background()
	if err := s.CreateAccount(ctx, newAccount("Alice"), account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	dup := newAccount("ALICE")
	dup.Email = "other@example.com"
	if err := s.CreateAccount(ctx, dup, account.Actor{Name: "test"}); account.ErrorCode(err) != account.ECONFLICT {
		t.Fatalf("ALICE after Alice: %v, want conflict", err)
	}
	dupMail := newAccount("bob")
	dupMail.Email = "ALICE@EXAMPLE.COM"
	if err := s.CreateAccount(ctx, dupMail, account.Actor{Name: "test"}); account.ErrorCode(err) != account.ECONFLICT || !strings.Contains(account.ErrorMessage(err), "email") {
		t.Fatalf("same email other case: %v, want an email conflict", err)
	}
	for _, login := range []string{"alice", "ALICE", "alice@EXAMPLE.com"} {
		a, err := s.AccountByLogin(ctx, login)
		if err != nil || a.Username != "Alice" {
			t.Fatalf("AccountByLogin(%q) = %v, %v", login, a, err)
		}
	}
	if _, err := s.AccountByLogin(ctx, "nobody"); account.ErrorCode(err) != account.ENOTFOUND {
		t.Fatalf("unknown login: %v, want not found", err)
	}
}

func TestAccountByLoginFindsPhone(t *testing.T) {
	db := mustDB(t)
	s := postgres.NewStores(db).Accounts
	ctx := context.Background()
	a := newAccount("li.wei")
	a.Phone = "+8613800000000"
	if err := s.CreateAccount(ctx, a, account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.AccountByLogin(ctx, "+8613800000000")
	if err != nil || got.ID != a.ID {
		t.Fatalf("by phone: %v, %v", got, err)
	}
}

func TestImportIsAllOrNothing(t *testing.T) {
	db := mustDB(t)
	s := postgres.NewStores(db).Accounts
	ctx := context.Background()
	if err := s.CreateAccount(ctx, newAccount("taken"), account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	clash := newAccount("newcomer")
	clash.Email = "taken@example.com" // belongs to another account
	rows := []account.ImportRow{
		{Line: 2, Account: newAccount("first")},
		{Line: 3, Account: clash},
	}
	if _, _, err := s.ImportAccounts(ctx, rows, "import", account.Actor{Name: "test"}, nil); account.ErrorCode(err) != account.ECONFLICT || !strings.Contains(account.ErrorMessage(err), "line 3") {
		t.Fatalf("import with a clash: %v, want a conflict naming line 3", err)
	}
	if _, err := s.AccountByLogin(ctx, "first"); account.ErrorCode(err) != account.ENOTFOUND {
		t.Fatalf("line 2 was written although line 3 failed: %v", err)
	}
	// The same import, fixed, creates then updates (idempotent by username).
	clash.Email = "newcomer@example.com"
	created, updated, err := s.ImportAccounts(ctx, rows, "import", account.Actor{Name: "test"}, nil)
	if err != nil || created != 2 || updated != 0 {
		t.Fatalf("first import: %d created %d updated, %v", created, updated, err)
	}
	rows[0].Account.DisplayName = "First Person"
	created, updated, err = s.ImportAccounts(ctx, rows, "import", account.Actor{Name: "test"}, nil)
	if err != nil || created != 0 || updated != 2 {
		t.Fatalf("second import: %d created %d updated, %v", created, updated, err)
	}
	a, _ := s.AccountByLogin(ctx, "first")
	if a.DisplayName != "First Person" {
		t.Fatalf("update did not apply: %q", a.DisplayName)
	}
}

func TestSessionStoreKeepsOnlyTokenHashes(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	accounts := postgres.NewStores(db).Accounts
	a := newAccount("alice")
	if err := accounts.CreateAccount(ctx, a, account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	codec := scs.GobCodec{}
	store := postgres.NewSessionStore(db, codec, []byte(strings.Repeat("k", 32)))
	data, err := codec.Encode(time.Now().Add(time.Hour), map[string]interface{}{postgres.SessionAccountKey: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	token := "the-session-token-value"
	if err := store.CommitCtx(ctx, token, data, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var stored []byte
	var accountID *int64
	if err := db.Pool.QueryRow(ctx, `SELECT token_hash, account_id FROM sessions`).Scan(&stored, &accountID); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte(token))
	if string(stored) != string(want[:]) {
		t.Fatal("the session token is not stored as its SHA-256")
	}
	if accountID == nil || *accountID != a.ID {
		t.Fatalf("account_id = %v, want %d", accountID, a.ID)
	}
	if got, found, err := store.FindCtx(ctx, token); !found || err != nil || string(got) != string(data) {
		t.Fatalf("find: %v %v", found, err)
	}
	// The data is sealed under the token and the server key: the row is not it, and another key
	// does not open it.
	var sealed []byte
	if err := db.Pool.QueryRow(ctx, `SELECT data FROM sessions`).Scan(&sealed); err != nil || string(sealed) == string(data) {
		t.Fatalf("the session data is stored as it is (%v)", err)
	}
	if _, found, _ := postgres.NewSessionStore(db, codec, []byte(strings.Repeat("x", 32))).FindCtx(ctx, token); found {
		t.Fatal("another server key read the session")
	}
	// The account_id column is what ends one account's sessions (sign out everywhere, a lock).
	n, err := postgres.NewStores(db).Admin.EndAllSessions(ctx, a.ID, a.Username, account.Actor{Name: "test"}, "lost laptop", time.Now())
	if err != nil || n != 1 {
		t.Fatalf("EndAllSessions = %d, %v", n, err)
	}
	if _, found, _ := store.FindCtx(ctx, token); found {
		t.Fatal("session survived EndAllSessions")
	}
	// An expired session is not found, nor even stored (TestEndedSessionsStayEnded sweeps).
	if err := store.CommitCtx(ctx, "old", data, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := store.FindCtx(ctx, "old"); found {
		t.Fatal("an expired session was found")
	}
	oldHash := sha256.Sum256([]byte("old"))
	var kept int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE token_hash = $1`, oldHash[:]).Scan(&kept); err != nil || kept != 0 {
		t.Fatalf("an expired session was stored (%d, %v)", kept, err)
	}
}

// The store checks a role write against the account as it stands inside its transaction, whatever
// its caller checked before: a service token's row for what is now a staff account writes nothing.
func TestImportChecksTheRoleAgainstTheAccountAsItStands(t *testing.T) {
	db := mustDB(t)
	s := postgres.NewStores(db).Accounts
	ctx := context.Background()
	ad := newAccount("ad")
	ad.Role = account.RoleAdmin
	if err := s.CreateAccount(ctx, ad, account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	row := newAccount("ad")
	row.Role, row.Email = "", "attacker@example.com"
	crm := account.Actor{Name: "token:crm", Role: account.RoleService}
	if _, _, err := s.ImportAccounts(ctx, []account.ImportRow{{Line: 4, Account: row}}, "api", crm, nil); account.ErrorCode(err) != account.EFORBIDDEN || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("service row over an administrator: %v, want forbidden naming line 4", err)
	}
	if a, _ := s.AccountByLogin(ctx, "ad"); a.Email != "ad@example.com" || a.Role != account.RoleAdmin {
		t.Fatalf("the refused row was written: %s %s", a.Email, a.Role)
	}
	// Nor may the store be asked to create staff for a service token.
	staff := newAccount("mallory")
	staff.Role = account.RoleAdmin
	if err := s.CreateAccount(ctx, staff, crm); account.ErrorCode(err) != account.EFORBIDDEN {
		t.Fatalf("service creates an administrator: %v", err)
	}
}
