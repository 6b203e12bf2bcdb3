package account_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

func TestDirectoryLockNoticeDue(t *testing.T) {
	const (
		active    = account.StateActive
		temporary = account.StateLockedTemporarily
		locked    = account.StateLocked
		frozen    = account.StateFrozen
		disabled  = account.StateDisabled
		expired   = account.StateExpired
	)
	tests := []struct {
		name     string
		created  bool
		from, to account.State
		want     bool
	}{
		{"failed binds lock someone active for a while", false, active, temporary, true},
		{"failed binds lock someone active until unlocked", false, active, locked, true},
		{"the first import of someone already locked", true, "", temporary, false},
		{"the first import of someone already locked for good", true, "", locked, false},
		{"a lock that was already known lengthens", false, temporary, locked, false},
		{"a lock seen again with another end", false, temporary, temporary, false},
		{"an administrator's lock", false, active, frozen, false},
		{"disabled in the directory", false, active, disabled, false},
		{"expired in the directory", false, active, expired, false},
		{"a frozen account locked by failures", false, frozen, temporary, false},
		{"unlocked", false, temporary, active, false},
		{"nothing changed", false, active, active, false},
	}
	for _, tt := range tests {
		if got := account.DirectoryLockNoticeDue(tt.created, tt.from, tt.to); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestExpiryWarningDue(t *testing.T) {
	now := t0
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	const day = 24 * time.Hour
	window := 14 * day
	tests := []struct {
		name      string
		state     account.State
		expires   *time.Time
		warnedFor *time.Time
		window    time.Duration
		want      bool
	}{
		{"expires within the window", account.StateActive, at(10 * day), nil, window, true},
		{"expires at the window's edge", account.StateActive, at(window), nil, window, true},
		{"expires in a second", account.StateActive, at(time.Second), nil, window, true},
		{"expires after the window", account.StateActive, at(window + time.Second), nil, window, false},
		{"expired already", account.StateActive, at(-time.Second), nil, window, false},
		{"expires now", account.StateActive, at(0), nil, window, false},
		{"never expires", account.StateActive, nil, nil, window, false},
		{"warned of this expiry", account.StateActive, at(10 * day), at(10 * day), window, false},
		{"warned of an earlier expiry: a new password", account.StateActive, at(10 * day), at(-80 * day), window, true},
		{"warnings off", account.StateActive, at(10 * day), nil, 0, false},
		{"a negative window", account.StateActive, at(10 * day), nil, -day, false},
		{"locked for a while: a new password ends the lock too", account.StateLockedTemporarily, at(day), nil, window, true},
		{"locked until unlocked", account.StateLocked, at(day), nil, window, true},
		{"frozen by an administrator", account.StateFrozen, at(day), nil, window, false},
		{"disabled", account.StateDisabled, at(day), nil, window, false},
		{"expired account", account.StateExpired, at(day), nil, window, false},
	}
	for _, tt := range tests {
		if got := account.ExpiryWarningDue(tt.state, tt.expires, tt.warnedFor, tt.window, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// fakeCare keeps what the sync told whom, over the accounts of a fakeDirectoryStore, with the
// same once-only rules as the real store.
type fakeCare struct {
	accounts    *fakeDirectoryStore
	policy      account.Policy
	lockNoticed map[int64]time.Time
	warnedFor   map[int64]time.Time
	queued      []account.Message
	warnings    []account.ExpiryWarning
}

func (f *fakeCare) Policy(context.Context) (account.Policy, error) { return f.policy, nil }

func (f *fakeCare) NoteDirectoryLock(_ context.Context, id int64, start time.Time, msgs []account.Message) (bool, error) {
	if told, ok := f.lockNoticed[id]; ok && told.Equal(start) {
		return false, nil
	}
	f.lockNoticed[id] = start
	f.queued = append(f.queued, msgs...)
	return true, nil
}

func (f *fakeCare) ExpiringPasswords(_ context.Context, now, before time.Time, limit int) ([]account.ExpiringPassword, error) {
	var out []account.ExpiringPassword
	for _, a := range f.accounts.accounts {
		e := a.PasswordExpiresAt
		if a.Source != account.SourceDirectory || e == nil || !e.After(now) || e.After(before) {
			continue
		}
		var warned *time.Time
		if w, ok := f.warnedFor[a.ID]; ok {
			if w.Equal(*e) {
				continue
			}
			warned = &w
		}
		c := *a
		out = append(out, account.ExpiringPassword{Account: &c, WarnedFor: warned})
	}
	slices.SortFunc(out, func(a, b account.ExpiringPassword) int {
		return a.Account.PasswordExpiresAt.Compare(*b.Account.PasswordExpiresAt)
	})
	return out[:min(limit, len(out))], nil
}

func (f *fakeCare) WarnPasswordExpiry(_ context.Context, w account.ExpiryWarning) (bool, error) {
	for _, a := range f.accounts.accounts {
		if a.ID != w.AccountID {
			continue
		}
		if a.PasswordExpiresAt == nil || !a.PasswordExpiresAt.Equal(w.ExpiresAt) {
			return false, nil
		}
		if told, ok := f.warnedFor[a.ID]; ok && told.Equal(w.ExpiresAt) {
			return false, nil
		}
		f.warnedFor[a.ID] = w.ExpiresAt
		f.queued = append(f.queued, w.Messages...)
		f.warnings = append(f.warnings, w)
		return true, nil
	}
	return false, nil
}

// take returns the messages queued since the last take.
func (f *fakeCare) take() []account.Message {
	q := f.queued
	f.queued = nil
	return q
}

const careBase = "https://unlock.example.com"

func newCareWorld(sms bool) (*directoryWorld, *fakeCare) {
	w := newDirectoryWorld()
	care := &fakeCare{accounts: w.store, policy: account.DefaultPolicy(), lockNoticed: map[int64]time.Time{}, warnedFor: map[int64]time.Time{}}
	w.sync.WithCare(care, account.Options{BaseURL: careBase + "/", SMS: sms, Webhooks: []string{"https://crm.example.com/hook"}})
	return w, care
}

func byChannel(msgs []account.Message, channel string) []account.Message {
	var out []account.Message
	for _, m := range msgs {
		if m.Channel == channel {
			out = append(out, m)
		}
	}
	return out
}

func TestDirectorySyncTellsTheOwnerOnceWhenTheDirectoryLocksThem(t *testing.T) {
	w, care := newCareWorld(false)
	lockedAt := t0.Add(-time.Hour)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", DisplayName: "Alice"})
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org", State: account.StateLocked, LockedAt: &lockedAt})
	if counts := w.mustRun(t); counts.LockNotices != 0 || len(care.take()) != 0 {
		t.Fatalf("the first import told someone: %+v", counts)
	}
	// alice reads in Chinese, in Shanghai's time: unlockd learned it, the directory does not say.
	w.store.accounts["alice"].Language, w.store.accounts["alice"].TimeZone = "zh-CN", "Asia/Shanghai"

	// Real failed binds lock alice for five minutes, as the directory says.
	w.now = t0.Add(time.Minute)
	lockedAt, until := t0.Add(30*time.Second), t0.Add(5*time.Minute+30*time.Second)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", DisplayName: "Alice",
		State: account.StateLockedTemporarily, LockedAt: &lockedAt, LockedUntil: &until})
	counts := w.mustRun(t)
	if counts.LockNotices != 1 || counts.Locked != 1 {
		t.Fatalf("the sync after alice's lock: %+v", counts)
	}
	msgs := care.take()
	mail, events := byChannel(msgs, account.ChannelEmail), byChannel(msgs, account.ChannelWebhook)
	if len(mail) != 1 || len(events) != 1 || len(msgs) != 2 {
		t.Fatalf("queued %+v, want one email and one event", msgs)
	}
	m := mail[0]
	if m.To != "alice@example.org" || m.Template != "locked" || m.Lang != "zh-CN" || m.Zone != "Asia/Shanghai" ||
		m.Data["UnlockLink"] != careBase+"/unlock" || m.Data["Name"] != "Alice" ||
		m.Data["Time"] != lockedAt.Format(time.RFC1123) || m.Data["Until"] != until.Format(time.RFC1123) {
		t.Fatalf("the lock notice: %+v", m)
	}
	if e := events[0]; e.To != "https://crm.example.com/hook" || e.Data["event"] != "account.locked" || e.Data["username"] != "alice" ||
		e.Data["state"] != "locked_temporarily" || e.Data["source"] != "directory" {
		t.Fatalf("the lock event: %+v", e)
	}

	// The same lock, seen again: by the next sync, and by a full sync after the record drifted.
	w.mustRun(t)
	w.store.accounts["alice"].State, w.store.accounts["alice"].LockedUntil = account.StateActive, nil
	if _, err := w.sync.RunFull(ctx); err != nil {
		t.Fatal(err)
	}
	if q := care.take(); len(q) != 0 {
		t.Fatalf("one lock told twice: %+v", q)
	}
	if a, _ := w.store.AccountForSync(ctx, "alice"); a.State != account.StateLockedTemporarily {
		t.Fatalf("the full sync did not repair alice's record: %s", a.State)
	}

	// The directory lifts the lock, and later locks her again: a new lock, a new notice.
	w.now = t0.Add(10 * time.Minute)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", DisplayName: "Alice"})
	w.mustRun(t)
	w.now = t0.Add(20 * time.Minute)
	again := t0.Add(19 * time.Minute)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", DisplayName: "Alice",
		State: account.StateLocked, LockedAt: &again})
	if counts := w.mustRun(t); counts.LockNotices != 1 {
		t.Fatalf("a second lock: %+v", counts)
	}
	if mail := byChannel(care.take(), account.ChannelEmail); len(mail) != 1 || mail[0].Data["Until"] != "" ||
		mail[0].Data["Time"] != again.Format(time.RFC1123) {
		t.Fatalf("the notice of a lock without an end: %+v", mail)
	}

	// An administrator's freeze is not a lock by failed sign-ins: no notice from the sync.
	w.dir.put(account.DirectoryPerson{Username: "carol", Email: "carol@example.org"})
	w.mustRun(t)
	w.dir.put(account.DirectoryPerson{Username: "carol", Email: "carol@example.org", State: account.StateFrozen})
	if counts := w.mustRun(t); counts.Locked != 1 || counts.LockNotices != 0 || len(care.take()) != 0 {
		t.Fatalf("a freeze told as a lock: %+v", counts)
	}
}

func TestDirectorySyncWithoutCareTellsNobody(t *testing.T) {
	w := newDirectoryWorld()
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org"})
	w.mustRun(t)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", State: account.StateLocked})
	if counts := w.mustRun(t); counts.Locked != 1 || counts.LockNotices != 0 {
		t.Fatalf("counts: %+v", counts)
	}
}

func TestDirectorySyncWarnsOncePerExpiry(t *testing.T) {
	const day = 24 * time.Hour
	w, care := newCareWorld(true)
	expires := t0.Add(10 * day)
	later := t0.Add(40 * day)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", Phone: "+86 138 0000 0001",
		DisplayName: "Alice", PasswordExpiresAt: &expires})
	w.dir.put(account.DirectoryPerson{Username: "bob", Email: "bob@example.org", PasswordExpiresAt: &expires}) // no phone
	w.dir.put(account.DirectoryPerson{Username: "carol", Email: "carol@example.org", PasswordExpiresAt: &later})
	w.dir.put(account.DirectoryPerson{Username: "dan", Email: "dan@example.org"})                                                            // never expires
	w.dir.put(account.DirectoryPerson{Username: "erin", Email: "erin@example.org", State: account.StateFrozen, PasswordExpiresAt: &expires}) // frozen

	counts := w.mustRun(t)
	if counts.ExpiryWarnings != 2 {
		t.Fatalf("the first sync warned %d, want alice and bob: %+v", counts.ExpiryWarnings, care.warnings)
	}
	if a, _ := w.store.AccountForSync(ctx, "alice"); a.PasswordExpiresAt == nil || !a.PasswordExpiresAt.Equal(expires) {
		t.Fatalf("alice's expiry is not kept: %v", a.PasswordExpiresAt)
	}
	msgs := care.take()
	if len(msgs) != 3 {
		t.Fatalf("queued %+v, want email and SMS to alice, email to bob", msgs)
	}
	for _, m := range msgs {
		if m.Template != "password_expiry" || m.Data["Link"] != careBase+"/reset" || m.Data["Until"] != expires.Format(time.RFC1123) {
			t.Errorf("warning: %+v", m)
		}
	}
	if sms := byChannel(msgs, account.ChannelSMS); len(sms) != 1 || sms[0].To != "+8613800000001" {
		t.Fatalf("SMS: %+v", sms)
	}
	if w0 := care.warnings[0]; w0.Actor != "directory" || !w0.Now.Equal(t0) || !w0.ExpiresAt.Equal(expires) {
		t.Fatalf("the warning recorded: %+v", w0)
	}

	// Later syncs, even a full one, do not warn of the same expiry again.
	w.now = t0.Add(day)
	w.mustRun(t)
	if _, err := w.sync.RunFull(ctx); err != nil {
		t.Fatal(err)
	}
	if q := care.take(); len(q) != 0 {
		t.Fatalf("warned twice: %+v", q)
	}

	// carol's expiry comes within the window by the clock alone, with no change in the directory.
	w.now = later.Add(-13 * day)
	if counts := w.mustRun(t); counts.ExpiryWarnings != 1 || counts.Updated != 0 {
		t.Fatalf("carol's warning: %+v", counts)
	}
	if q := care.take(); len(q) != 1 || q[0].To != "carol@example.org" {
		t.Fatalf("carol's warning: %+v", q)
	}

	// alice chooses a new password that lasts 90 days: no warning until that one is near.
	renewed := w.now.Add(90 * day)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", Phone: "+86 138 0000 0001",
		DisplayName: "Alice", PasswordExpiresAt: &renewed})
	if counts := w.mustRun(t); counts.Updated != 1 || counts.ExpiryWarnings != 0 {
		t.Fatalf("alice's new password: %+v", counts)
	}
	w.now = renewed.Add(-3 * day)
	if counts := w.mustRun(t); counts.ExpiryWarnings != 1 {
		t.Fatalf("alice's new password near its end: %+v", counts)
	}
	if q := care.take(); len(q) != 2 || q[0].Data["Until"] != renewed.Format(time.RFC1123) {
		t.Fatalf("the second warning: %+v", q)
	}
}

