package account_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
)

var testKey = []byte(strings.Repeat("k", 32))

// unusedDeps is every dependency New requires, with stores a test does not expect to be called.
func unusedDeps() account.Deps { return accounttest.Deps(testKey) }

// panicOf runs f and returns what it panicked with, or nil.
func panicOf(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// A dependency left out is found when the service is built, not by the first request that needs
// it: New panics naming it.
func TestNewPanicsNamingAMissingDependency(t *testing.T) {
	tests := []struct {
		name  string
		leave func(*account.Deps)
	}{
		{"Lockout", func(d *account.Deps) { d.Lockout = nil }},
		{"UnitOfWork", func(d *account.Deps) { d.UnitOfWork = nil }},
		{"Hasher", func(d *account.Deps) { d.Hasher = nil }},
		{"Key", func(d *account.Deps) { d.Key = testKey[:16] }},
		{"Options.HashToken", func(d *account.Deps) { d.Options.HashToken = nil }},
		{"Factors.Open", func(d *account.Deps) { d.Factors.Open = nil }},
	}
	for _, tt := range tests {
		d := unusedDeps()
		tt.leave(&d)
		v := panicOf(func() { account.New(d) })
		msg, _ := v.(string)
		if !strings.Contains(msg, tt.name) {
			t.Errorf("New without %s panicked with %v, want a message naming it", tt.name, v)
		}
	}
	if v := panicOf(func() { account.New(unusedDeps()) }); v != nil {
		t.Fatalf("New with every dependency panicked: %v", v)
	}
	// Clock and Metrics are optional.
	d := unusedDeps()
	d.Clock, d.Metrics = nil, nil
	if before, now := time.Now(), account.New(d).Now(); now.Before(before) {
		t.Errorf("the default clock says %v, before %v", now, before)
	}
}

// policyOnly answers Policy and nothing else of the lockout store.
type policyOnly struct {
	account.LockoutStore
	policy account.Policy
}

func (p policyOnly) Policy(context.Context) (account.Policy, error) { return p.policy, nil }

// factorsOf answers which second factors each account has.
type factorsOf struct {
	account.FactorStore
	totp     map[int64]bool
	recovery map[int64]int
}

func (f factorsOf) SecondFactors(_ context.Context, id int64) (bool, int, error) {
	return f.totp[id], f.recovery[id], nil
}

// An account with a second factor may have a password as short as 8 (never longer than the
// policy's minimum); one without needs the policy's minimum.
func TestMinPasswordLengthWithASecondFactor(t *testing.T) {
	d := unusedDeps()
	policy := account.DefaultPolicy()
	policy.PasswordMinLength = 12
	d.Lockout = policyOnly{policy: policy}
	d.SecondFactors = factorsOf{totp: map[int64]bool{2: true}, recovery: map[int64]int{3: 10}}
	svc := account.New(d)
	for id, want := range map[int64]int{1: 12, 2: 8, 3: 8} {
		got, err := svc.SelfService.MinPasswordLength(context.Background(), id)
		if err != nil || got != want {
			t.Errorf("account %d: MinPasswordLength = %d, %v; want %d", id, got, err, want)
		}
	}
	policy.PasswordMinLength = 6
	d.Lockout = policyOnly{policy: policy}
	if got, _ := account.New(d).SelfService.MinPasswordLength(context.Background(), 2); got != 6 {
		t.Errorf("with a policy minimum of 6, a second factor raised it to %d", got)
	}
}

// recentSignIns answers the self-service store's reads for the status page.
type recentSignIns struct {
	account.SelfServiceStore
	events []account.SignInEvent
	locks  int // how often CurrentLock was asked
}

func (r *recentSignIns) RecentSignIns(context.Context, int64, int) ([]account.SignInEvent, error) {
	return r.events, nil
}

func (r *recentSignIns) CurrentLock(context.Context, int64) (*account.LockInfo, error) {
	r.locks++
	return &account.LockInfo{}, nil
}

// The status page of an active account shows its recent failures only, masked contacts, and no lock.
func TestStatusOfAnActiveAccount(t *testing.T) {
	d := unusedDeps()
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	d.Clock = func() time.Time { return now }
	store := &recentSignIns{events: []account.SignInEvent{
		{At: now.Add(-time.Minute), Succeeded: false, ClientIP: "192.0.2.1"},
		{At: now.Add(-2 * time.Minute), Succeeded: true, ClientIP: "192.0.2.2"},
		{At: now.Add(-3 * time.Minute), Succeeded: false, ClientIP: "192.0.2.3"},
	}}
	d.SelfService = store
	v, err := account.New(d).SelfService.Status(context.Background(), &account.Account{ID: 1, Username: "alice",
		Email: "alice@example.com", State: account.StateActive})
	if err != nil {
		t.Fatal(err)
	}
	if v.State != account.StateActive || v.Lock != nil || store.locks != 0 {
		t.Errorf("state %s, lock %v, lock asked %d times; want active, none, never", v.State, v.Lock, store.locks)
	}
	if len(v.RecentFailures) != 2 || v.RecentFailures[0].ClientIP != "192.0.2.1" || v.RecentFailures[1].ClientIP != "192.0.2.3" {
		t.Errorf("recent failures %+v, want the two failed sign-ins", v.RecentFailures)
	}
	if v.MaskedEmail == "" || v.MaskedEmail == "alice@example.com" || v.MaskedPhone != "" {
		t.Errorf("masked email %q, phone %q", v.MaskedEmail, v.MaskedPhone)
	}
}
