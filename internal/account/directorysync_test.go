package account_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// fakeDirectory is a directory of people in memory. Each person carries the mark of their last
// change; People returns those at or after the mark asked for, as the real directory does.
type fakeDirectory struct {
	people  map[string]account.DirectoryPerson
	changed map[string]int // username: the change number that last touched them
	clock   int
	down    bool
	asked   []string // the marks People was called with
}

func newFakeDirectory() *fakeDirectory {
	return &fakeDirectory{people: map[string]account.DirectoryPerson{}, changed: map[string]int{}}
}

func (f *fakeDirectory) put(p account.DirectoryPerson) {
	f.clock++
	if p.DN == "" {
		p.DN = "uid=" + p.Username + ",ou=people,dc=example,dc=org"
	}
	if p.State == "" {
		p.State = account.StateActive
	}
	f.people[p.Username], f.changed[p.Username] = p, f.clock
}

func (f *fakeDirectory) Name() string { return "ldap://directory.test ou=people,dc=example,dc=org" }

func (f *fakeDirectory) People(_ context.Context, since string, each func(account.DirectoryPerson) error) (string, error) {
	f.asked = append(f.asked, since)
	if f.down {
		return since, errors.New("directory unreachable or too slow")
	}
	from := 0
	if since != "" {
		from = int(since[0] - 'a')
	}
	names := make([]string, 0, len(f.people))
	for n := range f.people {
		names = append(names, n)
	}
	slices.Sort(names)
	newest := from
	for _, n := range names {
		if f.changed[n] < from {
			continue
		}
		newest = max(newest, f.changed[n])
		if err := each(f.people[n]); err != nil {
			return since, err
		}
	}
	return string(rune('a' + newest)), nil
}

// fakeDirectoryStore keeps accounts by username, the marks and the sync lock.
type fakeDirectoryStore struct {
	accounts map[string]*account.Account // by lower-case username
	changes  []account.DirectoryChange
	writes   []account.DirectoryWrite
	marks    map[string]string
	busy     bool
	nextID   int64
}

func newFakeDirectoryStore() *fakeDirectoryStore {
	return &fakeDirectoryStore{accounts: map[string]*account.Account{}, marks: map[string]string{}, nextID: 100}
}

func (f *fakeDirectoryStore) AccountForSync(_ context.Context, username string) (*account.Account, error) {
	a, ok := f.accounts[strings.ToLower(username)]
	if !ok {
		return nil, account.Errorf(account.ENOTFOUND, "no account %s", username)
	}
	c := *a
	return &c, nil
}

func (f *fakeDirectoryStore) SaveDirectoryAccount(_ context.Context, a *account.Account, change account.DirectoryChange) error {
	for _, other := range f.accounts {
		if other.ID != a.ID && strings.EqualFold(other.Email, a.Email) {
			return account.Errorf(account.ECONFLICT, "the email address %s belongs to another account", a.Email)
		}
	}
	if a.ID == 0 {
		f.nextID++
		a.ID = f.nextID
	}
	c := *a
	f.accounts[strings.ToLower(a.Username)] = &c
	f.changes = append(f.changes, change)
	return nil
}

func (f *fakeDirectoryStore) SyncMark(_ context.Context, directory string) (string, error) {
	return f.marks[directory], nil
}

func (f *fakeDirectoryStore) SetSyncMark(_ context.Context, directory, mark string, _ time.Time) error {
	f.marks[directory] = mark
	return nil
}

func (f *fakeDirectoryStore) RecordDirectoryWrite(_ context.Context, w account.DirectoryWrite) error {
	f.writes = append(f.writes, w)
	return nil
}

func (f *fakeDirectoryStore) Exclusively(ctx context.Context, fn func(context.Context) error) (bool, error) {
	if f.busy {
		return false, nil
	}
	return true, fn(ctx)
}

type directoryWorld struct {
	dir   *fakeDirectory
	store *fakeDirectoryStore
	work  *fakeWork
	now   time.Time
	sync  *account.DirectorySync
}

func newDirectoryWorld() *directoryWorld {
	w := &directoryWorld{dir: newFakeDirectory(), store: newFakeDirectoryStore(), work: &fakeWork{}, now: t0}
	w.sync = account.NewDirectorySync(w.dir, w.store, w.work, func() time.Time { return w.now })
	return w
}

