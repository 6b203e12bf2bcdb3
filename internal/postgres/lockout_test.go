package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/cli"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/secret"
)

type engine struct {
	seq    int // makes every wrong password in a test different
	t      *testing.T
	url    string
	db     *postgres.DB
	stores *postgres.Stores
	svc    *account.Services
	clock  *accounttest.Clock
}

const (
	password = "correct horse battery staple"
	wrong    = "definitely not the password"
)

var fastParams = secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// newEngine is the real service over a fresh database with a clock the test moves.
func newEngine(t *testing.T, policy ...string) *engine {
	t.Helper()
	return newEngineWith(t, newEngineHasher(), policy...)
}

// newEngineHasher is a cheap real hasher.
func newEngineHasher() *secret.Hasher { return secret.NewHasher(fastParams, 8, 100, 10*time.Second) }

var engineKey = []byte(strings.Repeat("k", 32))

// newService is the real service over db with the engine's key, options and second factors.
func newService(db *postgres.DB, h account.Hasher, now account.Clock) *account.Services {
	return newServiceOver(cli.StoreDeps(postgres.NewStores(db)), h, now)
}

// newServiceOver is newService over the stores of d, whichever they are.
func newServiceOver(d account.Deps, h account.Hasher, now account.Clock) *account.Services {
	d.Hasher, d.Key, d.Clock = h, engineKey, now
	d.Options = account.Options{BaseURL: "http://127.0.0.1:8080", NewCode: secret.NewCode, NewToken: secret.NewToken,
		HashToken: secret.HashToken, Strength: secret.PasswordStrength, ValidHash: secret.ValidateHash}
	d.Factors = account.Factors{
		NewTOTP: func(name string) (string, string, error) {
			k, err := secret.NewTOTPKey("unlockd", name)
			return k.Secret, k.URL, err
		},
		MatchTOTP:             secret.MatchTOTP,
		Seal:                  func(plain string) ([]byte, error) { return secret.Seal(engineKey, plain) },
		Open:                  func(sealed []byte) (string, error) { return secret.Open(engineKey, sealed) },
		NewRecoveryCode:       secret.NewRecoveryCode,
		NormalizeRecoveryCode: secret.NormalizeRecoveryCode,
	}
	return account.New(d)
}

