package directory_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/unlockd/unlockd/internal/directory"
	"github.com/unlockd/unlockd/internal/directory/slapdtest"
)

// These tests run against a real slapd with the ppolicy overlay (see slapdtest): locks come from
// real failed binds, and unlocks are proven by real binds.

const alicePassword = "correct horse battery"

func newDirectory(t *testing.T, srv *slapdtest.Server, change ...func(*directory.Config)) *directory.Directory {
	t.Helper()
	cfg := directory.Config{
		URL:              srv.URL,
		Kind:             directory.OpenLDAP,
		BindDN:           slapdtest.ServiceDN,
		BindPassword:     slapdtest.ServicePassword,
		BaseDN:           slapdtest.PeopleDN,
		DialTimeout:      2 * time.Second,
		OperationTimeout: 3 * time.Second,
	}
	for _, c := range change {
		c(&cfg)
	}
	d, err := directory.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func addAlice(t *testing.T, srv *slapdtest.Server) string {
	t.Helper()
	return srv.MustAddPerson(t, slapdtest.Person{UID: "alice", Password: alicePassword, Mail: "alice@example.org",
		Mobile: "+8613800000001", DisplayName: "Alice Liddell"})
}

// statusOf finds the person and derives their state with the directory's policy, as a sync would.
func statusOf(t *testing.T, d *directory.Directory, username string, now time.Time) (directory.Person, directory.Status) {
	t.Helper()
	ctx := context.Background()
	p, err := d.Find(ctx, username)
	if err != nil {
		t.Fatalf("find %s: %v", username, err)
	}
	pol, err := d.Policy(ctx, p.PolicyDN)
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	return p, directory.Derive(d.Kind(), p.Lock, pol, now)
}

func TestFindReadsContactsAndThePolicy(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	srv.MustAddPerson(t, slapdtest.Person{UID: "bob", Password: "bob's password"})
	d := newDirectory(t, srv)
	ctx := context.Background()

	p, st := statusOf(t, d, "alice", time.Now())
	if p.DN != dn || p.Username != "alice" || p.Email != "alice@example.org" || p.Phone != "+8613800000001" ||
		p.DisplayName != "Alice Liddell" || p.Changed == "" {
		t.Fatalf("alice read as %+v", p)
	}
	// The identifier is the entry's entryUUID, and another entry's is another.
	if uuid := srv.MustAttribute(t, dn, "entryUUID"); len(uuid) != 1 || p.ID != uuid[0] || len(p.ID) != 36 {
		t.Fatalf("alice's identifier %q, entryUUID %q", p.ID, uuid)
	}
	if st.State != directory.StateActive || st.FailedAttempts != 0 {
		t.Fatalf("a new person is %+v, want active", st)
	}
	if bob, err := d.Find(ctx, "bob"); err != nil || bob.DisplayName != "bob" || bob.ID == "" || bob.ID == p.ID {
		t.Fatalf("without displayName the cn is the display name, and bob has an identifier of his own: %+v, %v", bob, err)
	}
	if _, err := d.Find(ctx, "nobody"); !errors.Is(err, directory.ErrNotFound) {
		t.Fatalf("unknown username: %v, want ErrNotFound", err)
	}
	pol, err := d.Policy(ctx, "")
	want := directory.Policy{Lockout: true, MaxFailures: 3, LockoutDuration: 5 * time.Minute, MaxPasswordAge: 90 * 24 * time.Hour}
	if err != nil || pol != want {
		t.Fatalf("policy %+v, %v; want %+v", pol, err, want)
	}
	if err := d.CheckPassword(ctx, p.DN, alicePassword); err != nil {
		t.Fatalf("the right password: %v", err)
	}
}

func TestFailedBindsLockForThePolicysDurationAndUnlockLetsTheOwnerIn(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	ctx := context.Background()

	before := time.Now().Truncate(time.Second)
	for i := range 3 {
		if err := d.CheckPassword(ctx, dn, fmt.Sprintf("guess %d", i)); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("wrong password %d: %v, want ErrInvalidCredentials", i, err)
		}
	}
	after := time.Now()
	if err := srv.Bind(dn, alicePassword); !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		t.Fatalf("the right password while locked: %v, want refused", err)
	}
	if err := d.CheckPassword(ctx, dn, alicePassword); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("CheckPassword while locked: %v, want ErrInvalidCredentials", err)
	}

	_, st := statusOf(t, d, "alice", time.Now())
	if st.State != directory.StateLockedTemporarily {
		t.Fatalf("after 3 failures: %+v, want locked_temporarily", st)
	}
	if st.LockedAt.Before(before) || st.LockedAt.After(after) || !st.LockedUntil.Equal(st.LockedAt.Add(5*time.Minute)) {
		t.Fatalf("locked at %v until %v; want a lock between %v and %v lasting 5m", st.LockedAt, st.LockedUntil, before, after)
	}
	if st.FailedAttempts < 3 {
		t.Fatalf("failures %d, want at least 3", st.FailedAttempts)
	}
	if _, later := statusOf(t, d, "alice", st.LockedUntil); later.State != directory.StateActive {
		t.Fatalf("at locked_until the state is %s, want active", later.State)
	}

	lifted, err := d.Unlock(ctx, dn, directory.KeepFreeze)
	if err != nil || !lifted {
		t.Fatalf("unlock: %v, %v", lifted, err)
	}
	if got := srv.MustAttribute(t, dn, "pwdAccountLockedTime"); len(got) != 0 {
		t.Fatalf("pwdAccountLockedTime still %v", got)
	}
	if got := srv.MustAttribute(t, dn, "pwdFailureTime"); len(got) != 0 {
		t.Fatalf("pwdFailureTime still %v", got)
	}
	if err := srv.Bind(dn, alicePassword); err != nil {
		t.Fatalf("a real bind with the right password after the unlock: %v", err)
	}
	if _, st := statusOf(t, d, "alice", time.Now()); st.State != directory.StateActive || st.FailedAttempts != 0 {
		t.Fatalf("after the unlock: %+v", st)
	}
	if lifted, err := d.Unlock(ctx, dn, directory.KeepFreeze); err != nil || lifted {
		t.Fatalf("unlocking an unlocked person: %v, %v; want nothing to do", lifted, err)
	}
}