func (w *directoryWorld) mustRun(t *testing.T) account.DirectorySyncCounts {
	t.Helper()
	counts, err := w.sync.Run(ctx)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return counts
}

func sameCounts(got account.DirectorySyncCounts, full bool, read, created, updated, locked, unlocked, skipped int) bool {
	return got.Full == full && got.Read == read && got.Created == created && got.Updated == updated &&
		got.Locked == locked && got.Unlocked == unlocked && got.Skipped == skipped
}

func TestDirectorySyncCreatesPeopleWithTheirContactsAndStates(t *testing.T) {
	w := newDirectoryWorld()
	until := t0.Add(5 * time.Minute)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: " alice@example.org ", Phone: "+86 138 0000 0001", DisplayName: "Alice"})
	lockedAt := t0.Add(-time.Minute)
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org", Phone: "0138 0000 0002",
		State: account.StateLockedTemporarily, LockedAt: &lockedAt, LockedUntil: &until})
	w.dir.put(account.DirectoryPerson{Username: "carol", Email: "carol@example.org", State: account.StateFrozen})

	counts := w.mustRun(t)
	if !sameCounts(counts, true, 3, 3, 0, 2, 0, 0) {
		t.Fatalf("first sync: %+v", counts)
	}
	alice, _ := w.store.AccountForSync(ctx, "alice")
	if alice.Source != account.SourceDirectory || alice.DirectoryDN != "uid=alice,ou=people,dc=example,dc=org" ||
		alice.Email != "alice@example.org" || alice.Phone != "+8613800000001" || alice.DisplayName != "Alice" ||
		alice.Role != account.RoleUser || alice.State != account.StateActive || alice.Reason != "" {
		t.Fatalf("alice stored as %+v", alice)
	}
	bob, _ := w.store.AccountForSync(ctx, "bob")
	if bob.Phone != "" || bob.State != account.StateLockedTemporarily || bob.LockedUntil == nil || !bob.LockedUntil.Equal(until) ||
		!strings.Contains(bob.Reason, "directory") {
		t.Fatalf("bob (a phone without a country, locked for a while) stored as %+v", bob)
	}
	carol, _ := w.store.AccountForSync(ctx, "carol")
	if carol.State != account.StateFrozen || carol.LockedUntil != nil || carol.Reason == "" {
		t.Fatalf("carol stored as %+v", carol)
	}
	if len(w.store.changes) != 3 || !w.store.changes[0].Created || w.store.changes[0].Actor != "directory" ||
		w.store.changes[1].LockedAt == nil || !w.store.changes[1].LockedAt.Equal(lockedAt) {
		t.Fatalf("changes recorded: %+v", w.store.changes)
	}
}

func TestDirectorySyncIsIncrementalAndWritesOnlyChanges(t *testing.T) {
	w := newDirectoryWorld()
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org"})
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org"})
	w.mustRun(t)
	writes, units := len(w.store.changes), w.work.units

	// Nothing changed: the people at the mark are read again, and nothing is written.
	counts := w.mustRun(t)
	if !sameCounts(counts, false, 1, 0, 0, 0, 0, 0) || len(w.store.changes) != writes || w.work.units != units {
		t.Fatalf("a sync with nothing changed: %+v, %d writes, %d units", counts, len(w.store.changes)-writes, w.work.units-units)
	}
	if w.dir.asked[1] == "" {
		t.Fatal("the second sync read everyone instead of from the mark")
	}

	// The directory locks bob, then lifts the lock: one sync each.
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org", State: account.StateLocked})
	counts = w.mustRun(t)
	if !sameCounts(counts, false, 1, 0, 1, 1, 0, 0) {
		t.Fatalf("bob locked: %+v", counts)
	}
	last := w.store.changes[len(w.store.changes)-1]
	if last.From != account.StateActive || !slices.Contains(last.Fields, "state") {
		t.Fatalf("the lock recorded as %+v", last)
	}
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org"})
	counts = w.mustRun(t)
	if !sameCounts(counts, false, 1, 0, 1, 0, 1, 0) {
		t.Fatalf("bob unlocked: %+v", counts)
	}
	bob, _ := w.store.AccountForSync(ctx, "bob")
	if bob.State != account.StateActive || bob.Reason != "" || bob.LockedUntil != nil {
		t.Fatalf("bob after the unlock: %+v", bob)
	}
}

