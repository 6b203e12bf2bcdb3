package directory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/unlockd/unlockd/internal/directory"
	"github.com/unlockd/unlockd/internal/directory/sambatest"
)

// These tests run against Samba's Active Directory domain controller (see sambatest), shared by
// the package's tests: each uses people of its own.

func TestMain(m *testing.M) { sambatest.Main(m) }

func newADDirectory(t *testing.T, srv *sambatest.Server, change ...func(*directory.Config)) *directory.Directory {
	t.Helper()
	cfg := directory.Config{
		URL:              sambatest.LDAPSURL,
		Kind:             directory.ActiveDirectory,
		BindDN:           sambatest.ServiceDN,
		BindPassword:     sambatest.ServicePassword,
		BaseDN:           sambatest.BaseDN,
		CAFile:           srv.CAFile,
		DialTimeout:      2 * time.Second,
		OperationTimeout: 10 * time.Second,
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

func TestADFailedBindsLockForTheDomainsDurationAndUnlockLetsTheOwnerIn(t *testing.T) {
	srv := sambatest.Shared(t)
	const name, password = "ad-lock", "correct horse battery"
	dn := srv.MustAddPerson(t, sambatest.Person{Name: name, Password: password, Mail: "lock@example.org",
		Mobile: "+8613800000002", DisplayName: "Lock Person"})
	d := newADDirectory(t, srv)
	ctx := context.Background()

	p, st := statusOf(t, d, name, time.Now())
	if !strings.EqualFold(p.DN, dn) || p.Username != name || p.Email != "lock@example.org" || p.Phone != "+8613800000002" ||
		p.DisplayName != "Lock Person" || p.Changed == "" {
		t.Fatalf("read as %+v", p)
	}
	// The identifier is the objectGUID's 16 bytes, in hex.
	if again, err := d.Find(ctx, name); len(p.ID) != 32 || err != nil || again.ID != p.ID {
		t.Fatalf("identifier %q, read again %q (%v); want 32 hex digits, the same", p.ID, again.ID, err)
	}
	if st.State != directory.StateActive || st.PasswordExpiresAt.IsZero() {
		t.Fatalf("a new person: %+v, want active with a password that expires", st)
	}
	pol, err := d.Policy(ctx, p.PolicyDN)
	want := directory.Policy{Lockout: true, MaxFailures: sambatest.LockoutThreshold, LockoutDuration: sambatest.LockoutDuration,
		MaxPasswordAge: sambatest.MaxPasswordAge}
	if err != nil || pol != want {
		t.Fatalf("domain policy %+v, %v; want %+v", pol, err, want)
	}

	before := time.Now().Add(-time.Second)
	for i := range sambatest.LockoutThreshold {
		if err := d.CheckPassword(ctx, dn, fmt.Sprintf("guess %d", i)); !errors.Is(err, directory.ErrInvalidCredentials) {
			t.Fatalf("wrong password %d: %v", i, err)
		}
	}
	after := time.Now().Add(time.Second)
	if err := d.CheckPassword(ctx, dn, password); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("the right password while locked: %v, want ErrInvalidCredentials", err)
	}
	_, st = statusOf(t, d, name, time.Now())
	if st.State != directory.StateLockedTemporarily || st.LockedAt.Before(before) || st.LockedAt.After(after) ||
		!st.LockedUntil.Equal(st.LockedAt.Add(sambatest.LockoutDuration)) {
		t.Fatalf("after %d failures: %+v; want locked_temporarily from between %v and %v for %v",
			sambatest.LockoutThreshold, st, before, after, sambatest.LockoutDuration)
	}

	if lifted, err := d.Unlock(ctx, dn, directory.KeepFreeze); err != nil || !lifted {
		t.Fatalf("unlock: %v, %v", lifted, err)
	}
	if got := srv.MustAttribute(t, dn, "lockoutTime"); len(got) != 1 || got[0] != "0" {
		t.Fatalf("lockoutTime after the unlock: %v", got)
	}
	if err := srv.Bind(dn, password); err != nil {
		t.Fatalf("a real bind after the unlock: %v", err)
	}
	if _, st := statusOf(t, d, name, time.Now()); st.State != directory.StateActive {
		t.Fatalf("after the unlock: %+v", st)
	}
	if lifted, err := d.Unlock(ctx, dn, directory.KeepFreeze); err != nil || lifted {
		t.Fatalf("unlocking an unlocked person: %v, %v; want nothing to do", lifted, err)
	}
}

func TestADSetPasswordOverTLSThroughTheDomainsPolicy(t *testing.T) {
	srv := sambatest.Shared(t)
	const name = "ad-reset"
	dn := srv.MustAddPerson(t, sambatest.Person{Name: name, Password: "the first password"})
	ctx := context.Background()

	for how, d := range map[string]*directory.Directory{
		"ldaps":    newADDirectory(t, srv),
		"StartTLS": newADDirectory(t, srv, func(c *directory.Config) { c.URL, c.StartTLS = "ldap://localhost:389", true }),
	} {
		next := "a new password by " + how
		if err := d.SetPassword(ctx, dn, next); err != nil {
			t.Fatalf("%s: set password: %v", how, err)
		}
		if err := srv.Bind(dn, next); err != nil {
			t.Fatalf("%s: bind with the new password: %v", how, err)
		}
		var refused *directory.RefusedError
		err := d.SetPassword(ctx, dn, "short")
		if !errors.As(err, &refused) || refused.Rule != directory.RefusedQuality || !strings.Contains(refused.Reason, "too short") {
			t.Fatalf("%s: a password under the domain's minimum length: %v, want a quality refusal with the reason", how, err)
		}
		if err := srv.Bind(dn, next); err != nil {
			t.Fatalf("%s: a refusal changed the password: %v", how, err)
		}
	}
}

func TestADDisabledAndExpiredAccounts(t *testing.T) {
	srv := sambatest.Shared(t)
	d := newADDirectory(t, srv)
	disabled := srv.MustAddPerson(t, sambatest.Person{Name: "ad-disabled", Password: "a password of some length"})
	mod := ldap.NewModifyRequest(disabled, nil)
	mod.Replace("userAccountControl", []string{"514"})
	if err := srv.Modify(mod); err != nil {
		t.Fatal(err)
	}
	if _, st := statusOf(t, d, "ad-disabled", time.Now()); st.State != directory.StateDisabled {
		t.Fatalf("ACCOUNTDISABLE: %+v, want disabled", st)
	}

	expired := srv.MustAddPerson(t, sambatest.Person{Name: "ad-expired", Password: "a password of some length"})
	mod = ldap.NewModifyRequest(expired, nil)
	mod.Replace("accountExpires", []string{fileTime(time.Now().Add(-time.Hour))})
	if err := srv.Modify(mod); err != nil {
		t.Fatal(err)
	}
	if _, st := statusOf(t, d, "ad-expired", time.Now()); st.State != directory.StateExpired {
		t.Fatalf("accountExpires an hour ago: %+v, want expired", st)
	}
}

func TestADARightPasswordThatMustChangeIsToldApart(t *testing.T) {
	srv := sambatest.Shared(t)
	const password = "a password of some length"
	dn := srv.MustAddPerson(t, sambatest.Person{Name: "ad-mustchange", Password: password})
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("pwdLastSet", []string{"0"})
	if err := srv.Modify(mod); err != nil {
		t.Fatal(err)
	}
	d := newADDirectory(t, srv)
	ctx := context.Background()
	if _, st := statusOf(t, d, "ad-mustchange", time.Now()); !st.PasswordMustChange {
		t.Fatalf("pwdLastSet 0: %+v, want a password that must change", st)
	}
	if err := d.CheckPassword(ctx, dn, password); !errors.Is(err, directory.ErrPasswordExpired) {
		t.Fatalf("the right password that must change: %v, want ErrPasswordExpired", err)
	}
	if err := d.CheckPassword(ctx, dn, "a wrong password"); !errors.Is(err, directory.ErrInvalidCredentials) {
		t.Fatalf("a wrong password: %v, want ErrInvalidCredentials", err)
	}
}

func TestADUsernamesCannotWidenTheFilter(t *testing.T) {
	srv := sambatest.Shared(t)
	srv.MustAddPerson(t, sambatest.Person{Name: "ad-inject", Password: "a password of some length"})
	d := newADDirectory(t, srv)
	ctx := context.Background()
	for _, username := range []string{"*", "ad-*", "*)(sAMAccountName=*", `\`, "(", ")", "ad-inject\x00", "ad-inject\x00garbage", "ad-inject\n", "\x00",
		"*)(|(objectClass=*", "ad-inject)(sAMAccountName=*"} {
		if p, err := d.Find(ctx, username); !errors.Is(err, directory.ErrNotFound) {
			t.Errorf("Find(%q) = %q, %v; want ErrNotFound", username, p.Username, err)
		}
	}
	if p, err := d.Find(ctx, "ad-inject"); err != nil || p.Username != "ad-inject" {
		t.Fatalf("the person herself: %+v, %v", p, err)
	}
}

func TestADTwoUnlocksAtOnceBothSucceed(t *testing.T) {
	srv := sambatest.Shared(t)
	const password = "a password of some length"
	dn := srv.MustAddPerson(t, sambatest.Person{Name: "ad-race", Password: password})
	d := newADDirectory(t, srv)
	for round := range 3 {
		srv.MustFailBinds(t, dn, sambatest.LockoutThreshold)
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				if _, err := d.Unlock(context.Background(), dn, directory.KeepFreeze); err != nil {
					t.Errorf("round %d: a concurrent unlock failed: %v", round, err)
				}
			})
		}
		wg.Wait()
		if err := srv.Bind(dn, password); err != nil {
			t.Fatalf("round %d: bind after two unlocks: %v", round, err)
		}
	}
}

func TestADSyncFollowsUSNChanged(t *testing.T) {
	srv := sambatest.Shared(t)
	dn := srv.MustAddPerson(t, sambatest.Person{Name: "ad-sync", Password: "a password of some length"})
	d := newADDirectory(t, srv)
	ctx := context.Background()
	total := 0
	mark, err := d.People(ctx, "", func(directory.Person) error { total++; return nil })
	if err != nil || mark == "" || total < 2 {
		t.Fatalf("full sync: %d people, mark %q, %v", total, mark, err)
	}
	srv.MustFailBinds(t, dn, sambatest.LockoutThreshold)
	var changed []directory.Person
	next, err := d.People(ctx, mark, func(p directory.Person) error { changed = append(changed, p); return nil })
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range changed {
		found = found || (strings.EqualFold(p.DN, dn) && p.Lock.LockoutTime != "0" && p.Lock.LockoutTime != "")
	}
	if !found || len(changed) >= total || next == mark {
		t.Fatalf("incremental sync after a lockout: %d of %d people, lock seen %v, mark %s -> %s", len(changed), total, found, mark, next)
	}
	if _, err := d.Unlock(ctx, dn, directory.KeepFreeze); err != nil {
		t.Fatal(err)
	}
}

func TestADAFineGrainedPolicyWithoutEndLocksUntilLifted(t *testing.T) {
	srv := sambatest.Shared(t)
	const name = "ad-pso"
	dn := srv.MustAddPerson(t, sambatest.Person{Name: name, Password: "a password of some length"})
	srv.MustApplyPSO(t, "no-end", name, 0)
	d := newADDirectory(t, srv)
	ctx := context.Background()
	p, err := d.Find(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.PolicyDN, "CN=no-end,") {
		t.Fatalf("msDS-ResultantPSO %q, want the person's own policy", p.PolicyDN)
	}
	pol, err := d.Policy(ctx, p.PolicyDN)
	if want := (directory.Policy{Lockout: true, MaxFailures: sambatest.LockoutThreshold, MaxPasswordAge: sambatest.MaxPasswordAge}); err != nil || pol != want {
		t.Fatalf("the person's policy: %+v, %v; want %+v", pol, err, want)
	}
	srv.MustFailBinds(t, dn, sambatest.LockoutThreshold)
	if _, st := statusOf(t, d, name, time.Now().Add(time.Hour)); st.State != directory.StateLocked || !st.LockedUntil.IsZero() {
		t.Fatalf("an hour after a lock without end: %+v, want locked", st)
	}
	if lifted, err := d.Unlock(ctx, dn, directory.KeepFreeze); err != nil || !lifted {
		t.Fatalf("unlock: %v, %v", lifted, err)
	}
}

// fileTime writes t as an AD FILETIME attribute.
func fileTime(t time.Time) string {
	return fmt.Sprint(t.Unix()*10_000_000 + 116444736000000000)
}