func TestDirectorySyncWarnsByEmailOnlyWithoutSMS(t *testing.T) {
	w, care := newCareWorld(false)
	expires := t0.Add(24 * time.Hour)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", Phone: "+8613800000001", PasswordExpiresAt: &expires})
	w.mustRun(t)
	if q := care.take(); len(q) != 1 || q[0].Channel != account.ChannelEmail || !slices.Equal(care.warnings[0].Channels, []string{"email"}) {
		t.Fatalf("without an SMS gateway: %+v", q)
	}
}

func TestDirectorySyncWarningsOffOrAfterAnOutage(t *testing.T) {
	w, care := newCareWorld(true)
	care.policy.DirectoryExpiryWarning = 0
	expires := t0.Add(24 * time.Hour)
	w.dir.put(account.DirectoryPerson{Username: "alice", Email: "alice@example.org", PasswordExpiresAt: &expires})
	if counts := w.mustRun(t); counts.ExpiryWarnings != 0 || len(care.take()) != 0 {
		t.Fatalf("warnings off, yet: %+v", counts)
	}
	// Warnings on again, but the directory cannot be read: the kept expiry may be stale, so nobody
	// is warned until a sync reads the directory again.
	care.policy = account.DefaultPolicy()
	w.dir.down = true
	if _, err := w.sync.Run(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("an unreachable directory: %v", err)
	}
	if len(care.take()) != 0 {
		t.Fatal("warned while the directory could not be read")
	}
	w.dir.down = false
	if counts := w.mustRun(t); counts.ExpiryWarnings != 1 {
		t.Fatalf("once the directory is back: %+v", counts)
	}
}
