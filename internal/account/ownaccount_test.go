package account_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// The account page asks for the latest few devices and sessions, the asking session among them, and
// for the lock only when there is one; the page of all browsers asks for all.
func TestOverview(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	w.page.lock = &account.LockInfo{Kind: "freeze"}
	for i := range 8 {
		w.page.devices = append(w.page.devices, account.Device{ID: int64(i)})
		w.page.sessions = append(w.page.sessions, account.Session{ID: fmt.Sprintf("s%d", i)})
	}
	o, err := w.svc.OwnAccount.Overview(ctx, a, "s7")
	if err != nil {
		t.Fatal(err)
	}
	if q := w.page.asked[0]; q.History != 15 || q.Listed != 5 || q.ThisSession != "s7" || q.WithLock || !q.Now.Equal(t0) {
		t.Errorf("the account page asked %+v", q)
	}
	if len(o.Devices) != 5 || o.DeviceCount != 8 || len(o.Sessions) != 5 || o.SessionCount != 8 || o.Lock != nil {
		t.Errorf("overview %+v", o)
	}
	until := t0.Add(time.Hour)
	a.State, a.LockedUntil = account.StateFrozen, &until
	if o, err := w.svc.OwnAccount.Overview(ctx, a, "s7"); err != nil || o.Lock == nil || o.Lock.Kind != "freeze" {
		t.Errorf("a frozen account's overview: %+v, %v", o, err)
	}
	if _, err := w.svc.OwnAccount.Browsers(ctx, a, "s7"); err != nil {
		t.Fatal(err)
	}
	if q := w.page.asked[2]; q.History != 0 || q.Listed != account.MaxListedBrowsers || q.ThisSession != "s7" || q.WithLock {
		t.Errorf("the page of all browsers asked %+v", q)
	}
}

// Signing out everywhere else ends every session but the asking one and gives it the new epoch.
func TestEndOtherSessions(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	w.page.sessions = []account.Session{{ID: "s1"}, {ID: "s2"}, {ID: "s3"}}
	ended, epoch, err := w.svc.OwnAccount.EndOtherSessions(ctx, a, "s2", "192.0.2.1")
	if err != nil || ended != 2 || epoch != a.SessionEpoch || len(w.page.sessions) != 1 || w.page.sessions[0].ID != "s2" {
		t.Errorf("EndOtherSessions = %d, %d, %v; sessions %+v", ended, epoch, err, w.page.sessions)
	}
	// A request of a session whose epoch is past (another end came first) changes nothing.
	stale := *a
	stale.SessionEpoch--
	w.page.sessions = append(w.page.sessions, account.Session{ID: "s4"})
	if _, _, err := w.svc.OwnAccount.EndOtherSessions(ctx, &stale, "s2", "192.0.2.1"); !errors.Is(err, account.ErrSessionEnded) || len(w.page.sessions) != 2 {
		t.Errorf("EndOtherSessions from a past epoch = %v, sessions %+v; want ErrSessionEnded and none ended", err, w.page.sessions)
	}
}

// Forgetting a device and ending a session answer ENOTFOUND for one that is not there.
func TestForgetDeviceAndEndSession(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	w.page.devices = []account.Device{{ID: 4}}
	w.page.sessions = []account.Session{{ID: "s1"}}
	wantCode(t, w.svc.OwnAccount.ForgetDevice(ctx, a, 5, "192.0.2.1"), account.ENOTFOUND)
	if err := w.svc.OwnAccount.ForgetDevice(ctx, a, 4, "192.0.2.1"); err != nil || len(w.page.devices) != 0 {
		t.Errorf("ForgetDevice = %v, devices %+v", err, w.page.devices)
	}
	wantCode(t, w.svc.OwnAccount.EndSession(ctx, a, "s2", "192.0.2.1"), account.ENOTFOUND)
	if err := w.svc.OwnAccount.EndSession(ctx, a, "s1", "192.0.2.1"); err != nil || len(w.page.sessions) != 0 {
		t.Errorf("EndSession = %v, sessions %+v", err, w.page.sessions)
	}
}

