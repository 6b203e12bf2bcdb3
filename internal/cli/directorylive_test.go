package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/directory"
	"github.com/unlockd/unlockd/internal/directory/slapdtest"
)

// These tests race unlockd's writes in a real slapd (slapdtest) against each other and against the
// directory's own lockout, and check that unlockd and the directory agree afterwards.

// auditActions counts the audit log's events on the username's account, by action, and the
// operations of its directory.written events.
func (e *cliEnv) auditActions(username string) (actions map[string]int, writes []string) {
	e.t.Helper()
	code, out, stderr := e.run("", "audit", "export", "--format", "jsonl")
	if code != 0 {
		e.t.Fatalf("audit export: exit %d: %s", code, stderr)
	}
	actions = map[string]int{}
	for line := range strings.Lines(out) {
		var ev struct {
			Action   string            `json:"action"`
			Username string            `json:"username"`
			Details  map[string]string `json:"details"`
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			e.t.Fatalf("audit export: %v in %q", err, line)
		}
		if ev.Username != username {
			continue
		}
		actions[ev.Action]++
		if ev.Action == "directory.written" {
			writes = append(writes, ev.Details["operation"])
		}
	}
	return actions, writes
}

// directoryState is the person's state as the directory's own attributes and policy give it now,
// read with the connector, apart from anything unlockd holds.
func directoryState(t *testing.T, srv *slapdtest.Server, uid string) string {
	t.Helper()
	d, err := directory.New(directory.Config{URL: srv.URL, BindDN: slapdtest.ServiceDN,
		BindPassword: slapdtest.ServicePassword, BaseDN: slapdtest.PeopleDN})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p, err := d.Find(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := d.Policy(ctx, p.PolicyDN)
	if err != nil {
		t.Fatal(err)
	}
	return string(directory.Derive(d.Kind(), p.Lock, policy, time.Now()).State)
}

// Two administrators unlock one person at the same moment, from two processes (two apps, each
// with its own connections): both answer, one unlock is recorded, and the directory is unlocked.
func TestDirectoryTwoUnlocksAtOnce(t *testing.T) {
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	const uid, password = "rui.costa", "rui keeps a long passphrase"
	dn := srv.MustAddPerson(t, slapdtest.Person{UID: uid, Password: password, Mail: "rui.costa@example.org"})
	e := newCLIEnv(t)
	e.useDirectory(srv.URL)
	e.mustSync()
	ctx := context.Background()
	var apps [2]*app
	for i := range apps {
		a, err := open(ctx, func(k string) string { return e.env[k] }, nil, IO{Err: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		apps[i] = a
	}

	const rounds = 12
	for round := range rounds {
		srv.MustFailBinds(t, dn, srv.Policy.MaxFailures)
		if got := e.showJSON(uid)["state"]; got != "locked_temporarily" {
			t.Fatalf("round %d: after the failed binds unlockd shows %v, want locked_temporarily", round, got)
		}
		errs := make([]error, len(apps))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, a := range apps {
			wg.Go(func() {
				<-start
				// One starts a little later each round, so that some round has it read the person
				// from the directory while the other's unlock is under way.
				if i == round%2 {
					time.Sleep(time.Duration(round) * time.Millisecond)
				}
				_, errs[i] = a.accounts.Staff.Unlock(ctx, uid, fmt.Sprintf("round %d, desk %d", round, i), cliActor)
			})
		}
		close(start)
		wg.Wait()
		unlocked := 0
		for _, err := range errs {
			switch {
			case err == nil:
				unlocked++
			case account.ErrorCode(err) == account.EINVALID:
				// The other unlock came first: a refusal that says the account is not locked.
			default:
				t.Fatalf("round %d: an unlock answered %v", round, err)
			}
		}
		if unlocked != 1 {
			t.Errorf("round %d: %d of two unlocks at once say they unlocked, want 1: %v", round, unlocked, errs)
		}
		if got := srv.MustAttribute(t, dn, "pwdAccountLockedTime"); len(got) != 0 {
			t.Fatalf("round %d: after the unlocks slapd still has pwdAccountLockedTime %q", round, got)
		}
		if err := srv.Bind(dn, password); err != nil {
			t.Fatalf("round %d: the right password after the unlocks: %v", round, err)
		}
		if got := e.showJSON(uid)["state"]; got != "active" {
			t.Fatalf("round %d: after the unlocks unlockd shows %v, want active", round, got)
		}
	}
	// And the interleaving made sure of: the second unlock reads the person from the directory,
	// and the first starts while that read is still held. The reading holds the account, so the
	// first waits for it rather than being written over by it: one of the two unlocks, whichever,
	// is carried out, and the other finds the person unlocked.
	srv.MustFailBinds(t, dn, srv.Policy.MaxFailures)
	held := &heldDirectory{Directory: apps[1].directory, read: make(chan struct{}), release: make(chan struct{})}
	held.armed.Store(true)
	deps := ServiceDeps(apps[1].cfg, apps[1].stores, apps[1].hasher, time.Now, apps[1].metrics)
	deps.Directory, deps.DirectoryStore = held, apps[1].stores.Directory
	second := account.New(deps)
	errs := make(chan error, 2)
	go func() {
		_, err := second.Staff.Unlock(ctx, uid, "the second desk", cliActor)
		errs <- err
	}()
	<-held.read
	go func() {
		_, err := apps[0].accounts.Staff.Unlock(ctx, uid, "the first desk", cliActor)
		errs <- err
	}()
	time.Sleep(300 * time.Millisecond) // the first unlock is under way, waiting for the account
	close(held.release)
	done := 0
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			done++
		case account.ErrorCode(err) != account.EINVALID:
			t.Errorf("an interleaved unlock: %v", err)
		}
	}
	if done != 1 {
		t.Errorf("%d of the interleaved unlocks say they unlocked, want 1", done)
	}
	if got := e.showJSON(uid)["state"]; got != "active" {
		t.Errorf("after the interleaved unlocks unlockd shows %v, want active", got)
	}
	if got := srv.MustAttribute(t, dn, "pwdAccountLockedTime"); len(got) != 0 {
		t.Fatalf("after the interleaved unlocks slapd still has pwdAccountLockedTime %q", got)
	}

	actions, writes := e.auditActions(uid)
	const unlocks = rounds + 1
	// Each round: the lock read once from the directory, and one unlock.
	if actions["directory.synced"] != 1+unlocks {
		t.Errorf("%d directory.synced events, want the first sync's and one lock a round (%d): a stale read recorded a lock again? %v",
			actions["directory.synced"], 1+unlocks, actions)
	}
	if actions["account.unlocked"] != unlocks {
		t.Errorf("%d unlocks recorded in %d rounds of two unlocks at once, want one a round: %v", actions["account.unlocked"], unlocks, actions)
	}
	if len(writes) != unlocks {
		t.Errorf("directory writes %q in %d rounds, want one unlock a round", writes, unlocks)
	}
	if code, out, stderr := e.run("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: %s %s", out, stderr)
	}
}

