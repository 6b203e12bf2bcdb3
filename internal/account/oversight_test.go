package account_test

import (
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// The overview is read as of the service's clock.
func TestDashboardOverview(t *testing.T) {
	w := newWorld(t)
	o, err := w.svc.Oversight.DashboardOverview(ctx)
	if err != nil || o.LockedNow != 3 || !w.admin.overviewAt.Equal(t0) {
		t.Errorf("DashboardOverview = %+v, %v, read at %v", o, err, w.admin.overviewAt)
	}
}

// A search is cleaned before it reaches the store: no control characters, bounded text, a known
// state or none, a limit of 1 to 100 (50 when out of range).
func TestSearchAccountsCleansTheQuery(t *testing.T) {
	tests := []struct {
		name string
		in   account.AccountSearch
		want account.AccountSearch
	}{
		{"as given", account.AccountSearch{Query: "alice", State: account.StateLocked, After: "al", Others: true, Limit: 20},
			account.AccountSearch{Query: "alice", State: account.StateLocked, After: "al", Others: true, Limit: 20}},
		{"control characters and spaces", account.AccountSearch{Query: " al\x00i\nce\t ", After: "b\x7fob"},
			account.AccountSearch{Query: "alice", After: "bob", Limit: 50}},
		{"invalid text", account.AccountSearch{Query: "al\xffice", Limit: 100},
			account.AccountSearch{Query: "alice", Limit: 100}},
		{"unknown state", account.AccountSearch{State: "sleeping", Limit: 101},
			account.AccountSearch{Limit: 50}},
		{"negative limit", account.AccountSearch{Limit: -1}, account.AccountSearch{Limit: 50}},
		{"long text", account.AccountSearch{Query: strings.Repeat("é", 150), After: strings.Repeat("a", 80)},
			account.AccountSearch{Query: strings.Repeat("é", 100), After: strings.Repeat("a", 64), Limit: 50}},
	}
	for _, tt := range tests {
		w := newWorld(t)
		if _, err := w.svc.Oversight.SearchAccounts(ctx, tt.in); err != nil {
			t.Fatal(err)
		}
		if got := w.admin.searches[0]; got != tt.want {
			t.Errorf("%s: searched %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// The staff's reads pass through: requests by status, an account's locks, the accounts of a role.
func TestOversightReads(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	w.add("root", func(a *account.Account) { a.Role = account.RoleAdmin })
	openRequest(w, 1, &a.ID)
	openRequest(w, 2, nil)
	w.admin.requests[2].Status = "denied"
	if rs, err := w.svc.Oversight.Requests(ctx, "open"); err != nil || len(rs) != 1 || rs[0].ID != 1 {
		t.Errorf("open requests %+v, %v", rs, err)
	}
	if rs, err := w.svc.Oversight.Requests(ctx, ""); err != nil || len(rs) != 2 {
		t.Errorf("all requests %+v, %v", rs, err)
	}
	if locks, err := w.svc.Oversight.AccountLocks(ctx, a.ID); err != nil || len(locks) != 1 || w.admin.historyOf != a.ID {
		t.Errorf("AccountLocks = %+v, %v", locks, err)
	}
	admins, err := w.svc.Oversight.AccountsWithRole(ctx, account.RoleAdmin)
	if err != nil || len(admins) != 1 || admins[0].Username != "root" {
		t.Errorf("AccountsWithRole = %+v, %v", admins, err)
	}
}

// A wave is WaveLocks automatic locks within the last WaveWindow.
func TestLockWave(t *testing.T) {
	w := newWorld(t)
	for _, tt := range []struct {
		locks int
		wave  bool
	}{{0, false}, {account.WaveLocks - 1, false}, {account.WaveLocks, true}, {account.WaveLocks + 5, true}} {
		w.alerts.locks = tt.locks
		n, wave, err := w.svc.Oversight.LockWave(ctx)
		if err != nil || n != tt.locks || wave != tt.wave {
			t.Errorf("%d locks: LockWave = %d, %v, %v; want a wave %v", tt.locks, n, wave, err, tt.wave)
		}
	}
	if want := t0.Add(-account.WaveWindow); !w.alerts.since.Equal(want) {
		t.Errorf("counted since %v, want %v", w.alerts.since, want)
	}
}

// An automatic lock in a wave alerts the active administrators once; the locks of the next minute
// do not look again.
func TestAnAutomaticLockInAWaveAlertsTheAdministrators(t *testing.T) {
	w := newWorld(t)
	w.setPolicy(func(p *account.Policy) { p.Lockout.Threshold = 1 })
	w.add("root", func(a *account.Account) { a.Role, a.Email = account.RoleAdmin, "root@example.com" })
	w.add("gone", func(a *account.Account) { a.Role, a.State = account.RoleAdmin, account.StateDisabled })
	w.add("alice")
	w.add("bob")
	w.alerts.locks = account.WaveLocks - 1
	if _, err := signIn(w, "alice", "wrong"); err != account.ErrBadCredentials {
		t.Fatal(err)
	}
	if len(w.alerts.raised) != 0 {
		t.Fatal("an alert below the wave")
	}
	w.alerts.locks = account.WaveLocks
	if _, err := signIn(w, "bob", "wrong"); err != account.ErrBadCredentials {
		t.Fatal(err)
	}
	if len(w.alerts.raised) != 1 || len(w.alerts.raised[0]) != 1 || w.alerts.raised[0][0].To != "root@example.com" ||
		w.alerts.raised[0][0].Data["Count"] != "20" {
		t.Fatalf("alerts %+v, want one to the active administrator", w.alerts.raised)
	}
	w.clock.Advance(30 * time.Second)
	w.add("carol")
	if _, err := signIn(w, "carol", "wrong"); err != account.ErrBadCredentials || len(w.alerts.raised) != 1 {
		t.Errorf("a lock within the minute: %v, %d alerts", err, len(w.alerts.raised))
	}
}
