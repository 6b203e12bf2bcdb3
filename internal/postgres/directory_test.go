package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/postgres"
)

func TestDirectoryAccountsAreSavedWithLocksAndAudit(t *testing.T) {
	db := mustDB(t)
	stores := postgres.NewStores(db)
	s := stores.Directory
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	until := now.Add(5 * time.Minute)

	alice := &account.Account{Source: account.SourceDirectory, DirectoryDN: "uid=alice,ou=people,dc=example,dc=org",
		Username: "alice", Email: "alice@example.org", Phone: "+8613800000001", DisplayName: "Alice",
		Role: account.RoleUser, State: account.StateLockedTemporarily, Reason: "locked by the directory", LockedUntil: &until}
	lockedAt := now.Add(-time.Minute)
	if err := s.SaveDirectoryAccount(ctx, alice, account.DirectoryChange{Created: true, Actor: "directory", Now: now, LockedAt: &lockedAt}); err != nil {
		t.Fatal(err)
	}
	var started time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT started_at FROM locks WHERE account_id = $1 AND source = 'directory' AND kind = 'temporary'`,
		alice.ID).Scan(&started); err != nil || !started.Equal(lockedAt) {
		t.Fatalf("the lock record starts at %v (%v), want when the directory locked alice, %v", started, err, lockedAt)
	}
	got, err := s.AccountForSync(ctx, "ALICE")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != alice.ID || got.Source != account.SourceDirectory || got.DirectoryDN != alice.DirectoryDN ||
		got.State != account.StateLockedTemporarily || got.LockedUntil == nil || !got.LockedUntil.Equal(until) || got.Phone != "+8613800000001" {
		t.Fatalf("alice read back as %+v", got)
	}

	// The directory lifts the lock: the state, the lock row and the audit say so.
	got.State, got.Reason, got.LockedUntil = account.StateActive, "", nil
	if err := db.Atomic(ctx, func(ctx context.Context) error {
		if _, err := s.AccountForSync(ctx, "alice"); err != nil {
			return err
		}
		return s.SaveDirectoryAccount(ctx, got, account.DirectoryChange{Fields: []string{"state"},
			From: account.StateLockedTemporarily, Actor: "directory", Now: now.Add(time.Minute)})
	}); err != nil {
		t.Fatal(err)
	}
	var open, lifted int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE lifted_at IS NULL), count(*) FILTER (WHERE lifted_at IS NOT NULL)
		FROM locks WHERE account_id = $1 AND source = 'directory'`, alice.ID).Scan(&open, &lifted); err != nil {
		t.Fatal(err)
	}
	if open != 0 || lifted != 1 {
		t.Fatalf("locks: %d open, %d lifted; want the directory's one lifted", open, lifted)
	}
	events, err := stores.API.AuditEvents(ctx, account.AuditQuery{Action: audit.DirectorySynced, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d directory.synced events, want 2", len(events))
	}
	if n, err := stores.API.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit chain after %d events: %v", n, err)
	}

	// A local account's email is not taken by a directory person.
	if err := stores.Accounts.CreateAccount(ctx, newAccount("bob"), account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	carol := &account.Account{Source: account.SourceDirectory, DirectoryDN: "uid=carol,ou=people,dc=example,dc=org",
		Username: "carol", Email: "BOB@example.com", Role: account.RoleUser, State: account.StateActive}
	if err := s.SaveDirectoryAccount(ctx, carol, account.DirectoryChange{Created: true, Actor: "directory", Now: now}); account.ErrorCode(err) != account.ECONFLICT {
		t.Fatalf("a directory person with a local account's email: %v, want a conflict", err)
	}
	bob, err := s.AccountForSync(ctx, "bob")
	if err != nil || bob.Source != account.SourceLocal || bob.DirectoryDN != "" {
		t.Fatalf("a local account reads as %+v, %v", bob, err)
	}
}