// Changing the password takes the current one as a counted attempt under the lock; the new one
// must pass the rules; the other sessions end and the owner is told.
func TestChangePassword(t *testing.T) {
	const pw = "paper boats on a winter canal"
	change := func(w *world, a *account.Account, current, password string) (int64, error) {
		return w.svc.OwnAccount.ChangePassword(ctx, a, current, password, password, "s1", "192.0.2.1", "")
	}
	t.Run("wrong current password", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice")
		if _, err := change(w, a, "wrong", pw); err != account.ErrWrongPassword {
			t.Fatalf("ChangePassword = %v, want ErrWrongPassword", err)
		}
		if len(w.lockout.failed) != 1 || w.lockout.failures[a.ID] != 1 || len(w.page.changed) != 0 {
			t.Errorf("failures %d, count %d, changes %d; want a counted failure and no change", len(w.lockout.failed), w.lockout.failures[a.ID], len(w.page.changed))
		}
	})
	t.Run("locked", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice", locked)
		if _, err := change(w, a, "right password", pw); err != account.ErrWrongPassword {
			t.Fatalf("ChangePassword = %v, want ErrWrongPassword", err)
		}
		if len(w.hasher.verified) != 0 || len(w.page.changed) != 0 {
			t.Error("the current password was checked on a locked account")
		}
	})
	t.Run("no password", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice", func(a *account.Account) { a.PasswordHash = "" })
		if _, err := change(w, a, "", pw); err != account.ErrWrongPassword || len(w.lockout.reservations) != 0 {
			t.Errorf("ChangePassword = %v, want ErrWrongPassword", err)
		}
	})
	t.Run("weak new password", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice")
		_, err := change(w, a, "right password", "short")
		var problem *account.PasswordProblem
		if !errors.As(err, &problem) || problem.ID != account.PasswordTooShort || len(w.page.changed) != 0 {
			t.Errorf("ChangePassword = %v, want too short", err)
		}
	})
	t.Run("changed", func(t *testing.T) {
		w := newWorld(t, withSMS)
		a := w.add("alice", func(a *account.Account) { a.Phone, a.SessionEpoch = "+14155550100", 4 })
		w.page.sessions = []account.Session{{ID: "s1"}, {ID: "s2"}}
		epoch, err := change(w, a, "right password", pw)
		if err != nil || epoch != 5 {
			t.Fatalf("ChangePassword = %d, %v", epoch, err)
		}
		if a.PasswordHash != "hash:"+pw || w.page.kept != "s1" {
			t.Errorf("hash %q, kept %q", a.PasswordHash, w.page.kept)
		}
		// The right current password is given back: it neither counts nor signs in.
		if w.lockout.failures[a.ID] != 0 || w.lockout.refunds != 1 || len(w.lockout.successes) != 0 {
			t.Errorf("count %d, refunds %d, successes %d", w.lockout.failures[a.ID], w.lockout.refunds, len(w.lockout.successes))
		}
		if len(w.outbox.to("alice@example.com", "password_changed")) != 1 || len(w.outbox.to("+14155550100", "password_changed")) != 1 {
			t.Errorf("queued %+v, want the owner told by email and SMS", w.outbox.msgs)
		}
	})
	t.Run("asked from a session that ended meanwhile", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice")
		w.page.sessions = []account.Session{{ID: "s2"}} // s1 was signed out by another browser
		if _, err := change(w, a, "right password", pw); !errors.Is(err, account.ErrSessionEnded) {
			t.Fatalf("ChangePassword = %v, want ErrSessionEnded", err)
		}
		if len(w.page.changed) != 0 || len(w.outbox.msgs) != 0 || w.lockout.failures[a.ID] != 0 {
			t.Errorf("changes %d, queued %d, count %d: want nothing changed, told or counted", len(w.page.changed), len(w.outbox.msgs), w.lockout.failures[a.ID])
		}
	})
}