// heldDirectory is the directory as one process sees it, where the first read of a person, once
// armed, waits after reading until the test releases it: what it read is stale by then.
type heldDirectory struct {
	account.Directory
	armed   atomic.Bool
	read    chan struct{}
	release chan struct{}
}

func (h *heldDirectory) Person(ctx context.Context, username string) (account.DirectoryPerson, error) {
	p, err := h.Directory.Person(ctx, username)
	if h.armed.CompareAndSwap(true, false) {
		close(h.read)
		<-h.release
	}
	return p, err
}

// An administrator's unlock while the directory counts failed binds, which lock the person again:
// whichever comes last, once unlockd reads the person, it shows the state the directory has.
func TestDirectoryUnlockRacingTheDirectorysLock(t *testing.T) {
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	const uid, password = "noor.haddad", "noor keeps a long passphrase"
	dn := srv.MustAddPerson(t, slapdtest.Person{UID: uid, Password: password, Mail: "noor.haddad@example.org"})
	e := newCLIEnv(t)
	e.useDirectory(srv.URL)
	e.mustSync()

	seen := map[string]int{}
	for round := range 8 {
		srv.MustFailBinds(t, dn, srv.Policy.MaxFailures)
		var wg sync.WaitGroup
		var unlock struct {
			code        int
			out, stderr string
		}
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			unlock.code, unlock.out, unlock.stderr = e.run("", "user", "unlock", uid, "--reason", fmt.Sprintf("round %d", round))
		})
		// Wrong passwords all the while the unlock runs, and round%4 more after it: the directory
		// ends the round locked or not, depending on how many land after the unlock's write.
		var bindErr error
		wg.Go(func() {
			wrong := func(i int) bool {
				err := srv.Bind(dn, fmt.Sprintf("wrong password %d", i))
				if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					bindErr = err
					return false
				}
				return true
			}
			for i := 0; ; i++ {
				select {
				case <-done:
					for j := range round % 4 {
						if !wrong(1000 + j) {
							return
						}
					}
					return
				default:
				}
				if !wrong(i) {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
		wg.Wait()
		if bindErr != nil {
			t.Fatalf("round %d: a wrong bind: %v", round, bindErr)
		}
		if unlock.code != 0 {
			t.Fatalf("round %d: user unlock: exit %d, %q", round, unlock.code, unlock.stderr)
		}
		want := directoryState(t, srv, uid)
		seen[want]++
		if got := e.showJSON(uid)["state"]; got != want {
			t.Errorf("round %d: after the race unlockd shows %v, the directory %s", round, got, want)
		}
		// A sync agrees, and a later read still does.
		e.mustSync()
		if got := e.showJSON(uid)["state"]; got != want {
			t.Errorf("round %d: after a sync unlockd shows %v, the directory %s", round, got, want)
		}
		// Start the next round unlocked, in the directory and in unlockd.
		if _, err := directoryUnlock(srv, dn); err != nil {
			t.Fatal(err)
		}
		if got := e.showJSON(uid)["state"]; got != "active" {
			t.Fatalf("round %d: after the directory's own unlock unlockd shows %v, want active", round, got)
		}
	}
	t.Logf("states the directory ended the rounds in: %v", seen)
	if code, out, stderr := e.run("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: %s %s", out, stderr)
	}
}

// directoryUnlock lifts slapd's lock with the connector, as the directory's administrator would.
func directoryUnlock(srv *slapdtest.Server, dn string) (bool, error) {
	d, err := directory.New(directory.Config{URL: srv.URL, BindDN: slapdtest.ServiceDN,
		BindPassword: slapdtest.ServicePassword, BaseDN: slapdtest.PeopleDN})
	if err != nil {
		return false, err
	}
	return d.Unlock(context.Background(), dn, directory.LiftFreeze)
}
