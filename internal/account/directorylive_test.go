package account_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// liveDirectory is a directory the flows read and write at request time, in memory: people by
// username, their passwords, and what was done to them.
type liveDirectory struct {
	people    map[string]*account.DirectoryPerson
	passwords map[string]string // by DN
	down      bool              // nothing answers
	refuse    error             // SetPassword's answer, when set
	// passwordSet runs once SetPassword has taken a password (a client hanging up meanwhile).
	passwordSet func()
	// unlockDown makes Unlock alone go unanswered.
	unlockDown bool
	unlocks    []string // the DNs unlocked
	lookups    []string // the usernames looked for
	binds      int
}

func newLiveDirectory() *liveDirectory {
	return &liveDirectory{people: map[string]*account.DirectoryPerson{}, passwords: map[string]string{}}
}

// put adds a person with mail and password, in state.
func (d *liveDirectory) put(username string, state account.State, password string) *account.DirectoryPerson {
	p := &account.DirectoryPerson{DN: "uid=" + username + ",ou=people,dc=example,dc=com", Username: username,
		Email: username + "@example.com", State: state}
	d.people[username] = p
	d.passwords[p.DN] = password
	return p
}

func (d *liveDirectory) byDN(dn string) *account.DirectoryPerson {
	for _, p := range d.people {
		if p.DN == dn {
			return p
		}
	}
	return nil
}

func (d *liveDirectory) Person(_ context.Context, username string) (account.DirectoryPerson, error) {
	d.lookups = append(d.lookups, username)
	if d.down {
		return account.DirectoryPerson{}, account.ErrDirectoryUnavailable
	}
	p, ok := d.people[username]
	if !ok {
		return account.DirectoryPerson{}, account.Errorf(account.ENOTFOUND, "nobody is %s", username)
	}
	return *p, nil
}

func (d *liveDirectory) CheckPassword(_ context.Context, dn, password string) (account.DirectoryVerdict, error) {
	if d.down {
		return 0, account.ErrDirectoryUnavailable
	}
	d.binds++
	p := d.byDN(dn)
	if p == nil || p.State != account.StateActive || d.passwords[dn] != password {
		return account.DirectoryPasswordWrong, nil
	}
	return account.DirectoryPasswordRight, nil
}

func (d *liveDirectory) Unlock(_ context.Context, dn string, liftFreeze bool) (bool, error) {
	if d.down || d.unlockDown {
		return false, account.ErrDirectoryUnavailable
	}
	p := d.byDN(dn)
	if p.State == account.StateFrozen && !liftFreeze {
		return false, account.ErrDirectoryFrozen
	}
	if p.State != account.StateLocked && p.State != account.StateLockedTemporarily && p.State != account.StateFrozen {
		return false, nil
	}
	p.State, p.LockedUntil = account.StateActive, nil
	d.unlocks = append(d.unlocks, dn)
	return true, nil
}

func (d *liveDirectory) SetPassword(_ context.Context, dn, password string) error {
	if d.down {
		return account.ErrDirectoryUnavailable
	}
	if d.refuse != nil {
		return d.refuse
	}
	d.passwords[dn] = password
	if d.passwordSet != nil {
		d.passwordSet()
	}
	return nil
}

// worldDirectoryStore keeps what the flows read of the directory in the world's accounts.
type worldDirectoryStore struct {
	account.DirectoryStore // the sync's marks and lock are not used by the flows
	accounts               *fakeAccounts
	writes                 []account.DirectoryWrite
}

func (s *worldDirectoryStore) AccountForSync(ctx context.Context, username string) (*account.Account, error) {
	return s.accounts.AccountByLogin(ctx, username)
}

func (s *worldDirectoryStore) SaveDirectoryAccount(_ context.Context, a *account.Account, _ account.DirectoryChange) error {
	c := *a
	if have, ok := s.accounts.byID[a.ID]; ok {
		c.Language, c.PasswordHash = have.Language, have.PasswordHash
	}
	s.accounts.put(&c)
	a.ID = c.ID
	return nil
}