func TestALockWithoutDurationIsLocked(t *testing.T) {
	t.Parallel()
	policy := slapdtest.DefaultPolicy()
	policy.LockoutDuration = 0
	srv := slapdtest.New(t, policy)
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	srv.MustFailBinds(t, dn, 3)
	_, st := statusOf(t, d, "alice", time.Now().Add(24*time.Hour))
	if st.State != directory.StateLocked || !st.LockedUntil.IsZero() || st.LockedAt.IsZero() {
		t.Fatalf("a lock with pwdLockoutDuration 0, a day later: %+v, want locked with no end", st)
	}
}

func TestAnAdministratorsLockIsFrozenAndOnlyLiftedOnPurpose(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	ctx := context.Background()
	srv.MustFreeze(t, dn)

	if _, st := statusOf(t, d, "alice", time.Now()); st.State != directory.StateFrozen {
		t.Fatalf("000001010000Z reads as %+v, want frozen", st)
	}
	if _, err := d.Unlock(ctx, dn, directory.KeepFreeze); !errors.Is(err, directory.ErrFrozen) {
		t.Fatalf("a self-service unlock of a frozen person: %v, want ErrFrozen", err)
	}
	if got := srv.MustAttribute(t, dn, "pwdAccountLockedTime"); len(got) != 1 || got[0] != directory.AdministratorLock {
		t.Fatalf("the freeze after a refused unlock: %v", got)
	}
	if err := srv.Bind(dn, alicePassword); err == nil {
		t.Fatal("a frozen person could bind")
	}
	if lifted, err := d.Unlock(ctx, dn, directory.LiftFreeze); err != nil || !lifted {
		t.Fatalf("an administrator's unfreeze: %v, %v", lifted, err)
	}
	if err := srv.Bind(dn, alicePassword); err != nil {
		t.Fatalf("bind after the unfreeze: %v", err)
	}
}

