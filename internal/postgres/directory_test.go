package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

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