// newEngineWith is newEngine with another hasher.
func newEngineWith(t *testing.T, h account.Hasher, policy ...string) *engine {
	t.Helper()
	url := pgtestURL(t)
	c := accounttest.NewClock(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	db, err := postgres.Open(context.Background(), url, c.Now) // one clock, for the domain and storage alike
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	stores := postgres.NewStores(db)
	svc := newService(db, h, c.Now)
	e := &engine{t: t, url: url, db: db, stores: stores, svc: svc, clock: c}
	if len(policy) > 0 {
		changes := map[string]string{}
		for _, kv := range policy {
			k, v, _ := strings.Cut(kv, "=")
			changes[k] = v
		}
		if _, err := svc.Staff.SetPolicy(context.Background(), changes, account.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *engine) add(username string) *account.Account {
	e.t.Helper()
	a, err := e.svc.Accounts.AddAccount(context.Background(), account.NewAccount{Username: username, Email: username + "@example.com", Password: password}, account.Actor{Name: "test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *engine) signIn(login, pw string, opts ...func(*account.SignInRequest)) (*account.SignInResult, error) {
	req := account.SignInRequest{Login: login, Password: pw, ClientIP: "192.0.2.10"}
	for _, o := range opts {
		o(&req)
	}
	return e.svc.Gate.SignIn(context.Background(), req)
}

func (e *engine) account(login string) *account.Account {
	e.t.Helper()
	a, err := e.svc.Accounts.AccountByLogin(context.Background(), login)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// fail makes n failed sign-ins, each with a different wrong password so none is ignored as repeated.
func (e *engine) fail(login string, n int) {
	e.t.Helper()
	for i := 0; i < n; i++ {
		e.seq++
		if _, err := e.signIn(login, fmt.Sprintf("%s %d", wrong, e.seq)); !errors.Is(err, account.ErrBadCredentials) {
			e.t.Fatalf("failure %d: %v", i+1, err)
		}
	}
}

func (e *engine) state(login string) account.State {
	return e.account(login).EffectiveState(e.clock.Now())
}

func TestLocksAtExactlyTheThreshold(t *testing.T) {
	e := newEngine(t, "lockout.threshold=5")
	e.add("alice")
	e.fail("alice", 4)
	if s := e.state("alice"); s != account.StateActive || e.account("alice").FailedAttempts != 4 {
		t.Fatalf("after 4 failures: %s, %d", s, e.account("alice").FailedAttempts)
	}
	e.fail("alice", 1)
	a := e.account("alice")
	if a.State != account.StateLockedTemporarily || a.LockedUntil == nil || !a.LockedUntil.Equal(e.clock.Now().Add(15*time.Minute)) {
		t.Fatalf("after 5 failures: %s until %v", a.State, a.LockedUntil)
	}
	// Locked: even the right password is refused, and the refusal does not extend the lock.
	e.clock.Advance(time.Minute)
	if _, err := e.signIn("alice", password); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("right password while locked: %v", err)
	}
	e.fail("alice", 3)
	if b := e.account("alice"); !b.LockedUntil.Equal(*a.LockedUntil) {
		t.Fatalf("attempts while locked moved the lock from %v to %v", a.LockedUntil, b.LockedUntil)
	}
}

func TestExpiredLockLiftsAndBackoffGrowsThenEscalates(t *testing.T) {
	e := newEngine(t, "lockout.threshold=3", "lockout.duration=2s", "lockout.max_duration=5s", "lockout.max_temporary=3")
	e.add("alice")
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second} {
		e.fail("alice", 3)
		a := e.account("alice")
		if a.State != account.StateLockedTemporarily || a.LockedUntil.Sub(e.clock.Now()) != want {
			t.Fatalf("lock %d: %s for %v, want %v", i+1, a.State, a.LockedUntil.Sub(e.clock.Now()), want)
		}
		e.clock.Advance(want)
		if s := e.state("alice"); s != account.StateActive {
			t.Fatalf("lock %d did not lift by itself after %v: %s", i+1, want, s)
		}
	}
	// The fourth lock within memory needs verification or an administrator.
	e.fail("alice", 3)
	if a := e.account("alice"); a.State != account.StateLocked || a.LockedUntil != nil {
		t.Fatalf("after max_temporary locks: %s until %v, want locked", a.State, a.LockedUntil)
	}
	e.clock.Advance(48 * time.Hour)
	if _, err := e.signIn("alice", password); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("a hard lock lifted by itself: %v", err)
	}
	if _, err := e.svc.Staff.Unlock(context.Background(), "alice", "verified by phone", account.Actor{Name: "cli"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.signIn("alice", password); err != nil {
		t.Fatalf("after an administrator's unlock: %v", err)
	}
}

func TestMemoryForgetsOldLocks(t *testing.T) {
	e := newEngine(t, "lockout.threshold=2", "lockout.duration=2s", "lockout.max_temporary=1", "lockout.memory=1h")
	e.add("alice")
	e.fail("alice", 2)
	e.clock.Advance(2 * time.Hour) // the first lock is forgotten
	e.fail("alice", 2)
	if a := e.account("alice"); a.State != account.StateLockedTemporarily {
		t.Fatalf("got %s; a lock outside memory escalated", a.State)
	}
}

func TestSuccessResetsTheCount(t *testing.T) {
	e := newEngine(t, "lockout.threshold=3")
	e.add("alice")
	e.fail("alice", 2)
	if _, err := e.signIn("alice", password); err != nil {
		t.Fatal(err)
	}
	if n := e.account("alice").FailedAttempts; n != 0 {
		t.Fatalf("failed_attempts after success = %d", n)
	}
	e.fail("alice", 2)
	if s := e.state("alice"); s != account.StateActive {
		t.Fatalf("locked after 2 fresh failures: %s", s)
	}
}

func TestRepeatedWrongPasswordCountsOnce(t *testing.T) {
	e := newEngine(t, "lockout.threshold=3")
	e.add("alice")
	for i := 0; i < 10; i++ {
		e.signIn("alice", "my old saved password")
	}
	if a := e.account("alice"); a.FailedAttempts != 1 || a.State != account.StateActive {
		t.Fatalf("a retried stale password counted %d times (%s)", a.FailedAttempts, a.State)
	}
	e2 := newEngine(t, "lockout.threshold=3", "lockout.ignore_repeated_password=false")
	e2.add("bob")
	for i := 0; i < 3; i++ {
		e2.signIn("bob", "my old saved password")
	}
	if s := e2.state("bob"); s != account.StateLockedTemporarily {
		t.Fatalf("with ignore_repeated_password=false the retries did not lock: %s", s)
	}
}

func TestCounterBelongsToTheAccount(t *testing.T) {
	e := newEngine(t, "lockout.threshold=4")
	e.add("alice")
	for i, login := range []string{"alice", "ALICE", "alice@example.com", "Alice"} {
		ip := "198.51.100." + string(rune('1'+i))
		if _, err := e.signIn(login, wrong+login, func(r *account.SignInRequest) { r.ClientIP = ip }); !errors.Is(err, account.ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	if s := e.state("alice"); s != account.StateLockedTemporarily {
		t.Fatalf("four failures under different spellings and addresses: %s", s)
	}
	e2 := newEngine(t, "lockout.threshold=2")
	e2.add("bob")
	e2.signIn("bob", "")
	e2.signIn("bob", "x")
	if s := e2.state("bob"); s != account.StateLockedTemporarily {
		t.Fatalf("an empty password did not count: %s", s)
	}
}

// 50 attempts at once: exactly threshold passwords are checked and the count stops there.
func TestConcurrentAttemptsLockAtExactlyTheThreshold(t *testing.T) {
	e := newEngine(t, "lockout.threshold=10")
	e.add("alice")
	var wg sync.WaitGroup
	var mu sync.Mutex
	sessions := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := wrong + string(rune('A'+i%26)) + string(rune('a'+i/26))
			if i == 25 {
				pw = password
			}
			if _, err := e.signIn("alice", pw); err == nil {
				mu.Lock()
				sessions++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	a := e.account("alice")
	var checked int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = $1 AND details LIKE '%wrong_password%'`, audit.SignInFailed).Scan(&checked); err != nil {
		t.Fatal(err)
	}
	if sessions == 0 {
		// The right password was refused: the attempts counted before it reached the threshold and
		// locked the account, and no more than the threshold were ever checked. (When the right one
		// was among the first ten, it is refused if the ones beside it locked the account first.)
		if a.State != account.StateLockedTemporarily || a.FailedAttempts < 10 || checked > 10 {
			t.Fatalf("state %s, failed_attempts %d, passwords checked and wrong %d; want locked, at most 10 checked", a.State, a.FailedAttempts, checked)
		}
	} else if checked > 19 {
		// The right password came before the lock and reset the count: at most 9 wrong ones before
		// it and 10 after.
		t.Fatalf("%d wrong passwords were checked; the allowance is 10 on each side of the success", checked)
	}
	var locks int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM locks`).Scan(&locks); err != nil {
		t.Fatal(err)
	}
	if locks > 1 {
		t.Fatalf("%d lock rows for one lockout", locks)
	}
}

func TestKnownDeviceIsNotLockedOutByAttacker(t *testing.T) {
	e := newEngine(t, "lockout.threshold=4")
	e.add("alice")
	res, err := e.signIn("alice", password)
	if err != nil || res.DeviceToken == "" {
		t.Fatalf("first sign-in gave no device cookie: %v", err)
	}
	device := func(r *account.SignInRequest) { r.DeviceToken = res.DeviceToken }
	e.fail("alice", 4) // an attacker elsewhere
	if s := e.state("alice"); s != account.StateLockedTemporarily {
		t.Fatalf("attacker did not lock unknown devices out: %s", s)
	}
	if _, err := e.signIn("alice", "fresh typo here", device); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatal(err)
	}
	again, err := e.signIn("alice", password, device)
	if err != nil {
		t.Fatalf("the owner on a known device was locked out: %v", err)
	}
	if again.DeviceToken != "" {
		t.Fatal("a known device was given a new cookie")
	}
	// The device has its own, smaller allowance (4/2 -> at least 3).
	for i := 0; i < 3; i++ {
		e.signIn("alice", "device typo "+string(rune('a'+i)), device)
	}
	if _, err := e.signIn("alice", password, device); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("a device past its allowance still signed in while the account is locked: %v", err)
	}
	// A forged cookie is no cookie.
	forged := func(r *account.SignInRequest) { r.DeviceToken = res.DeviceToken[:len(res.DeviceToken)-2] + "AA" }
	e.clock.Advance(16 * time.Minute)
	if _, err := e.signIn("alice", password, forged); err != nil {
		t.Fatalf("after the lock expired: %v", err)
	}
}

func TestSprayingClientIsThrottled(t *testing.T) {
	e := newEngine(t)
	for i := 0; i < account.ClientAccountLimit; i++ {
		e.signIn("user"+string(rune('a'+i)), "Summer2026!")
	}
	if _, err := e.signIn("another", "Summer2026!"); !errors.Is(err, account.ErrThrottled) {
		t.Fatalf("after failing on %d accounts: %v, want throttled", account.ClientAccountLimit, err)
	}
	other := func(r *account.SignInRequest) { r.ClientIP = "203.0.113.9" }
	if _, err := e.signIn("another", "Summer2026!", other); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("another client was throttled too: %v", err)
	}
	e.clock.Advance(account.ClientWindow + time.Second)
	if _, err := e.signIn("another", "Summer2026!"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("the throttle did not end: %v", err)
	}
}

// A burst from one client at many accounts at once checks no more passwords than the throttle
// allows: every check is reserved against the client's count before it starts, so 60 concurrent
// sign-ins at 60 accounts cannot all be checked while the count still reads low. The owner of one
// of them, signing in right from the same client, gets in (a success is not spraying), and so do
// the TOTP users whose password step is given back.
func TestSprayingBurstIsThrottledAtomically(t *testing.T) {
	e := newEngine(t)
	const n = 60
	for i := range n {
		e.add(fmt.Sprintf("burst%02d", i))
	}
	var wg sync.WaitGroup
	var checked, throttled atomic.Int32
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch _, err := e.signIn(fmt.Sprintf("burst%02d", i), "Summer2026!"); {
			case errors.Is(err, account.ErrBadCredentials):
				checked.Add(1)
			case errors.Is(err, account.ErrThrottled):
				throttled.Add(1)
			default:
				t.Errorf("burst%02d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	var counted int
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT coalesce(sum(failed_attempts), 0) FROM accounts WHERE username LIKE 'burst%'`).Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if checked.Load() > account.ClientAccountLimit || counted > account.ClientAccountLimit || checked.Load()+throttled.Load() != n {
		t.Fatalf("%d passwords checked, %d failures counted, %d throttled: want at most %d checked and counted",
			checked.Load(), counted, throttled.Load(), account.ClientAccountLimit)
	}
	t.Logf("%d of %d concurrent sign-ins at different accounts were checked, %d throttled", checked.Load(), n, throttled.Load())
}

// Right and wrong passwords at one account from one client, all at once: the reservations, the
// failures and the successes take their locks in one order, so none of them deadlocks.
func TestMixedBurstAtOneAccountDoesNotDeadlock(t *testing.T) {
	e := newEngine(t, "lockout.threshold=100")
	e.add("carol")
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := password
			if i%2 == 1 {
				pw = "not carol's password"
			}
			if _, err := e.signIn("carol", pw); err != nil && !errors.Is(err, account.ErrBadCredentials) {
				t.Errorf("sign-in %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
}

// Sign-ins that succeed, or stop at the second factor, are not spraying: more than the limit of
// people behind one address sign in within the window.
func TestSuccessesDoNotCountAsSpraying(t *testing.T) {
	e := newEngine(t)
	for i := range account.ClientAccountLimit + 5 {
		name := fmt.Sprintf("office%02d", i)
		e.add(name)
		if _, err := e.signIn(name, password); err != nil {
			t.Fatalf("%s, signing in right after %d others from the same address: %v", name, i, err)
		}
	}
}

func TestStateTransitions(t *testing.T) {
	e := newEngine(t, "lockout.threshold=2")
	ctx := context.Background()
	cli := account.Actor{Name: "cli"}
	e.add("alice")
	tests := []struct {
		name string
		do   func() (*account.Account, error)
		want account.State
		ok   bool
	}{
		{"unlock an active account", func() (*account.Account, error) { return e.svc.Staff.Unlock(ctx, "alice", "r", cli) }, account.StateActive, false},
		{"freeze", func() (*account.Account, error) {
			return e.svc.Staff.Freeze(ctx, "alice", "compliance", "call the desk", nil, cli)
		}, account.StateFrozen, true},
		{"enable a frozen account", func() (*account.Account, error) { return e.svc.Staff.Enable(ctx, "alice", "r", cli) }, account.StateFrozen, false},
		{"unlock the freeze", func() (*account.Account, error) { return e.svc.Staff.Unlock(ctx, "alice", "cleared", cli) }, account.StateActive, true},
		{"disable", func() (*account.Account, error) { return e.svc.Staff.Disable(ctx, "alice", "left", cli) }, account.StateDisabled, true},
		{"unlock a disabled account", func() (*account.Account, error) { return e.svc.Staff.Unlock(ctx, "alice", "r", cli) }, account.StateDisabled, false},
		{"enable", func() (*account.Account, error) { return e.svc.Staff.Enable(ctx, "alice", "back", cli) }, account.StateActive, true},
		{"reason required", func() (*account.Account, error) { return e.svc.Staff.Disable(ctx, "alice", " ", cli) }, account.StateActive, false},
	}
	for _, tt := range tests {
		_, err := tt.do()
		if (err == nil) != tt.ok {
			t.Errorf("%s: err %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil && account.ErrorCode(err) != account.EINVALID {
			t.Errorf("%s: error code %s, want invalid", tt.name, account.ErrorCode(err))
		}
		if s := e.state("alice"); s != tt.want {
			t.Errorf("%s: state %s, want %s", tt.name, s, tt.want)
		}
	}
	// A freeze with an end lifts by itself.
	until := e.clock.Now().Add(time.Hour)
	if _, err := e.svc.Staff.Freeze(ctx, "alice", "short review", "", &until, cli); err != nil {
		t.Fatal(err)
	}
	if _, err := e.signIn("alice", password); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("frozen account signed in: %v", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.signIn("alice", password); err != nil {
		t.Fatalf("after the freeze ended: %v", err)
	}
	// History survives: every lock is a row with who lifted it.
	locks, err := e.stores.Admin.LockHistory(ctx, e.account("alice").ID, 10)
	if err != nil || len(locks) != 3 || locks[2].Kind != "freeze" || locks[2].LiftedBy != "cli" {
		t.Fatalf("lock history: %+v, %v", locks, err)
	}
}

func TestFreezeAndHardLockEndSessions(t *testing.T) {
	e := newEngine(t, "lockout.threshold=2", "lockout.max_temporary=1")
	ctx := context.Background()
	a := e.add("alice")
	insertSession := func() {
		if _, err := e.db.Pool.Exec(ctx, `INSERT INTO sessions (token_hash, data, expiry, deadline, account_id)
			VALUES (gen_random_uuid()::text::bytea, '', now() + interval '1 hour', now() + interval '1 hour', $1)`, a.ID); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (n int) {
		if err := e.db.Pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE account_id = $1 AND ended_at IS NULL`, a.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insertSession()
	if _, err := e.svc.Staff.Freeze(ctx, "alice", "review", "", nil, account.Actor{Name: "cli"}); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("freeze left %d sessions", n)
	}
	e.svc.Staff.Unlock(ctx, "alice", "done", account.Actor{Name: "cli"})
	insertSession()
	e.fail("alice", 2) // temporary lock: sessions stay
	if n := count(); n != 1 {
		t.Fatalf("a temporary lock ended sessions (%d left)", n)
	}
	e.clock.Advance(time.Hour)
	e.fail("alice", 2) // second lock within memory: hard
	if s := e.state("alice"); s != account.StateLocked {
		t.Fatalf("state %s, want locked", s)
	}
	if n := count(); n != 0 {
		t.Fatalf("a hard lock left %d sessions", n)
	}
}

func TestUnlockAllLiftsRecentAutomaticLocks(t *testing.T) {
	e := newEngine(t, "lockout.threshold=2")
	ctx := context.Background()
	for _, u := range []string{"a1", "a2", "a3"} {
		e.add(u)
	}
	e.fail("a1", 2)
	e.clock.Advance(3 * time.Hour)
	e.fail("a2", 2)
	e.fail("a3", 2)
	e.svc.Staff.Freeze(ctx, "a3", "separate matter", "", nil, account.Actor{Name: "cli"})
	n, err := e.svc.Staff.UnlockAll(ctx, 2*time.Hour, "stuffing wave", account.Actor{Name: "cli"})
	if err != nil || n != 1 {
		t.Fatalf("UnlockAll = %d, %v; want 1 (a2 only: a1 is older, a3 is frozen)", n, err)
	}
	if s := e.state("a2"); s != account.StateActive {
		t.Fatalf("a2: %s", s)
	}
	if s := e.state("a3"); s != account.StateFrozen {
		t.Fatalf("a3: %s", s)
	}
}

func TestPolicyChangesAreValidatedAndAudited(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	if _, err := e.svc.Staff.SetPolicy(ctx, map[string]string{"lockout.threshold": "0"}, account.Actor{Name: "cli"}); account.ErrorCode(err) != account.EINVALID {
		t.Fatalf("threshold 0: %v", err)
	}
	if _, err := e.svc.Staff.SetPolicy(ctx, map[string]string{"lockout.threshold": "7", "lockout.duration": "-1s"}, account.Actor{Name: "cli"}); err == nil {
		t.Fatal("a bad change among good ones was accepted")
	}
	if p, _ := e.svc.Staff.Policy(ctx); p.Lockout.Threshold != 10 {
		t.Fatalf("a refused change applied partly: threshold %d", p.Lockout.Threshold)
	}
	if _, err := e.svc.Staff.SetPolicy(ctx, map[string]string{"lockout.threshold": "7"}, account.Actor{Name: "cli"}); err != nil {
		t.Fatal(err)
	}
	events, err := postgres.NewAuditStore(e.db).Events(ctx, postgres.AuditFilter{Action: audit.PolicyChanged})
	if err != nil || len(events) != 1 || !strings.Contains(events[0].Details, `"new":"7"`) || !strings.Contains(events[0].Details, `"old":"10"`) {
		t.Fatalf("policy audit: %+v, %v", events, err)
	}
}

func TestAuditLogIsAppendOnlyAndVerifiable(t *testing.T) {
	e := newEngine(t, "lockout.threshold=2")
	ctx := context.Background()
	e.add("alice")
	e.fail("alice", 2)
	e.signIn("nobody", "x")
	store := postgres.NewAuditStore(e.db)
	n, err := store.Verify(ctx)
	if err != nil || n < 4 {
		t.Fatalf("verify: %d events, %v", n, err)
	}
	for _, sql := range []string{`UPDATE audit_events SET actor = 'mallory'`, `DELETE FROM audit_events`, `TRUNCATE audit_events`} {
		if _, err := e.db.Pool.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused", sql, err)
		}
	}
	// Tampering around the application (a superuser switching the trigger off) is found.
	if _, err := e.db.Pool.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;
		UPDATE audit_events SET username = 'mallory' WHERE id = 2;
		ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update`); err != nil {
		t.Fatal(err)
	}
	_, err = store.Verify(ctx)
	var p *audit.Problem
	if !errors.As(err, &p) || p.ID != 2 {
		t.Fatalf("after tampering with event 2: %v", err)
	}
}

// Appends from many transactions at once make one chain: each reads the head only once it holds
// the chain's lock, so no two take the same place or fork it.
func TestConcurrentAppendsMakeOneChain(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	store := postgres.NewAuditStore(e.db)
	before, err := store.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const appends = 60
	start := make(chan struct{})
	errs := make(chan error, appends)
	for i := range appends {
		go func() {
			<-start
			errs <- e.stores.Lockout.RecordRejection(ctx, account.Rejection{Username: fmt.Sprintf("nobody%d", i),
				Reason: "unknown_user", Client: "192.0.2.7", Now: e.clock.Now()})
		}()
	}
	close(start)
	for range appends {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	n, err := store.Verify(ctx)
	if err != nil || n != before+appends {
		t.Fatalf("after %d concurrent appends: %d events (%d before), %v", appends, n, before, err)
	}
}

func (e *engine) lastCode(to string) string {
	e.t.Helper()
	var data map[string]string
	if err := e.db.Pool.QueryRow(context.Background(), `SELECT data FROM outbox WHERE recipient = $1 AND template = 'code'
		ORDER BY id DESC LIMIT 1`, to).Scan(&data); err != nil {
		e.t.Fatal(err)
	}
	return data["Code"]
}

func TestCodesExpireAndANewCodeReplacesTheOld(t *testing.T) {
	e := newEngine(t, "code.ttl=2m", "code.resend_interval=30s")
	ctx := context.Background()
	e.add("alice")
	flow, err := account.NewFlow(account.PurposeStatus, "alice", account.ChannelEmail)
	if err != nil {
		t.Fatal(err)
	}
	proof := func(code string) account.Proof { return account.Proof{Flow: flow, Code: code, Client: "192.0.2.1"} }
	send := func() string {
		if err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "alice", Purpose: account.PurposeStatus, Client: "192.0.2.1", Flow: flow.Nonce}); err != nil {
			t.Fatal(err)
		}
		return e.lastCode("alice@example.com")
	}
	first := send()
	e.clock.Advance(2*time.Minute + time.Second)
	if _, err := e.svc.SelfService.StatusWithCode(ctx, proof(first)); !errors.Is(err, account.ErrBadCode) {
		t.Fatalf("an expired code: %v", err)
	}
	second := send()
	e.clock.Advance(40 * time.Second)
	third := send()
	if _, err := e.svc.SelfService.StatusWithCode(ctx, proof(second)); !errors.Is(err, account.ErrBadCode) {
		t.Fatalf("a replaced code still worked: %v", err)
	}
	if _, err := e.svc.SelfService.StatusWithCode(ctx, proof(third)); err != nil {
		t.Fatalf("the newest code: %v", err)
	}
}

func TestANewCodeDoesNotResetTheFailureCount(t *testing.T) {
	e := newEngine(t, "lockout.threshold=5")
	ctx := context.Background()
	e.add("alice")
	e.fail("alice", 3)
	if err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "alice", Purpose: account.PurposeSignIn, Client: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if n := e.account("alice").FailedAttempts; n != 3 {
		t.Fatalf("failed_attempts after a code was sent = %d, want 3", n)
	}
	// A wrong sign-in code counts like a wrong password.
	if _, err := e.svc.Gate.SignInWithCode(ctx, account.SignInRequest{Login: "alice", ClientIP: "192.0.2.1"}, "000000"); !errors.Is(err, account.ErrBadCode) {
		t.Fatal(err)
	}
	if n := e.account("alice").FailedAttempts; n != 4 {
		t.Fatalf("failed_attempts after a wrong code = %d, want 4", n)
	}
}

func TestSendLimitsPerClient(t *testing.T) {
	e := newEngine(t, "code.resend_interval=1s")
	ctx := context.Background()
	for i := 0; i < account.SendLimitClient; i++ {
		e.add(fmt.Sprintf("user%d", i))
		if err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: fmt.Sprintf("user%d", i), Purpose: account.PurposeStatus, Client: "192.0.2.66"}); err != nil {
			t.Fatal(err)
		}
	}
	err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "someone-else", Purpose: account.PurposeStatus, Client: "192.0.2.66"})
	if !errors.Is(err, account.ErrThrottled) {
		t.Fatalf("after %d sends from one client: %v, want throttled", account.SendLimitClient, err)
	}
}