func (s *worldDirectoryStore) RecordDirectoryWrite(ctx context.Context, w account.DirectoryWrite) error {
	if err := ctx.Err(); err != nil {
		return err // as the database refuses a statement of a request that has gone
	}
	s.writes = append(s.writes, w)
	return nil
}

// newDirectoryFlows is a world whose directory accounts live in dir.
func newDirectoryFlows(t *testing.T) (*world, *liveDirectory, *worldDirectoryStore) {
	dir := newLiveDirectory()
	var store *worldDirectoryStore
	w := newWorld(t, func(d *account.Deps) {
		store = &worldDirectoryStore{accounts: d.Accounts.(*fakeAccounts)}
		d.Directory, d.DirectoryStore = dir, store
	})
	return w, dir, store
}

func (w *world) account(username string) *account.Account {
	for _, a := range w.accounts.byID {
		if strings.EqualFold(a.Username, username) {
			return a
		}
	}
	w.t.Fatalf("no account %s", username)
	return nil
}

// A person the directory locked, whom no sync has read yet, proves who they are with an emailed
// code and unlocks: the directory's lock is lifted, and the write is recorded with who and why.
func TestADirectoryPersonUnlocksInTheDirectory(t *testing.T) {
	w, dir, store := newDirectoryFlows(t)
	dir.put("bob", account.StateLocked, "bob's directory password")
	flow := startFlow(t, w, account.PurposeUnlock, "bob")
	res, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, w.outbox.lastCode("bob@example.com")))
	if err != nil || res.Outcome != account.UnlockDone {
		t.Fatalf("UnlockWithCode = %+v, %v; want done", res, err)
	}
	if dir.people["bob"].State != account.StateActive || len(dir.unlocks) != 1 {
		t.Errorf("the directory: %s, unlocks %v; want unlocked once", dir.people["bob"].State, dir.unlocks)
	}
	if a := w.account("bob"); a.State != account.StateActive || !a.InDirectory() {
		t.Errorf("the account: %s, source %s; want active, from the directory", a.State, a.Source)
	}
	if len(store.writes) != 1 || store.writes[0].Operation != "unlock" || store.writes[0].Actor.Name != "user:bob" ||
		store.writes[0].Why != "verified by email" {
		t.Errorf("recorded writes %+v; want the owner's unlock, verified by email", store.writes)
	}
	// The reset link the page offers sets the password in the directory, never here.
	if _, err := w.svc.SelfService.CompleteReset(ctx, res.ResetToken, "paper boats for bob in winter", "paper boats for bob in winter", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	if dir.passwords[dir.people["bob"].DN] != "paper boats for bob in winter" || w.account("bob").PasswordHash != "" {
		t.Errorf("directory password %q, hash kept here %q", dir.passwords[dir.people["bob"].DN], w.account("bob").PasswordHash)
	}
}

// An administrator's lock in the directory is the administrators' to lift: an unlockd
// administrator may lift it, the help desk may not.
func TestADirectoryFreezeIsLiftedByAnAdministratorOnly(t *testing.T) {
	w, dir, _ := newDirectoryFlows(t)
	dir.put("carol", account.StateFrozen, "pw")
	_, err := w.svc.Staff.Unlock(ctx, "carol", "ticket 7", account.Actor{Name: "admin:helen", Role: account.RoleHelpdesk})
	wantCode(t, err, account.EINVALID)
	if len(dir.unlocks) != 0 {
		t.Fatalf("the help desk unlocked %v", dir.unlocks)
	}
	if _, err := w.svc.Staff.Unlock(ctx, "carol", "ticket 7", admin); err != nil {
		t.Fatal(err)
	}
	if dir.people["carol"].State != account.StateActive {
		t.Errorf("the directory still has carol %s", dir.people["carol"].State)
	}
}

