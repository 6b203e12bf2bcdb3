package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/postgres"
)

// scriptedDirectory returns its people, all of them each time, as a directory read in full.
type scriptedDirectory struct{ people []account.DirectoryPerson }

func (d *scriptedDirectory) Name() string { return "ldap://directory.test dc=example,dc=org" }

func (d *scriptedDirectory) People(_ context.Context, _ string, each func(account.DirectoryPerson) error) (string, error) {
	for _, p := range d.people {
		if err := each(p); err != nil {
			return "", err
		}
	}
	return "mark", nil
}

type outboxRow struct {
	channel, recipient, template, lang, zone string
	data                                     map[string]string
}

func outboxRows(t *testing.T, db *postgres.DB, template string) []outboxRow {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT channel, recipient, template, lang, time_zone, data
		FROM outbox WHERE template = $1 ORDER BY id`, template)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.channel, &r.recipient, &r.template, &r.lang, &r.zone, &r.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// The sync over PostgreSQL queues a lock notice with the state change and an expiry warning with
// its audit event, each once, whatever later syncs see.
func TestDirectoryCareQueuesEachNoticeOnce(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	// One clock for the sync and what storage stamps, as the binary has.
	db, err := postgres.Open(ctx, pgtestURL(t), clock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	stores := postgres.NewStores(db)
	expires := now.Add(10 * 24 * time.Hour)
	dir := &scriptedDirectory{people: []account.DirectoryPerson{
		{DN: "uid=alice,ou=people,dc=example,dc=org", Username: "alice", Email: "alice@example.org", Phone: "+8613800000001",
			DisplayName: "Alice", State: account.StateActive, PasswordExpiresAt: &expires},
	}}
	sync := account.NewDirectorySync(dir, stores.Directory, db, clock).WithCare(stores.Directory,
		account.Options{BaseURL: "https://unlock.example.com", SMS: true, Webhooks: []string{"https://crm.example.com/hook"}})
	run := func(full bool) account.DirectorySyncCounts {
		t.Helper()
		f := sync.Run
		if full {
			f = sync.RunFull
		}
		counts, err := f(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return counts
	}

	// The first sync keeps the expiry and warns by email and SMS.
	if counts := run(false); counts.Created != 1 || counts.ExpiryWarnings != 1 {
		t.Fatalf("first sync: %+v", counts)
	}
	alice, err := stores.Accounts.AccountByLogin(ctx, "alice")
	if err != nil || alice.PasswordExpiresAt == nil || !alice.PasswordExpiresAt.Equal(expires) {
		t.Fatalf("alice's expiry: %+v, %v", alice, err)
	}
	warnings := outboxRows(t, db, "password_expiry")
	if len(warnings) != 2 || warnings[0].data["Link"] != "https://unlock.example.com/reset" || warnings[0].data["Until"] != expires.Format(time.RFC1123) {
		t.Fatalf("warnings queued: %+v", warnings)
	}
	events, err := stores.API.AuditEvents(ctx, account.AuditQuery{Action: audit.PasswordExpiryWarned, Limit: 10})
	if err != nil || len(events) != 1 || events[0].Username != "alice" || events[0].Actor != "directory" {
		t.Fatalf("audit of the warning: %+v, %v", events, err)
	}
	// Stale or repeated, a warning does nothing.
	if warned, err := stores.Directory.WarnPasswordExpiry(ctx, account.ExpiryWarning{AccountID: alice.ID, Username: "alice",
		ExpiresAt: expires, Actor: "directory", Now: now}); warned || err != nil {
		t.Fatalf("the same expiry warned again: %v, %v", warned, err)
	}
	if warned, err := stores.Directory.WarnPasswordExpiry(ctx, account.ExpiryWarning{AccountID: alice.ID, Username: "alice",
		ExpiresAt: expires.Add(time.Hour), Actor: "directory", Now: now}); warned || err != nil {
		t.Fatalf("an expiry alice's password does not have warned of: %v, %v", warned, err)
	}

	// alice reads in Chinese; the directory locks her.
	if err := stores.Accounts.SetLanguage(ctx, alice.ID, "zh-CN"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	lockedAt, until := now.Add(-10*time.Second), now.Add(5*time.Minute)
	dir.people[0].State, dir.people[0].LockedAt, dir.people[0].LockedUntil = account.StateLockedTemporarily, &lockedAt, &until
	if counts := run(false); counts.LockNotices != 1 || counts.ExpiryWarnings != 0 {
		t.Fatalf("the sync after the lock: %+v", counts)
	}
	notices := outboxRows(t, db, "locked")
	if len(notices) != 1 || notices[0].channel != "email" || notices[0].recipient != "alice@example.org" || notices[0].lang != "zh-CN" ||
		notices[0].data["UnlockLink"] != "https://unlock.example.com/unlock" || notices[0].data["Until"] != until.Format(time.RFC1123) {
		t.Fatalf("lock notices queued: %+v", notices)
	}
	if hooks := outboxRows(t, db, "event"); len(hooks) != 1 || hooks[0].data["event"] != "account.locked" || hooks[0].data["source"] != "directory" {
		t.Fatalf("lock events queued: %+v", hooks)
	}

	// The record drifts back to active while the directory still holds the lock: the full sync
	// repairs it, and tells nobody a second time.
	if _, err := db.Pool.Exec(ctx, `UPDATE accounts SET state = 'active', locked_until = NULL WHERE id = $1`, alice.ID); err != nil {
		t.Fatal(err)
	}
	if counts := run(true); counts.Updated != 1 || counts.LockNotices != 0 {
		t.Fatalf("the full sync after the drift: %+v", counts)
	}
	if n := len(outboxRows(t, db, "locked")); n != 1 {
		t.Fatalf("%d lock notices for one lock", n)
	}
	if n, err := stores.API.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit chain after %d events: %v", n, err)
	}
}

// Concurrent warnings of one expiry, or notices of one lock, leave exactly one set of messages.
func TestDirectoryCareOnceUnderConcurrency(t *testing.T) {
	db := mustDB(t)
	stores := postgres.NewStores(db)
	s := stores.Directory
	ctx := context.Background()
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	expires := now.Add(48 * time.Hour)
	a := &account.Account{Source: account.SourceDirectory, DirectoryDN: "uid=bob,ou=people,dc=example,dc=org",
		Username: "bob", Email: "bob@example.org", Role: account.RoleUser, State: account.StateActive, PasswordExpiresAt: &expires}
	if err := s.SaveDirectoryAccount(ctx, a, account.DirectoryChange{Created: true, Actor: "directory", Now: now}); err != nil {
		t.Fatal(err)
	}
	// Frozen in the directory, or past the account's own end: no use warning them.
	for _, c := range []*account.Account{
		{Source: account.SourceDirectory, DirectoryDN: "uid=carol,ou=people,dc=example,dc=org", Username: "carol",
			Email: "carol@example.org", Role: account.RoleUser, State: account.StateFrozen, PasswordExpiresAt: &expires},
		{Source: account.SourceDirectory, DirectoryDN: "uid=dan,ou=people,dc=example,dc=org", Username: "dan",
			Email: "dan@example.org", Role: account.RoleUser, State: account.StateDisabled, PasswordExpiresAt: &expires},
	} {
		if err := s.SaveDirectoryAccount(ctx, c, account.DirectoryChange{Created: true, Actor: "directory", Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.ExpiringPasswords(ctx, now, now.Add(14*24*time.Hour), 10)
	if err != nil || len(due) != 1 || due[0].Account.ID != a.ID || due[0].WarnedFor != nil {
		t.Fatalf("expiring passwords: %+v, %v", due, err)
	}
	if none, _ := s.ExpiringPasswords(ctx, now, now.Add(24*time.Hour), 10); len(none) != 0 {
		t.Fatalf("an expiry past the window listed: %+v", none)
	}
	warning := account.ExpiryWarning{AccountID: a.ID, Username: "bob", ExpiresAt: expires, Channels: []string{"email"}, Actor: "directory", Now: now,
		Messages: []account.Message{{Channel: "email", To: "bob@example.org", Template: "password_expiry",
			Data: map[string]string{"Until": expires.Format(time.RFC1123), "Link": "https://unlock.example.com/reset"}}}}
	lockMsg := []account.Message{{Channel: "email", To: "bob@example.org", Template: "locked",
		Data: map[string]string{"UnlockLink": "https://unlock.example.com/unlock"}}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	warned, told := 0, 0
	for range 8 {
		wg.Go(func() {
			w, err := s.WarnPasswordExpiry(ctx, warning)
			if err != nil {
				t.Error(err)
			}
			l, err := s.NoteDirectoryLock(ctx, a.ID, now, lockMsg)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if w {
				warned++
			}
			if l {
				told++
			}
		})
	}
	wg.Wait()
	if warned != 1 || told != 1 || len(outboxRows(t, db, "password_expiry")) != 1 || len(outboxRows(t, db, "locked")) != 1 {
		t.Fatalf("warned %d, told %d; want once each", warned, told)
	}
	if due, _ := s.ExpiringPasswords(ctx, now, now.Add(14*24*time.Hour), 10); len(due) != 0 {
		t.Fatalf("a warned expiry is still listed: %+v", due)
	}
	// A new lock is told again.
	if l, err := s.NoteDirectoryLock(ctx, a.ID, now.Add(time.Hour), lockMsg); !l || err != nil {
		t.Fatalf("a new lock: %v, %v", l, err)
	}
}
