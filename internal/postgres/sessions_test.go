package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/postgres"
)

// SECURITY.md 27: a request of an ended session that saves the session afterwards must not bring it
// back, however it was ended, and not even once the ended session's row has been swept.
func TestEndedSessionsStayEnded(t *testing.T) {
	clock := accounttest.NewClock(time.Now())
	db := mustDBAt(t, clock.Now)
	ctx := context.Background()
	stores := postgres.NewStores(db)
	a := newAccount("alice")
	if err := stores.Accounts.CreateAccount(ctx, a, account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	codec := scs.GobCodec{}
	store := postgres.NewSessionStore(db, codec, make([]byte, 32))
	deadline := clock.Now().Add(12 * time.Hour)
	data, err := codec.Encode(deadline, map[string]interface{}{postgres.SessionAccountKey: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	idle := clock.Now().Add(30 * time.Minute)
	commit := func(token string) {
		t.Helper()
		if err := store.CommitCtx(ctx, token, data, idle); err != nil {
			t.Fatal(err)
		}
	}
	found := func(token string) bool {
		t.Helper()
		_, ok, err := store.FindCtx(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// Logout, and the old id of a renewed session.
	commit("logged-out")
	if err := store.DeleteCtx(ctx, "logged-out"); err != nil {
		t.Fatal(err)
	}
	commit("logged-out") // a request that was in flight
	if found("logged-out") {
		t.Fatal("a deleted session came back when a request of it saved it")
	}

	// Every session of the account, as a reset, a lock or the dashboard ends them.
	commit("everywhere")
	if _, err := stores.Admin.EndAllSessions(ctx, a.ID, a.Username, account.Actor{Name: "test"}, "lost laptop", clock.Now()); err != nil {
		t.Fatal(err)
	}
	if after, err := stores.Accounts.AccountByID(ctx, a.ID); err != nil || after.SessionEpoch != a.SessionEpoch+1 {
		t.Fatalf("the session epoch did not move on: %v", err)
	}
	commit("everywhere")
	if found("everywhere") {
		t.Fatal("a session ended with its account's came back when a request of it saved it")
	}
	if n := countSessions(t, db, a.ID); n != 0 {
		t.Fatalf("%d live sessions listed after all ended", n)
	}

	// A new session is still saved and found.
	commit("fresh")
	if !found("fresh") {
		t.Fatal("a new session was not saved")
	}

	// Swept once expired, an ended session's late save does not bring it back either: whatever it
	// saves expires by its deadline, which has passed.
	clock.Advance(13 * time.Hour)
	if _, err := store.DeleteExpired(ctx); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d sessions left after the sweep (%v)", left, err)
	}
	commit("logged-out")
	if found("logged-out") {
		t.Fatal("a swept session came back")
	}
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("a save past its expiry stored a row (%d, %v)", left, err)
	}
}

func countSessions(t *testing.T, db *postgres.DB, accountID int64) int {
	t.Helper()
	o, err := postgres.NewStores(db).AccountPage.Overview(context.Background(), accountID, account.OverviewQuery{Now: time.Now(), Listed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return o.SessionCount
}