// Sign-in binds as the person: the directory's password works, a wrong one counts here as well,
// and a directory that does not answer is the directory's outage, with the attempt given back.
func TestSignInToADirectoryAccountBindsAsThePerson(t *testing.T) {
	w, dir, _ := newDirectoryFlows(t)
	dir.put("dave", account.StateActive, "dave's directory password")
	if _, err := signIn(w, "dave", "dave's directory password"); err != nil {
		t.Fatalf("right directory password: %v", err)
	}
	if _, err := signIn(w, "dave", "wrong"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("wrong password: %v, want bad credentials", err)
	}
	id := w.account("dave").ID
	if w.lockout.failures[id] != 1 || w.hasher.dummies != 2 {
		t.Errorf("failures %d, dummy hashes %d; want 1 counted failure and a hash's time for each check", w.lockout.failures[id], w.hasher.dummies)
	}
	dir.down = true
	_, err := signIn(w, "dave", "dave's directory password")
	wantCode(t, err, account.EDIRECTORY)
	if w.lockout.failures[id] != 1 {
		t.Errorf("failures %d after an outage; want the attempt given back", w.lockout.failures[id])
	}
}

// unlockd's own lockout applies on top of the directory's, and a read of the directory does not
// lift it; the directory's lock replaces it and lifts with it.
func TestOwnLockOfADirectoryAccountOutlivesAReadOfTheDirectory(t *testing.T) {
	w, dir, _ := newDirectoryFlows(t)
	dir.put("erin", account.StateActive, "pw")
	w.setPolicy(func(p *account.Policy) { p.Lockout.Threshold = 2 })
	for range 2 {
		_, _ = signIn(w, "erin", "wrong")
	}
	a := w.account("erin")
	if a.State == account.StateActive {
		t.Fatalf("erin is %s after two failures; want locked by unlockd's rules", a.State)
	}
	if _, err := w.svc.Accounts.AccountByLogin(ctx, "erin"); err != nil {
		t.Fatal(err)
	}
	if got := w.account("erin"); got.State != a.State || got.Reason != a.Reason {
		t.Errorf("after a read of the directory erin is %s (%q); want still %s (%q)", got.State, got.Reason, a.State, a.Reason)
	}
}