func TestSetPasswordGoesThroughTheDirectorysPolicy(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	ctx := context.Background()
	srv.MustFailBinds(t, dn, 3)

	const next = "a new and longer passphrase"
	if err := d.SetPassword(ctx, dn, next); err != nil {
		t.Fatalf("set password: %v", err)
	}
	if err := srv.Bind(dn, next); err != nil {
		t.Fatalf("bind with the new password: %v", err)
	}
	if err := srv.Bind(dn, alicePassword); err == nil {
		t.Fatal("the old password still binds")
	}
	if _, st := statusOf(t, d, "alice", time.Now()); st.State != directory.StateActive {
		t.Fatalf("ppolicy clears its lock when the password changes; state %+v", st)
	}

	var refused *directory.RefusedError
	err := d.SetPassword(ctx, dn, "short")
	if !errors.As(err, &refused) || refused.Rule != directory.RefusedQuality || !strings.Contains(refused.Reason, "quality") {
		t.Fatalf("a 5-character password under pwdMinLength 8: %v, want a quality refusal with the directory's reason", err)
	}
	err = d.SetPassword(ctx, dn, next)
	if !errors.As(err, &refused) || refused.Rule != directory.RefusedHistory {
		t.Fatalf("the current password again: %v, want a history refusal", err)
	}
	if err := d.SetPassword(ctx, dn, "a third passphrase"); err != nil {
		t.Fatal(err)
	}
	err = d.SetPassword(ctx, dn, next)
	if !errors.As(err, &refused) || refused.Rule != directory.RefusedHistory || !strings.Contains(refused.Reason, "history") {
		t.Fatalf("a password from pwdHistory: %v, want a history refusal", err)
	}
	if err := d.SetPassword(ctx, dn, ""); !errors.As(err, &refused) {
		t.Fatalf("an empty password (which would let the server make one up): %v, want refused", err)
	}
	if err := srv.Bind(dn, "a third passphrase"); err != nil {
		t.Fatalf("refusals changed the password: %v", err)
	}
}

func TestASetPasswordIsNotOneToChangeAgain(t *testing.T) {
	t.Parallel()
	policy := slapdtest.DefaultPolicy()
	policy.MustChange = true
	srv := slapdtest.New(t, policy)
	dn := addAlice(t, srv)
	// ppolicy takes a change by someone with manage rights on passwords for an administrator's
	// reset, and marks it with pwdReset; the root has those rights (the test's service account not).
	d := newDirectory(t, srv, func(c *directory.Config) { c.BindDN, c.BindPassword = slapdtest.AdminDN, slapdtest.AdminPassword })
	const chosen = "a password the owner chose"
	if err := d.SetPassword(context.Background(), dn, chosen); err != nil {
		t.Fatal(err)
	}
	if got := srv.MustAttribute(t, dn, "pwdReset"); len(got) != 0 {
		t.Fatalf("pwdReset after a reset by its owner: %v, want none", got)
	}
	if _, st := statusOf(t, d, "alice", time.Now()); st.PasswordMustChange {
		t.Fatalf("status %+v, want no change asked", st)
	}
	// The directory agrees: a person whose password must change may do nothing else, not even search.
	conn, err := srv.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Bind(dn, chosen); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"uid"}, nil)); err != nil {
		t.Fatalf("the owner's own search after the reset: %v", err)
	}

	// An administrator's reset elsewhere does leave pwdReset: the right password then says so.
	admin, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", "set by an administrator")); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckPassword(context.Background(), dn, "set by an administrator"); !errors.Is(err, directory.ErrPasswordExpired) {
		t.Fatalf("the right password after an administrator's reset: %v, want ErrPasswordExpired", err)
	}
}

