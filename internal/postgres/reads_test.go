package postgres_test

import (
	"context"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/postgres"
)

// With a read pool, the dashboard's search and the audit log's reads go to it (a standby's copy)
// while everything else stays on the primary; without one they read the primary.
func TestSearchAndAuditReadsGoToTheReadPool(t *testing.T) {
	ctx := context.Background()
	primary, replica := mustDB(t), mustDB(t)
	for db, username := range map[*postgres.DB]string{primary: "on.primary", replica: "on.copy"} {
		if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts (username, email, display_name, state)
			VALUES ($1, $1 || '@example.com', $1, 'active')`, username); err != nil {
			t.Fatal(err)
		}
	}
	reads, err := postgres.OpenReads(ctx, replica.Pool.Config().ConnString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reads.Close)

	stores := postgres.NewStores(primary)
	if got := searchOn(t, stores); got != "on.primary" {
		t.Fatalf("without a read pool the search read %q", got)
	}
	stores.ReadFrom(reads)
	if got := searchOn(t, stores); got != "on.copy" {
		t.Fatalf("with a read pool the search read %q", got)
	}
	if _, err := stores.API.AuditEvents(ctx, account.AuditQuery{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if a, err := stores.Accounts.AccountByLogin(ctx, "on.primary"); err != nil || a == nil {
		t.Fatalf("an account read for a decision must come from the primary: %v, %v", a, err)
	}
}

// searchOn returns the username that a search for "on." finds.
func searchOn(t *testing.T, stores *postgres.Stores) string {
	t.Helper()
	found, err := stores.Admin.SearchAccounts(context.Background(), account.AccountSearch{Query: "on.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(found.Accounts) != 1 {
		t.Fatalf("the search found %d accounts, want 1", len(found.Accounts))
	}
	return found.Accounts[0].Username
}