// The directory's password policy refusing a new password shows its reason and changes nothing
// in the directory; a password it accepts is set, and the lock lifted.
func TestADirectoryRefusalKeepsTheResetLink(t *testing.T) {
	w, dir, store := newDirectoryFlows(t)
	p := dir.put("fay", account.StateLockedTemporarily, "old password of fay")
	until := t0.Add(time.Hour)
	p.LockedUntil = &until
	if err := w.svc.SelfService.StartReset(ctx, "fay", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	links := w.outbox.to("fay@example.com", "reset_link")
	if len(links) != 1 {
		t.Fatalf("%d reset links for a directory account (not sent: %+v); want one", len(links), w.codes.notSent)
	}
	token := strings.TrimPrefix(links[0].Data["Link"], "http://127.0.0.1:8080/reset/")
	dir.refuse = account.DirectoryRefusal(account.DirectoryRuleHistory, "Password is in history of old passwords")
	const pw = "a winter canal of paper boats"
	_, err := w.svc.SelfService.CompleteReset(ctx, token, pw, pw, "192.0.2.1", "")
	var e *account.Error
	if !errors.As(err, &e) || e.MessageID != "err_directory_refused_history" || !strings.Contains(fmt.Sprint(e.Data), "history") {
		t.Fatalf("a refused password: %v; want the directory's history rule with its words", err)
	}
	if dir.passwords[p.DN] != "old password of fay" || p.State != account.StateLockedTemporarily {
		t.Fatalf("after a refusal the directory has %q, %s; want nothing changed", dir.passwords[p.DN], p.State)
	}
	// (That the refused link still works is the unit of work's rollback: the PostgreSQL tests show it.)
	dir.refuse = nil
	w.clock.Advance(time.Hour)
	if err := w.svc.SelfService.StartReset(ctx, "fay", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	links = w.outbox.to("fay@example.com", "reset_link")
	token = strings.TrimPrefix(links[len(links)-1].Data["Link"], "http://127.0.0.1:8080/reset/")
	if _, err := w.svc.SelfService.CompleteReset(ctx, token, pw, pw, "192.0.2.1", ""); err != nil {
		t.Fatalf("a password the directory accepts: %v", err)
	}
	if dir.passwords[p.DN] != pw || p.State != account.StateActive {
		t.Errorf("directory password %q, state %s; want set and unlocked", dir.passwords[p.DN], p.State)
	}
	ops := []string{}
	for _, w := range store.writes {
		ops = append(ops, w.Operation)
	}
	if strings.Join(ops, ",") != "set_password,unlock" {
		t.Errorf("recorded writes %v; want the password, then the unlock", ops)
	}
}

// A person the directory no longer has cannot sign in or unlock: their account is disabled, with
// the reason, the first time a flow looks for them.
func TestAPersonRemovedFromTheDirectoryIsDisabled(t *testing.T) {
	w, dir, _ := newDirectoryFlows(t)
	dir.put("gus", account.StateActive, "pw")
	if _, err := signIn(w, "gus", "pw"); err != nil {
		t.Fatal(err)
	}
	delete(dir.people, "gus")
	if _, err := signIn(w, "gus", "pw"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("sign-in after removal: %v; want refused", err)
	}
	if a := w.account("gus"); a.State != account.StateDisabled || a.Reason != "no longer in the directory" {
		t.Errorf("gus is %s (%q); want disabled, no longer in the directory", a.State, a.Reason)
	}
}

// A directory that does not answer stops the unlock whole, with the directory's own error.
func TestAnUnreachableDirectoryStopsTheUnlock(t *testing.T) {
	w, dir, store := newDirectoryFlows(t)
	dir.put("hal", account.StateLocked, "pw")
	flow := startFlow(t, w, account.PurposeUnlock, "hal")
	code := w.outbox.lastCode("hal@example.com")
	dir.down = true
	_, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, code))
	wantCode(t, err, account.EDIRECTORY)
	if len(store.writes) != 0 || dir.people["hal"].State != account.StateLocked {
		t.Errorf("writes %v, directory state %s; want nothing written", store.writes, dir.people["hal"].State)
	}
}

// The API's sync of accounts leaves a directory account's directory fields to the directory, and
// sets what is unlockd's own.
func TestTheAPIChangesOnlyWhatADirectoryAccountKeepsHere(t *testing.T) {
	crm := account.Actor{Name: "token:crm", Role: account.RoleService}
	w, dir, _ := newDirectoryFlows(t)
	dir.put("ivy", account.StateActive, "pw")
	if _, err := w.svc.Accounts.AccountByLogin(ctx, "ivy"); err != nil {
		t.Fatal(err)
	}
	_, err := w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "ivy", Email: ptr("ivy@elsewhere.example")}, crm)
	wantCode(t, err, account.EINVALID)
	if _, err := w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "ivy", Language: ptr("zh-CN")}, crm); err != nil {
		t.Fatalf("setting a directory account's language: %v", err)
	}
	if a := w.account("ivy"); a.Email != "ivy@example.com" || a.Language != "zh-CN" {
		t.Errorf("ivy: %s, %q; want the directory's address and the language set", a.Email, a.Language)
	}
}

func (f *fakeAccounts) SetLanguage(_ context.Context, id int64, lang string) error {
	f.byID[id].Language = lang
	return nil
}

// A page that reads a person at request time and finds the directory locked them tells the owner,
// as the sync would, and the sync that follows does not tell them again.
func TestALockSeenAtRequestTimeIsToldOnce(t *testing.T) {
	dir := newLiveDirectory()
	care := &fakeCare{lockNoticed: map[int64]time.Time{}, warnedFor: map[int64]time.Time{}}
	w := newWorld(t, func(d *account.Deps) {
		d.Directory, d.DirectoryStore = dir, &worldDirectoryStore{accounts: d.Accounts.(*fakeAccounts)}
		d.DirectoryCare = care
	})
	p := dir.put("jan", account.StateActive, "pw")
	if _, err := w.svc.Accounts.AccountByLogin(ctx, "jan"); err != nil {
		t.Fatal(err)
	}
	p.State = account.StateLocked
	for range 2 {
		if a, err := w.svc.Accounts.AccountByLogin(ctx, "jan"); err != nil || a.State != account.StateLocked {
			t.Fatalf("jan: %+v, %v; want locked", a, err)
		}
	}
	if len(care.lockNoticed) != 1 || len(care.queued) == 0 || care.queued[0].Template != "locked" || care.queued[0].To != "jan@example.com" {
		t.Errorf("told %v with %+v; want one lock notice to jan", care.lockNoticed, care.queued)
	}
}