func TestUsernamesCannotWidenTheFilter(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	addAlice(t, srv)
	srv.MustAddPerson(t, slapdtest.Person{UID: "alina", Password: "alina's password"})
	srv.MustAddPerson(t, slapdtest.Person{UID: "bob", Password: "bob's password"})
	d := newDirectory(t, srv)
	ctx := context.Background()
	for _, username := range []string{"*", "a*", "*)(uid=*", "a*)(uid=*", `\`, `\2a`, "(", ")", "alice)(uid=bob",
		"*)(|(uid=*", "alice\x00", "alice\x00garbage", "alice\r\n", "\x00", "ali\x00ce", "alice*", strings.Repeat("a", 100000), "\xff\xfe"} {
		p, err := d.Find(ctx, username)
		if !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("Find(%.40q) = %q, %v; want ErrNotFound", username, p.Username, err)
		}
	}
	if p, err := d.Find(ctx, "alice"); err != nil || p.Username != "alice" {
		t.Fatalf("alice herself: %+v, %v", p, err)
	}

	// A filter that does match several people gives none of them.
	srv.MustAddPerson(t, slapdtest.Person{UID: "carol", Password: "carol's password", Mail: "shared@example.org"})
	srv.MustAddPerson(t, slapdtest.Person{UID: "dave", Password: "dave's password", Mail: "shared@example.org"})
	byMail := newDirectory(t, srv, func(c *directory.Config) { c.UserFilter = "(&(objectClass=inetOrgPerson)(mail={username}))" })
	if _, err := byMail.Find(ctx, "shared@example.org"); !errors.Is(err, directory.ErrAmbiguous) {
		t.Fatalf("two people with one address: %v, want ErrAmbiguous", err)
	}
}

func TestTwoUnlocksAtOnceBothSucceed(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	for round := range 5 {
		srv.MustFailBinds(t, dn, 3)
		var wg sync.WaitGroup
		var mu sync.Mutex
		lifted := 0
		for range 2 {
			wg.Go(func() {
				ok, err := d.Unlock(context.Background(), dn, directory.KeepFreeze)
				if err != nil {
					t.Errorf("round %d: a concurrent unlock failed: %v", round, err)
				}
				if ok {
					mu.Lock()
					lifted++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if lifted == 0 {
			t.Fatalf("round %d: neither unlock lifted the lock", round)
		}
		if err := srv.Bind(dn, alicePassword); err != nil {
			t.Fatalf("round %d: bind after two unlocks: %v", round, err)
		}
	}
}

func TestAnUnlockRacingTheDirectorysOwnLockLeavesAStateThatBindsAgree(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	for round := range 10 {
		srv.MustFailBinds(t, dn, 2)
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := d.Unlock(context.Background(), dn, directory.KeepFreeze); err != nil {
				t.Errorf("round %d: unlock: %v", round, err)
			}
		})
		wg.Go(func() { _ = srv.Bind(dn, "the third wrong password") })
		wg.Wait()
		// Whichever came first, what the directory holds is what a sync reads and a bind obeys.
		_, st := statusOf(t, d, "alice", time.Now())
		err := srv.Bind(dn, alicePassword)
		if (st.State == directory.StateActive) != (err == nil) {
			t.Fatalf("round %d: read as %s, but the right password binds: %v", round, st.State, err)
		}
		if _, err := d.Unlock(context.Background(), dn, directory.KeepFreeze); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAnUnlockRacingAFreezeNeverLiftsTheFreeze(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	for round := range 10 {
		srv.MustFailBinds(t, dn, 3)
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := d.Unlock(context.Background(), dn, directory.KeepFreeze)
			if err != nil && !errors.Is(err, directory.ErrFrozen) {
				t.Errorf("round %d: unlock: %v", round, err)
			}
		})
		wg.Go(func() { srv.MustFreeze(t, dn) })
		wg.Wait()
		if got := srv.MustAttribute(t, dn, "pwdAccountLockedTime"); len(got) != 1 || got[0] != directory.AdministratorLock {
			t.Fatalf("round %d: after an unlock raced a freeze the lock is %v; the freeze must stay", round, got)
		}
		if _, err := d.Unlock(context.Background(), dn, directory.LiftFreeze); err != nil {
			t.Fatal(err)
		}
	}
}

func TestARightButExpiredPasswordIsToldApart(t *testing.T) {
	t.Parallel()
	policy := slapdtest.DefaultPolicy()
	policy.MaxAge = 2 * time.Second
	srv := slapdtest.New(t, policy)
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	ctx := context.Background()
	if err := d.CheckPassword(ctx, dn, alicePassword); err != nil {
		t.Fatalf("a fresh password: %v", err)
	}
	time.Sleep(3 * time.Second)
	if _, st := statusOf(t, d, "alice", time.Now()); st.PasswordExpiresAt.IsZero() || st.PasswordExpiresAt.After(time.Now()) {
		t.Fatalf("after pwdMaxAge the password expires at %v, want a past time", st.PasswordExpiresAt)
	}
	if err := d.CheckPassword(ctx, dn, alicePassword); !errors.Is(err, directory.ErrPasswordExpired) {
		t.Fatalf("the right but expired password: %v, want ErrPasswordExpired", err)
	}
	if err := d.CheckPassword(ctx, dn, "a wrong password"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("a wrong password when the right one has expired: %v, want ErrInvalidCredentials", err)
	}
	if err := d.SetPassword(ctx, dn, "a fresh password again"); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckPassword(ctx, dn, "a fresh password again"); err != nil {
		t.Fatalf("after a new password: %v", err)
	}
}

func TestAnEmptyPasswordIsRefusedWithoutABind(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	d := newDirectory(t, srv)
	if err := d.CheckPassword(context.Background(), dn, ""); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("empty password: %v, want ErrInvalidCredentials (an empty simple bind is anonymous)", err)
	}
	if err := d.CheckPassword(context.Background(), "uid=nobody,"+slapdtest.PeopleDN, "whatever"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("an unknown DN: %v, want ErrInvalidCredentials", err)
	}
}

func TestSyncReadsEveryoneInPagesAndThenOnlyChanges(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	admin, err := srv.Admin()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const people = 1234 // more than two pages
	for i := range people {
		req := ldap.NewAddRequest(slapdtest.PersonDN(fmt.Sprintf("person%04d", i)), nil)
		req.Attribute("objectClass", []string{"inetOrgPerson"})
		req.Attribute("uid", []string{fmt.Sprintf("person%04d", i)})
		req.Attribute("cn", []string{fmt.Sprintf("Person %d", i)})
		req.Attribute("sn", []string{"Person"})
		req.Attribute("userPassword", []string{"a password of some length"})
		if err := admin.Add(req); err != nil {
			t.Fatal(err)
		}
	}
	// modifyTimestamp has whole seconds, and a sync reads again from its mark's second on (a change
	// in that second after the sync must not be missed). So that the mark's second holds one
	// change only, one person changes a second after the others were added.
	time.Sleep(1100 * time.Millisecond)
	touched := slapdtest.PersonDN("person0000")
	touch := ldap.NewModifyRequest(touched, nil)
	touch.Replace("mail", []string{"person0000@example.org"})
	if err := admin.Modify(touch); err != nil {
		t.Fatal(err)
	}
	d := newDirectory(t, srv)
	ctx := context.Background()
	seen := map[string]bool{}
	mark, err := d.People(ctx, "", func(p directory.Person) error {
		if seen[p.Username] {
			t.Errorf("%s seen twice", p.Username)
		}
		seen[p.Username] = true
		return nil
	})
	if err != nil || len(seen) != people || mark == "" {
		t.Fatalf("full sync: %d people, mark %q, %v; want %d", len(seen), mark, err, people)
	}

	time.Sleep(1100 * time.Millisecond)
	lockedDN := slapdtest.PersonDN("person0042")
	srv.MustFailBinds(t, lockedDN, 3)
	var changed []string
	sawLock := false
	next, err := d.People(ctx, mark, func(p directory.Person) error {
		changed = append(changed, p.DN)
		sawLock = sawLock || (p.DN == lockedDN && p.Lock.PwdAccountLockedTime != "")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawLock || len(changed) != 2 || next == mark {
		t.Fatalf("incremental sync after one lock: %.5v (%d), lock seen %v, mark %s -> %s; want the mark's second (%s) and the lock",
			changed, len(changed), sawLock, mark, next, touched)
	}
	var again []string
	if _, err := d.People(ctx, next, func(p directory.Person) error { again = append(again, p.DN); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0] != lockedDN {
		t.Fatalf("a sync from the newest mark with nothing new: %v, want only the change of that second", again)
	}

	stop := errors.New("stop")
	if _, err := d.People(ctx, "", func(directory.Person) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("an error from the callback: %v, want it back", err)
	}
	if _, err := d.People(ctx, "not a time", func(directory.Person) error { return nil }); err == nil {
		t.Fatal("a malformed mark was accepted")
	}
}

func TestAnUnreachableDirectoryIsUnavailableWithinTheTimeout(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)

	check := func(t *testing.T, d *directory.Directory, bound time.Duration) {
		t.Helper()
		ctx := context.Background()
		for name, op := range map[string]func() error{
			"find":     func() error { _, err := d.Find(ctx, "alice"); return err },
			"password": func() error { return d.CheckPassword(ctx, dn, alicePassword) },
			"unlock":   func() error { _, err := d.Unlock(ctx, dn, directory.KeepFreeze); return err },
			"set":      func() error { return d.SetPassword(ctx, dn, "another long password") },
			"policy":   func() error { _, err := d.Policy(ctx, ""); return err },
			"sync":     func() error { _, err := d.People(ctx, "", func(directory.Person) error { return nil }); return err },
		} {
			start := time.Now()
			err := op()
			if took := time.Since(start); !errors.Is(err, directory.ErrUnavailable) || took > bound {
				t.Errorf("%s: %v after %v; want ErrUnavailable within %v", name, err, took, bound)
			}
		}
	}

	t.Run("a hung server", func(t *testing.T) {
		d := newDirectory(t, srv, func(c *directory.Config) { c.OperationTimeout = 700 * time.Millisecond })
		if err := srv.Pause(); err != nil {
			t.Fatal(err)
		}
		defer srv.Resume()
		check(t, d, 2*time.Second)
	})
	t.Run("the caller gives up first", func(t *testing.T) {
		d := newDirectory(t, srv)
		if err := srv.Pause(); err != nil {
			t.Fatal(err)
		}
		defer srv.Resume()
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := d.Find(ctx, "alice"); !errors.Is(err, directory.ErrUnavailable) || time.Since(start) > time.Second {
			t.Fatalf("find with a 300ms context: %v after %v", err, time.Since(start))
		}
	})
	t.Run("a stopped server", func(t *testing.T) {
		d := newDirectory(t, srv)
		srv.Stop()
		check(t, d, time.Second)
	})
	t.Run("a closed port", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		d := newDirectory(t, srv, func(c *directory.Config) { c.URL = "ldap://" + addr })
		check(t, d, time.Second)
	})
}

func TestTLSTrustsTheConfiguredCAOnly(t *testing.T) {
	t.Parallel()
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	dn := addAlice(t, srv)
	ctx := context.Background()
	const next = "a password sent over TLS"

	startTLS := newDirectory(t, srv, func(c *directory.Config) {
		c.URL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
		c.StartTLS, c.CAFile = true, srv.CAFile
	})
	if p, err := startTLS.Find(ctx, "alice"); err != nil || p.DN != dn {
		t.Fatalf("find over StartTLS: %+v, %v", p, err)
	}
	if err := startTLS.SetPassword(ctx, dn, next); err != nil {
		t.Fatalf("set password over StartTLS: %v", err)
	}
	ldaps := newDirectory(t, srv, func(c *directory.Config) { c.URL, c.CAFile = srv.LDAPSURL, srv.CAFile })
	if err := ldaps.CheckPassword(ctx, dn, next); err != nil {
		t.Fatalf("bind over ldaps: %v", err)
	}

	// Without the CA the server is not trusted: a configuration error, not an outage.
	for name, d := range map[string]*directory.Directory{
		"ldaps with the system roots": newDirectory(t, srv, func(c *directory.Config) { c.URL = srv.LDAPSURL }),
		"StartTLS with the system roots": newDirectory(t, srv, func(c *directory.Config) {
			c.URL, c.StartTLS = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), true
		}),
	} {
		_, err := d.Find(ctx, "alice")
		if err == nil || errors.Is(err, directory.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("%s: %v, want a certificate error that is not ErrUnavailable", name, err)
		}
	}
}
