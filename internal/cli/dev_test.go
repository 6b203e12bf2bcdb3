package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/mailcatcher"
	"github.com/unlockd/unlockd/internal/pgcluster"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/secret"
)

// takenAddr is an address another listener holds until the test ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// runDev runs `unlockd dev` with only the variables of env set, and returns its exit code and
// standard error.
func runDev(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, append([]string{"dev"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
		func(k string) string { return env[k] })
	return code, errOut.String()
}

// assertNothingStarted checks that a refused `unlockd dev` left its data directory untouched: no
// cluster was made, no mailpit was given a database.
func assertNothingStarted(t *testing.T, dir, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "PostgreSQL") {
		t.Errorf("PostgreSQL was started before the refusal:\n%s", stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "dev.lock" {
			t.Errorf("the data directory got %s: something started", e.Name())
		}
	}
}

func TestDevRefusesADataDirectoryAnotherRunUses(t *testing.T) {
	dir := t.TempDir()
	release, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	code, stderr := runDev(t, map[string]string{"UNLOCKD_LISTEN": "127.0.0.1:0"}, "--reset", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "another unlockd dev (make run) uses "+dir) {
		t.Fatalf("exit %d, stderr %q; want a refusal naming the directory", code, stderr)
	}
	assertNothingStarted(t, dir, stderr)
	release()
	release, err = lockDataDir(dir)
	if err != nil {
		t.Fatalf("the lock outlived its release: %v", err)
	}
	release()
}

func TestDevRefusesATakenListenAddressBeforeStartingAnything(t *testing.T) {
	addr := takenAddr(t)
	dir := t.TempDir()
	code, stderr := runDev(t, map[string]string{"UNLOCKD_LISTEN": addr}, "--data", dir)
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q; want exit 1 and one line", code, stderr)
	}
	for _, want := range []string{addr + " is taken", "set UNLOCKD_LISTEN to a free address"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	assertNothingStarted(t, dir, stderr)
}

// A refused run deletes nothing either, even asked to reset the demo.
func TestDevRefusesATakenMailAddressItWasGiven(t *testing.T) {
	for _, variable := range []string{envDevSMTP, envDevInbox} {
		addr := takenAddr(t)
		dir := t.TempDir()
		mail := filepath.Join(dir, "mailpit.db")
		if err := os.WriteFile(mail, []byte("the last run's mail"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, stderr := runDev(t, map[string]string{"UNLOCKD_LISTEN": "127.0.0.1:0", variable: addr}, "--reset", "--data", dir)
		if code != 1 || !strings.Contains(stderr, addr+" (for mailpit's") ||
			!strings.Contains(stderr, "is taken: set "+variable+" to a free address") {
			t.Errorf("%s taken: exit %d, stderr %q", variable, code, stderr)
		}
		if err := os.Remove(mail); err != nil {
			t.Errorf("the refused run reset the demo: %v", err)
		}
		assertNothingStarted(t, dir, stderr)
	}
}

// A mailpit already on the default port (another run's) is not shared: this run's mailpit gets a
// free port, and says which.
func TestDevMailAddrMovesOffATakenDefault(t *testing.T) {
	def := takenAddr(t)
	var errOut bytes.Buffer
	addr, err := devMailAddr(IO{Err: &errOut}, func(string) string { return "" }, envDevInbox, def, "mailpit's inbox")
	if err != nil {
		t.Fatal(err)
	}
	if addr == def || !strings.HasPrefix(addr, "127.0.0.1:") || mailcatcher.CheckFree(addr) != nil {
		t.Fatalf("got %s for a taken %s; want another free address on the same host", addr, def)
	}
	if msg := errOut.String(); !strings.Contains(msg, def+" is taken") || !strings.Contains(msg, addr) ||
		!strings.Contains(msg, envDevInbox) {
		t.Errorf("the move is not said plainly: %q", msg)
	}
	free, err := devMailAddr(IO{Err: &errOut}, func(string) string { return "" }, envDevInbox, addr, "mailpit's inbox")
	if err != nil || free != addr {
		t.Errorf("a free default: got %s, %v; want it kept", free, err)
	}
}

func TestDevResetRefusesADatabaseItDoesNotOwn(t *testing.T) {
	dir := t.TempDir()
	code, stderr := runDev(t, map[string]string{"UNLOCKD_DATABASE_URL": "postgres://elsewhere/unlockd"}, "--reset", "--data", dir)
	if code != 2 || !strings.Contains(stderr, "UNLOCKD_DATABASE_URL") {
		t.Fatalf("exit %d, stderr %q; want a usage error naming UNLOCKD_DATABASE_URL", code, stderr)
	}
	assertNothingStarted(t, dir, stderr)
}

func TestResetDemoDeletesTheDatabaseAndMailOnly(t *testing.T) {
	dir := t.TempDir()
	cluster, err := pgcluster.New(filepath.Join(dir, "pg"), 0)
	pgtest.Prerequisite(t, err)
	for _, f := range []string{"pg/data/PG_VERSION", "mailpit.db", "mailpit.db-wal", "bin/unlockd"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var errOut bytes.Buffer
	if err := resetDemo(context.Background(), IO{Err: &errOut}, cluster, dir); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"pg", "mailpit.db", "mailpit.db-wal"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after a reset (%v)", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bin/unlockd")); err != nil {
		t.Errorf("the reset deleted the built binary: %v", err)
	}
}

// The demo's locked accounts got there the way real accounts do: failed sign-ins under the lockout
// policy and an administrator's freeze, each with its lock record, reason, times and audit events.
func TestDemoSeedLocksAccountsThroughTheLockoutPolicy(t *testing.T) {
	e := newCLIEnv(t)
	ctx := context.Background()
	var errOut bytes.Buffer
	a, err := open(ctx, func(k string) string { return e.env[k] }, nil, IO{Err: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// The story takes some fifty password checks: cheap ones here, the same rules.
	a.hasher = secret.NewHasher(secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2, 16, 5*time.Second)
	if err := seedDemo(ctx, a, IO{Err: &errOut}); err != nil {
		t.Fatalf("seed: %v\n%s", err, errOut.String())
	}
	now := time.Now()
	get := func(login string) *account.Account {
		t.Helper()
		acc, err := a.accounts.Accounts.AccountByLogin(ctx, login)
		if err != nil {
			t.Fatalf("%s: %v", login, err)
		}
		return acc
	}
	locks := func(acc *account.Account) []account.LockRecord {
		t.Helper()
		l, err := a.accounts.Oversight.AccountLocks(ctx, acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	within := func(at time.Time, ago time.Duration) bool {
		return at.After(now.Add(-ago-time.Minute)) && at.Before(now.Add(-ago+time.Minute))
	}
	find := func(records []account.LockRecord, ago time.Duration) *account.LockRecord {
		for i := range records {
			if within(records[i].StartedAt, ago) {
				return &records[i]
			}
		}
		return nil
	}

	carol := get("carol")
	if s := carol.EffectiveState(now); s != account.StateLocked || carol.Reason == "" {
		t.Errorf("carol: %s, reason %q; want locked with a reason", s, carol.Reason)
	}
	carolLocks := locks(carol)
	if len(carolLocks) != len(demoCarolLocks) {
		t.Errorf("carol has %d locks, want %d: %+v", len(carolLocks), len(demoCarolLocks), carolLocks)
	}
	for i, at := range demoCarolLocks {
		l := find(carolLocks, -at)
		if l == nil {
			t.Errorf("carol has no lock that started %s ago: %+v", -at, carolLocks)
			continue
		}
		last := i == len(demoCarolLocks)-1
		if l.Source != "automatic" || l.Reason == "" || (l.LiftedAt == nil) == !last {
			t.Errorf("carol's lock of %s ago: %+v; want automatic, with a reason, lifted unless the last", -at, *l)
		}
	}

	bob := get("bob")
	if s := bob.EffectiveState(now); s != account.StateLockedTemporarily || bob.LockedUntil == nil ||
		!bob.LockedUntil.After(now.Add(15*time.Minute)) {
		t.Errorf("bob: %s until %v; want a temporary lock of a second, longer lockout", s, bob.LockedUntil)
	}
	if l := find(locks(bob), 0); l == nil || l.Until == nil || l.Reason == "" {
		t.Errorf("bob's current lock lacks its record, end or reason: %+v", locks(bob))
	}

	dave := get("dave")
	daveLocks := locks(dave)
	if s := dave.EffectiveState(now); s != account.StateFrozen || dave.Reason != "compliance review" ||
		len(daveLocks) != 1 || daveLocks[0].Source != "administrator" || daveLocks[0].Actor != demoAdmin.Name ||
		!within(daveLocks[0].StartedAt, -demoDaveFrozen) {
		t.Errorf("dave: %s (%q), locks %+v; want frozen by an administrator for a compliance review", s, dave.Reason, daveLocks)
	}
	if s := get("erin").EffectiveState(now); s != account.StateExpired {
		t.Errorf("erin: %s, want expired", s)
	}
	if s := get("frank").EffectiveState(now); s != account.StatePendingVerification {
		t.Errorf("frank: %s, want pending_verification", s)
	}

	// The audit log tells the same story: the failed sign-ins and the locks, with reasons and times.
	events, err := a.accounts.Audit.AuditEvents(ctx, account.AuditQuery{AccountID: &carol.ID, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var failed, locked int
	for _, ev := range events {
		switch ev.Action {
		case audit.SignInFailed:
			failed++
		case audit.AccountLocked:
			locked++
			if !strings.Contains(ev.Details, `"reason"`) || ev.At.Before(now.Add(demoStart)) || ev.At.After(now) {
				t.Errorf("carol's lock event %+v lacks a reason or a time within the demo's history", ev)
			}
		}
	}
	if locked != len(demoCarolLocks) || failed < locked {
		t.Errorf("carol's audit: %d failed sign-ins, %d locks; want the lockouts that locked her", failed, locked)
	}
	if n, err := a.accounts.Audit.VerifyAudit(ctx); err != nil {
		t.Errorf("the audit chain after seeding (%d events): %v", n, err)
	}

	banner, err := demoBanner(ctx, a, "http://127.0.0.1:8025", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"carol      user      locked: ", "bob        user      locked_temporarily until " +
		bob.LockedUntil.UTC().Format("15:04") + " UTC\n",
		"dave       user      frozen: compliance review", "inbox at http://127.0.0.1:8025", "RESET=1"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner)
		}
	}

	// A second run keeps the demo as it is.
	before := len(events)
	if err := seedDemo(ctx, a, IO{Err: &errOut}); err != nil {
		t.Fatal(err)
	}
	if again, _ := a.accounts.Audit.AuditEvents(ctx, account.AuditQuery{AccountID: &carol.ID, Limit: 500}); len(again) != before {
		t.Errorf("a second seed changed carol's history: %d events, had %d", len(again), before)
	}
}

// dev --ldap runs a directory of its own: with another one configured it refuses, before anything
// starts.
func TestDevLDAPRefusesAConfiguredDirectory(t *testing.T) {
	dir := t.TempDir()
	code, stderr := runDev(t, map[string]string{"UNLOCKD_LISTEN": "127.0.0.1:0", "UNLOCKD_DIRECTORY_URL": "ldap://ldap.example.com"},
		"--ldap", "--data", dir)
	if code != 2 || !strings.Contains(stderr, "UNLOCKD_DIRECTORY_URL") {
		t.Fatalf("exit %d, stderr %q; want a usage error naming UNLOCKD_DIRECTORY_URL", code, stderr)
	}
	assertNothingStarted(t, dir, stderr)
}