// With no directory configured, nothing can check a directory account's password: a sign-in is
// refused as one without a password is, and counts against nobody.
func TestADirectoryAccountWithoutADirectoryIsNotCounted(t *testing.T) {
	w := newWorld(t)
	a := w.add("kim", func(a *account.Account) {
		a.Source, a.DirectoryDN, a.PasswordHash = account.SourceDirectory, "uid=kim,ou=people,dc=example,dc=com", ""
	})
	if _, err := signIn(w, "kim", "kim's directory password"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("sign-in: %v, want bad credentials", err)
	}
	if w.lockout.failures[a.ID] != 0 {
		t.Errorf("%d failures counted against kim, whose password nothing could check", w.lockout.failures[a.ID])
	}
}

// A write the directory does not take says what was tried and why, for the storage to record after
// its unit rolls back; a directory administrator's lock in the way is no write tried. A reset that
// goes on without its unlock records the failed unlock in its own unit.
func TestFailedDirectoryWritesSayWhatWasTried(t *testing.T) {
	w, dir, store := newDirectoryFlows(t)
	p := dir.put("fay", account.StateLockedTemporarily, "old password of fay")
	until := t0.Add(time.Hour)
	p.LockedUntil = &until
	reset := func() error {
		t.Helper()
		w.clock.Advance(time.Hour)
		if err := w.svc.SelfService.StartReset(ctx, "fay", "192.0.2.1", ""); err != nil {
			t.Fatal(err)
		}
		links := w.outbox.to("fay@example.com", "reset_link")
		token := strings.TrimPrefix(links[len(links)-1].Data["Link"], "http://127.0.0.1:8080/reset/")
		const pw = "a winter canal of paper boats"
		_, err := w.svc.SelfService.CompleteReset(ctx, token, pw, pw, "192.0.2.1", "")
		return err
	}

	dir.refuse = account.DirectoryRefusal(account.DirectoryRuleHistory, "Password is in history of old passwords")
	err := reset()
	wantCode(t, err, account.EINVALID)
	if f, ok := account.FailedDirectoryWrite(err); !ok || f.Operation != "set_password" || f.Account.Username != "fay" ||
		f.Actor.Name != "user:fay" || !strings.Contains(f.Failure, "history") {
		t.Fatalf("the refused password's failed write: %+v, %v; want set_password by fay with the directory's words", f, ok)
	}
	dir.refuse = nil

	dir.unlockDown = true
	if err := reset(); err != nil {
		t.Fatalf("a reset whose unlock the directory does not answer: %v; want it to stand", err)
	}
	dir.unlockDown = false
	if n := len(store.writes); n != 2 || store.writes[0].Operation != "set_password" || store.writes[0].Failure != "" ||
		store.writes[1].Operation != "unlock" || !strings.Contains(store.writes[1].Failure, "cannot be reached") {
		t.Fatalf("recorded %+v; want the password set, then the unlock not taken", store.writes)
	}

	dir.put("carol", account.StateFrozen, "pw")
	_, err = w.svc.Staff.Unlock(ctx, "carol", "ticket 7", account.Actor{Name: "admin:helen", Role: account.RoleHelpdesk})
	if _, ok := account.FailedDirectoryWrite(err); ok || err == nil {
		t.Errorf("the help desk against a directory administrator's lock: %v; want a refusal, no write tried", err)
	}
}