func TestDirectorySyncSkipsWhomItCannotTake(t *testing.T) {
	w := newDirectoryWorld()
	w.store.accounts["dave"] = &account.Account{ID: 1, Source: account.SourceLocal, Username: "dave", Email: "dave@example.org",
		Role: account.RoleAdmin, State: account.StateActive}
	w.dir.put(account.DirectoryPerson{Username: "dave", Email: "dave@example.org"})               // a local account's username
	w.dir.put(account.DirectoryPerson{Username: "erin", Email: "dave@example.org"})               // a local account's email
	w.dir.put(account.DirectoryPerson{Username: "frank"})                                         // no mail
	w.dir.put(account.DirectoryPerson{Username: "bad name", Email: "bad@example.org"})            // not a username
	w.dir.put(account.DirectoryPerson{Username: "grace", Email: "grace@example.org", Phone: "x"}) // taken, without the phone

	counts := w.mustRun(t)
	if !sameCounts(counts, true, 5, 1, 0, 0, 0, 4) || len(counts.Problems) != 4 {
		t.Fatalf("counts: %+v", counts)
	}
	dave, _ := w.store.AccountForSync(ctx, "dave")
	if dave.Source != account.SourceLocal || dave.Role != account.RoleAdmin {
		t.Fatalf("the local account was taken over: %+v", dave)
	}
	if _, err := w.store.AccountForSync(ctx, "erin"); account.ErrorCode(err) != account.ENOTFOUND {
		t.Fatalf("erin stored with another account's email: %v", err)
	}
}

func TestDirectorySyncOutageWritesNothingAndKeepsTheMark(t *testing.T) {
	w := newDirectoryWorld()
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org"})
	w.mustRun(t)
	mark := w.store.marks[w.dir.Name()]
	w.dir.down = true
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org"})
	if _, err := w.sync.Run(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("an unreachable directory: %v", err)
	}
	if len(w.store.accounts) != 1 || w.store.marks[w.dir.Name()] != mark {
		t.Fatalf("the outage wrote: %d accounts, mark %q (was %q)", len(w.store.accounts), w.store.marks[w.dir.Name()], mark)
	}
}

func TestDirectorySyncOneAtATime(t *testing.T) {
	w := newDirectoryWorld()
	w.store.busy = true
	if _, err := w.sync.Run(ctx); !errors.Is(err, account.ErrDirectorySyncBusy) {
		t.Fatalf("a sync while another runs: %v", err)
	}
	if len(w.dir.asked) != 0 {
		t.Fatal("the directory was read while another sync ran")
	}
}