// A new contact is changed only once a code sent to it comes back, by the same channel; the old
// contact is told.
func TestContactChange(t *testing.T) {
	w := newWorld(t, withSMS)
	a := w.add("alice")
	flow, _ := account.NewFlow(account.PurposeContact, "alice", account.ChannelEmail)
	start := func(channel, value string) (string, error) {
		return w.svc.OwnAccount.StartContactChange(ctx, a, channel, value, "192.0.2.1", "", flow.Nonce)
	}
	for _, tt := range []struct{ channel, value, id string }{
		{account.ChannelEmail, "not an address", "err_email_invalid"},
		{account.ChannelSMS, "", "err_phone_required"},
		{account.ChannelSMS, "0800 123", "err_phone_format"},
		{"fax", "+14155550100", "err_contact_kind"},
	} {
		_, err := start(tt.channel, tt.value)
		if e, _ := err.(*account.Error); e == nil || e.MessageID != tt.id {
			t.Errorf("%s %q: %v, want %s", tt.channel, tt.value, err, tt.id)
		}
	}
	value, err := start(account.ChannelEmail, " alice@new.example.com ")
	if err != nil || value != "alice@new.example.com" {
		t.Fatalf("StartContactChange = %q, %v", value, err)
	}
	code := w.outbox.lastCode(value)
	if m := w.outbox.to(value, "code"); len(m) != 1 || m[0].Data["Purpose"] != "verify" {
		t.Fatalf("codes to the new address %+v", m)
	}
	_, err = start(account.ChannelEmail, value)
	if e, _ := err.(*account.Error); e == nil || e.MessageID != "err_codes_too_soon" {
		t.Errorf("a second code at once: %v, want err_codes_too_soon", err)
	}
	confirm := func(channel, code string) error {
		return w.svc.OwnAccount.ConfirmContactChange(ctx, a, channel, value, code, "", "192.0.2.1", "", flow.Nonce)
	}
	if err := confirm(account.ChannelEmail, wrongCode(code)); err != account.ErrBadCode {
		t.Fatalf("a wrong code: %v", err)
	}
	other := *flow
	other.Nonce = "another-flow-nonce-0123456789"
	if err := w.svc.OwnAccount.ConfirmContactChange(ctx, a, account.ChannelEmail, value, code, "", "192.0.2.1", "", other.Nonce); err != account.ErrBadCode {
		t.Fatalf("the code in another flow: %v", err)
	}
	if err := confirm(account.ChannelSMS, code); err != account.ErrBadCode || w.accounts.byID[a.ID].Email != "alice@example.com" {
		t.Fatalf("an email code as a phone's: %v", err)
	}
	// That entry used the code up: a new one is needed.
	w.clock.Advance(time.Minute)
	if _, err := start(account.ChannelEmail, value); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.OwnAccount.ConfirmContactChange(ctx, a, account.ChannelEmail, value, w.outbox.lastCode(value), "this-session",
		"192.0.2.1", "", flow.Nonce); err != nil {
		t.Fatal(err)
	}
	if got := w.accounts.byID[a.ID].Email; got != value {
		t.Errorf("email %q, want %q", got, value)
	}
	if want := (account.KeptSession{Handle: "this-session", Epoch: a.SessionEpoch}); !slices.Equal(w.contact.kept, []account.KeptSession{want}) {
		t.Errorf("changed as asked from %+v, want %+v", w.contact.kept, want)
	}
	if m := w.outbox.to("alice@example.com", "factor_changed"); len(m) != 1 || m[0].Data["Change"] != "email_changed" {
		t.Errorf("the old address was told %+v", m)
	}
}

// The owner chooses the zone times are written in: an IANA name or the organisation's (""); the
// messages to the account then carry it.
func TestSetTimeZone(t *testing.T) {
	for _, c := range []struct {
		zone string
		ok   bool
	}{
		{"", true}, {"Asia/Shanghai", true}, {" Europe/Berlin ", true}, {"UTC", true},
		{"Local", false}, {"Mars/Olympus_Mons", false}, {"../../etc/passwd", false}, {"Asia/" + strings.Repeat("x", 70), false},
	} {
		w := newWorld(t)
		a := w.add("alice")
		err := w.svc.OwnAccount.SetTimeZone(ctx, a, c.zone)
		if c.ok != (err == nil) {
			t.Errorf("SetTimeZone(%q) = %v, want ok %v", c.zone, err, c.ok)
			continue
		}
		if !c.ok {
			wantCode(t, err, account.EINVALID)
			continue
		}
		if want := strings.TrimSpace(c.zone); a.TimeZone != want || w.accounts.byID[a.ID].TimeZone != want {
			t.Errorf("SetTimeZone(%q) stored %q", c.zone, w.accounts.byID[a.ID].TimeZone)
		}
	}

	w := newWorld(t)
	a := w.add("alice")
	if err := w.svc.OwnAccount.SetTimeZone(ctx, a, "Asia/Shanghai"); err != nil {
		t.Fatal(err)
	}
	key, _, err := w.svc.SecondFactors.BeginTOTP(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SecondFactors.ConfirmTOTP(ctx, a, key, totpAt(t, key, t0), "", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	if m := w.outbox.to("alice@example.com", "factor_changed"); len(m) != 1 || m[0].Zone != "Asia/Shanghai" {
		t.Errorf("messages %+v, want one written in Asia/Shanghai", m)
	}
}