// A client that hangs up once the directory has taken its new password (on the account page, or
// with a reset link) leaves the change recorded with it: the write audited, and the reset link
// used up. Rolled back with the request, the directory would hold a password unlockd knows nothing
// of, the other sessions alive and the owner not told.
func TestAPasswordTheDirectoryTookIsRecordedWhenTheClientHangsUp(t *testing.T) {
	w, dir, store := newDirectoryFlows(t)
	p := dir.put("gil", account.StateActive, "old password of gil")
	const pw = "a winter canal of paper boats"

	// The account page.
	a, err := w.svc.Accounts.AccountByLogin(ctx, "gil")
	if err != nil {
		t.Fatal(err)
	}
	hangUp, cancel := context.WithCancel(ctx)
	dir.passwordSet = cancel
	if _, err := w.svc.OwnAccount.ChangePassword(hangUp, a, "old password of gil", pw, pw, "", "192.0.2.1", ""); err != nil {
		t.Fatalf("the change with the client gone: %v", err)
	}
	if dir.passwords[p.DN] != pw || len(store.writes) != 1 || store.writes[0].Operation != "set_password" {
		t.Fatalf("directory password %q, recorded writes %+v; want the change recorded", dir.passwords[p.DN], store.writes)
	}

	// A reset link.
	if err := w.svc.SelfService.StartReset(ctx, "gil", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	links := w.outbox.to("gil@example.com", "reset_link")
	token := strings.TrimPrefix(links[len(links)-1].Data["Link"], "http://127.0.0.1:8080/reset/")
	hangUp, cancel = context.WithCancel(ctx)
	dir.passwordSet = cancel
	const next = "paper boats for gil in spring"
	if _, err := w.svc.SelfService.CompleteReset(hangUp, token, next, next, "192.0.2.1", ""); err != nil {
		t.Fatalf("the reset with the client gone: %v", err)
	}
	if dir.passwords[p.DN] != next || len(store.writes) != 2 {
		t.Fatalf("directory password %q, recorded writes %+v; want the reset recorded", dir.passwords[p.DN], store.writes)
	}
	if _, err := w.svc.SelfService.CompleteReset(ctx, token, next, next, "192.0.2.1", ""); !errors.Is(err, account.ErrBadResetLink) {
		t.Errorf("the link again: %v, want it used up", err)
	}
}

// With a directory, a login is looked for in it whether it is an account of this place's own or
// unknown, so that the lookup's time does not tell a local account from nobody; an email address
// is looked for in neither case.
func TestALocalAccountIsLookedForInTheDirectoryAsAnUnknownLoginIs(t *testing.T) {
	w, dir, _ := newDirectoryFlows(t)
	w.add("lou")
	for _, tt := range []struct {
		login string
		found bool
		asked int
	}{
		{"lou", true, 1},
		{"nobody", false, 1},
		{"lou@example.com", true, 0},
		{"nobody@example.com", false, 0},
	} {
		dir.lookups = nil
		a, err := w.svc.Accounts.AccountByLogin(ctx, tt.login)
		if found := err == nil && a != nil; found != tt.found || (!found && account.ErrorCode(err) != account.ENOTFOUND) {
			t.Errorf("%s: %+v, %v; want found %t", tt.login, a, err, tt.found)
		}
		if len(dir.lookups) != tt.asked {
			t.Errorf("%s: the directory was asked %d times, want %d", tt.login, len(dir.lookups), tt.asked)
		}
	}
	// Inside a unit of work, which holds its locks, the directory is not asked about a local account.
	dir.lookups = nil
	if _, err := w.svc.Accounts.AccountByLogin(account.WithOutsideWrites(ctx), "lou"); err != nil || len(dir.lookups) != 0 {
		t.Errorf("lou inside a unit of work: %v, the directory asked %d times; want not asked", err, len(dir.lookups))
	}
	// A directory that does not answer changes nothing for a local account.
	dir.down = true
	if a, err := w.svc.Accounts.AccountByLogin(ctx, "lou"); err != nil || a.Username != "lou" {
		t.Errorf("lou with the directory down: %v", err)
	}
}