func TestDirectorySyncFullReadsEveryoneAndRepairsDrift(t *testing.T) {
	w := newDirectoryWorld()
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", State: account.StateLocked})
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org"})
	w.mustRun(t)
	// alice's record drifted from the directory without any change to her entry.
	w.store.accounts["alice"].State, w.store.accounts["alice"].Reason = account.StateActive, ""

	if counts := w.mustRun(t); counts.Full || counts.Updated != 0 {
		t.Fatalf("an incremental sync cannot see the drift, yet: %+v", counts)
	}
	counts, err := w.sync.RunFull(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sameCounts(counts, true, 2, 0, 1, 1, 0, 0) || w.dir.asked[len(w.dir.asked)-1] != "" {
		t.Fatalf("a full sync: %+v, asked from %q", counts, w.dir.asked[len(w.dir.asked)-1])
	}
	if alice, _ := w.store.AccountForSync(ctx, "alice"); alice.State != account.StateLocked {
		t.Fatalf("alice after the full sync: %s", alice.State)
	}
}

// duringRead is a directory where something happens after a person is read and before the sync
// writes them.
type duringRead struct {
	*fakeDirectory
	then func()
}

func (d *duringRead) People(ctx context.Context, since string, each func(account.DirectoryPerson) error) (string, error) {
	return d.fakeDirectory.People(ctx, since, func(p account.DirectoryPerson) error {
		if d.then != nil {
			d.then()
			d.then = nil
		}
		return each(p)
	})
}

// An unlock made in unlockd (and in the directory) after the sync read the person is not undone
// by what the sync read; the next sync reads the person again.
func TestDirectorySyncDoesNotLockAgainWhomUnlockdUnlockedAfterTheRead(t *testing.T) {
	w := newDirectoryWorld()
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org", State: account.StateLocked})
	w.mustRun(t)
	if bob, _ := w.store.AccountForSync(ctx, "bob"); bob.State != account.StateLocked {
		t.Fatalf("bob after the first sync: %+v", bob)
	}
	writes := len(w.store.changes)

	d := &duringRead{fakeDirectory: w.dir}
	d.then = func() {
		// The owner unlocks: the account, and the directory's entry.
		bob := w.store.accounts["bob"]
		bob.State, bob.Reason, bob.LockedUntil, bob.UpdatedAt = account.StateActive, "", nil, w.now.Add(time.Second)
		w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org"})
	}
	sync := account.NewDirectorySync(d, w.store, w.work, func() time.Time { return w.now })
	if _, err := sync.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if bob, _ := w.store.AccountForSync(ctx, "bob"); bob.State != account.StateActive || len(w.store.changes) != writes {
		t.Fatalf("a sync that read bob before the unlock wrote %+v over it (%d changes)", w.store.changes[writes:], len(w.store.changes)-writes)
	}
	w.now = w.now.Add(time.Minute)
	counts := w.mustRun(t)
	if bob, _ := w.store.AccountForSync(ctx, "bob"); bob.State != account.StateActive || counts.Read != 1 {
		t.Fatalf("the next sync read %d and left bob %+v", counts.Read, bob)
	}
}

// A username the directory gives to another person (another identifier: the one before left, and
// a new employee got the name) is a new person: the change says so, the account's role is a user's
// again, and unlockd's own lock on the one before does not pass on (the store takes their second
// factors, devices and sessions). A move or a rename keeps the identifier and is no new person; an
// account whose identifier was never recorded takes the one it is read with.
func TestDirectorySyncTellsANewPersonUnderAReusedUsername(t *testing.T) {
	w := newDirectoryWorld()
	w.dir.put(account.DirectoryPerson{Username: "jsmith", Email: "jane@example.org"})
	w.mustRun(t)
	w.dir.put(account.DirectoryPerson{Username: "jsmith", ID: "id-jane", Email: "jane@example.org"})
	w.mustRun(t)
	if jane, _ := w.store.AccountForSync(ctx, "jsmith"); jane.DirectoryID != "id-jane" || w.store.changes[len(w.store.changes)-1].NewPerson {
		t.Fatalf("an identifier read for the first time: %+v, %+v", jane, w.store.changes[len(w.store.changes)-1])
	}
	// Jane is staff, and unlockd locked her after failed sign-ins.
	stored := w.store.accounts["jsmith"]
	stored.Role, stored.State, stored.Reason = account.RoleAdmin, account.StateLocked, "too many failed sign-ins"

	w.dir.put(account.DirectoryPerson{Username: "jsmith", ID: "id-jane", DN: "uid=jsmith,ou=moved,dc=example,dc=org", Email: "jane@example.org"})
	w.mustRun(t)
	moved, _ := w.store.AccountForSync(ctx, "jsmith")
	if last := w.store.changes[len(w.store.changes)-1]; last.NewPerson || moved.Role != account.RoleAdmin || moved.State != account.StateLocked {
		t.Fatalf("a move: %+v, stored %+v; want the same person, role and own lock", last, moved)
	}

	w.dir.put(account.DirectoryPerson{Username: "jsmith", ID: "id-john", Email: "john@example.org"})
	w.mustRun(t)
	john, _ := w.store.AccountForSync(ctx, "jsmith")
	if last := w.store.changes[len(w.store.changes)-1]; !last.NewPerson {
		t.Fatalf("the username given to another person: %+v, want a new person", last)
	}
	if john.DirectoryID != "id-john" || john.Role != account.RoleUser || john.State != account.StateActive || john.Email != "john@example.org" {
		t.Fatalf("the new person's account: %+v; want a user's, active, with their identifier", john)
	}
}