func TestDirectorySyncMarksAndLock(t *testing.T) {
	db := mustDB(t)
	s := postgres.NewStores(db).Directory
	ctx := context.Background()
	if mark, err := s.SyncMark(ctx, "ldap://a"); err != nil || mark != "" {
		t.Fatalf("no sync yet: %q, %v", mark, err)
	}
	for _, mark := range []string{"20261130090000Z", "20261130091000Z"} {
		if err := s.SetSyncMark(ctx, "ldap://a", mark, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if mark, err := s.SyncMark(ctx, "ldap://a"); err != nil || mark != "20261130091000Z" {
		t.Fatalf("mark: %q, %v", mark, err)
	}
	if mark, _ := s.SyncMark(ctx, "ldap://b"); mark != "" {
		t.Fatalf("another directory's mark: %q", mark)
	}

	// While one sync holds the lock, another (here on a second pool, as another process) does not run.
	other := postgres.NewStores(mustReopen(t, db)).Directory
	errInner := errors.New("inner")
	ran, err := s.Exclusively(ctx, func(ctx context.Context) error {
		ranInside, err := other.Exclusively(ctx, func(context.Context) error { return nil })
		if err != nil || ranInside {
			t.Errorf("a second sync ran while the first held the lock: %v, %v", ranInside, err)
		}
		return errInner
	})
	if !ran || !errors.Is(err, errInner) {
		t.Fatalf("the first sync: ran %v, %v", ran, err)
	}
	if ran, err := other.Exclusively(ctx, func(context.Context) error { return nil }); !ran || err != nil {
		t.Fatalf("after the first ended, the second: ran %v, %v", ran, err)
	}
}

// mustReopen opens a second pool on db's database.
func mustReopen(t *testing.T, db *postgres.DB) *postgres.DB {
	t.Helper()
	other, err := postgres.Open(context.Background(), db.Pool.Config().ConnString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(other.Close)
	return other
}

// When a directory account's username comes to name another person of the directory (another
// identifier), nothing of the one before passes on: their authenticator, recovery codes, devices,
// remembered wrong passwords and a hash an import left go, every session ends, unused codes and
// reset links stop working, the role is a user's and the count starts again. The same person
// read again (another DN, the same identifier) keeps all of it.
func TestANewPersonUnderADirectoryUsernameTakesNothingOfTheOneBefore(t *testing.T) {
	db := mustDB(t)
	stores := postgres.NewStores(db)
	s := stores.Directory
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	jane := &account.Account{Source: account.SourceDirectory, DirectoryDN: "uid=jsmith,ou=people,dc=example,dc=org", DirectoryID: "id-jane",
		Username: "jsmith", Email: "jane@example.org", Role: account.RoleUser, State: account.StateActive}
	if err := s.SaveDirectoryAccount(ctx, jane, account.DirectoryChange{Created: true, Actor: "directory", Now: now}); err != nil {
		t.Fatal(err)
	}
	id := jane.ID
	for _, q := range []string{
		`UPDATE accounts SET role = 'admin', failed_attempts = 3, password_hash = 'imported' WHERE id = $1`,
		`INSERT INTO totp_secrets (account_id, sealed, enrolled_at) VALUES ($1, '\x01', now())`,
		`INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES ($1, '\x02', now())`,
		`INSERT INTO devices (account_id, nonce_hash, created_at, last_seen_at) VALUES ($1, '\x03', now(), now())`,
		`INSERT INTO failed_passwords (account_id, mac, created_at) VALUES ($1, '\x04', now())`,
		`INSERT INTO codes (account_id, purpose, channel, destination, code_hash, created_at, expires_at, max_attempts)
			VALUES ($1, 'unlock', 'email', 'jane@example.org', '\x05', now(), now() + interval '1 hour', 5)`,
		`INSERT INTO reset_tokens (account_id, token_hash, created_at, expires_at) VALUES ($1, '\x06', now(), now() + interval '1 hour')`,
		`INSERT INTO guess_counters (scope, subject, window_start, count) VALUES ('code_guess', 'account:' || $1::bigint || ' from 192.0.2.1', now(), 3)`,
		`INSERT INTO unlock_requests (reference, account_id, login, created_at) VALUES ('UR-TEST-0001', $1, 'jsmith', now())`,
		`UPDATE accounts SET language = 'zh-CN', time_zone = 'Asia/Shanghai' WHERE id = $1`,
	} {
		if _, err := db.Pool.Exec(ctx, q, id); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	sessions := postgres.NewSessionStore(db, scs.GobCodec{}, engineKey)
	data, err := scs.GobCodec{}.Encode(time.Now().Add(12*time.Hour), map[string]any{postgres.SessionAccountKey: id})
	if err != nil {
		t.Fatal(err)
	}
	if err := sessions.CommitCtx(ctx, "jane's laptop", data, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	left := func() (n int) {
		t.Helper()
		if err := db.Pool.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM totp_secrets WHERE account_id = $1) + (SELECT count(*) FROM recovery_codes WHERE account_id = $1)
			+ (SELECT count(*) FROM devices WHERE account_id = $1) + (SELECT count(*) FROM failed_passwords WHERE account_id = $1)
			+ (SELECT count(*) FROM codes WHERE account_id = $1 AND used_at IS NULL AND superseded_at IS NULL)
			+ (SELECT count(*) FROM reset_tokens WHERE account_id = $1 AND used_at IS NULL)
			+ (SELECT count(*) FROM guess_counters WHERE subject LIKE 'account:' || $1::bigint || '%')
			+ (SELECT count(*) FROM unlock_requests WHERE account_id = $1 AND status = 'open')
			+ (SELECT count(*) FROM accounts WHERE id = $1 AND (language <> '' OR time_zone <> ''))`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	save := func(a *account.Account, newPerson bool) {
		t.Helper()
		if err := db.Atomic(ctx, func(ctx context.Context) error {
			if _, err := s.AccountForSync(ctx, "jsmith"); err != nil {
				return err
			}
			return s.SaveDirectoryAccount(ctx, a, account.DirectoryChange{Fields: []string{"dn"}, From: account.StateActive,
				Actor: "directory", Now: now, NewPerson: newPerson})
		}); err != nil {
			t.Fatal(err)
		}
	}

	moved := *jane
	moved.DirectoryDN = "uid=jsmith,ou=moved,dc=example,dc=org"
	save(&moved, false)
	if n := left(); n != 9 {
		t.Fatalf("a move left %d of jane's 9 things, want all", n)
	}
	if _, ok, err := sessions.FindCtx(ctx, "jane's laptop"); err != nil || !ok {
		t.Fatalf("a move ended jane's session (%v)", err)
	}

	john := *jane
	john.DirectoryID, john.Email = "id-john", "john@example.org"
	save(&john, true)
	if n := left(); n != 0 {
		t.Errorf("%d things of jane's are left to john", n)
	}
	if _, ok, err := sessions.FindCtx(ctx, "jane's laptop"); err != nil || ok {
		t.Errorf("jane's session still loads after the username went to john (%v)", err)
	}
	got, err := s.AccountForSync(ctx, "jsmith")
	if err != nil {
		t.Fatal(err)
	}
	if got.DirectoryID != "id-john" || got.Role != account.RoleUser || got.FailedAttempts != 0 || got.PasswordHash != "" {
		t.Errorf("john's account: id %q, role %s, count %d, hash %q; want his, a user's, 0, none", got.DirectoryID, got.Role, got.FailedAttempts, got.PasswordHash)
	}
	var details string
	if err := db.Pool.QueryRow(ctx, `SELECT details FROM audit_events WHERE account_id = $1 AND action = 'directory.synced'
		ORDER BY id DESC LIMIT 1`, id).Scan(&details); err != nil || !strings.Contains(details, `"new_person":"true"`) || !strings.Contains(details, `"role_before":"admin"`) {
		t.Errorf("the audit event says %s (%v); want the new person and the role before", details, err)
	}
}
