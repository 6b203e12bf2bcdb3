package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/secret"
)

// The account page's one round trip reads what the separate reads would: the latest devices and
// sessions with how many there are, the asking session first however old, the recent sign-ins,
// the factors, and the lock when asked. Signing out everywhere else keeps the asking session only.
func TestAccountOverviewInOneRoundTrip(t *testing.T) {
	clock := accounttest.NewClock(time.Now())
	db := mustDBAt(t, clock.Now)
	ctx := context.Background()
	stores := postgres.NewStores(db)
	a, other := newAccount("alice"), newAccount("bob")
	for _, x := range []*account.Account{a, other} {
		if err := stores.Accounts.CreateAccount(ctx, x, account.Actor{Name: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	// Eight sign-ins from eight new devices, each a minute after the last, each with its session;
	// and one of bob's, which alice's page must not show.
	codec := scs.GobCodec{}
	store := postgres.NewSessionStore(db, codec, make([]byte, 32))
	signIn := func(x *account.Account, token string) {
		t.Helper()
		nonce := sha256.Sum256([]byte(token))
		if _, err := stores.Lockout.RecordSuccess(ctx, account.Success{AccountID: x.ID, Username: x.Username, NewDeviceHash: nonce[:],
			Client: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/" + token, Method: "password", Now: clock.Now()}); err != nil {
			t.Fatal(err)
		}
		data, err := codec.Encode(clock.Now().Add(12*time.Hour), map[string]any{postgres.SessionAccountKey: x.ID})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CommitCtx(ctx, token, data, clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	for i := range 8 {
		signIn(a, fmt.Sprintf("token-%d", i))
	}
	signIn(other, "bobs-token")
	if _, err := stores.States.Transition(ctx, account.Transition{AccountID: a.ID, From: []account.State{account.StateActive},
		To: account.StateFrozen, Reason: "audit hold", LockKind: "freeze", Action: audit.AccountFrozen, Actor: "test", Now: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	oldest := secret.SessionHandle("token-0")
	if n := countSessions(t, db, other.ID); n != 1 {
		t.Fatalf("bob has %d sessions before, want his one", n)
	}

	o, err := stores.AccountPage.Overview(ctx, a.ID, account.OverviewQuery{Now: clock.Now(), History: 3, Listed: 5, ThisSession: oldest, WithLock: true})
	if err != nil {
		t.Fatal(err)
	}
	if o.DeviceCount != 8 || len(o.Devices) != 5 || o.SessionCount != 8 || len(o.Sessions) != 5 {
		t.Fatalf("devices %d of %d, sessions %d of %d; want 5 of 8 each", len(o.Devices), o.DeviceCount, len(o.Sessions), o.SessionCount)
	}
	for i, d := range o.Devices {
		if want := fmt.Sprintf("Firefox/token-%d", 7-i); !strings.HasSuffix(d.UserAgent, want) {
			t.Errorf("device %d is %q, want the one of %s (the latest first)", i, d.UserAgent, want)
		}
	}
	if o.Sessions[0].ID != oldest {
		t.Errorf("the asking session, the oldest, is not listed first: %+v", o.Sessions)
	}
	for i, x := range o.Sessions[1:] {
		if want := secret.SessionHandle(fmt.Sprintf("token-%d", 7-i)); x.ID != want {
			t.Errorf("session %d is %s, want %s (the latest first)", i+1, x.ID, want)
		}
	}
	history, err := stores.SelfService.RecentSignIns(ctx, a.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.History) != fmt.Sprint(history) || len(history) != 3 {
		t.Errorf("history %+v, the separate read %+v", o.History, history)
	}
	totp, left, err := stores.SecondFactors.SecondFactors(ctx, a.ID)
	if err != nil || o.Factors.TOTP != totp || o.Factors.RecoveryLeft != left {
		t.Errorf("factors %+v, the separate read %v %d (%v)", o.Factors, totp, left, err)
	}
	if o.Lock == nil || o.Lock.Kind != "freeze" {
		t.Errorf("lock %+v, want the freeze", o.Lock)
	}
	if o, err := stores.AccountPage.Overview(ctx, a.ID, account.OverviewQuery{Now: clock.Now(), Listed: 100}); err != nil ||
		o.Lock != nil || o.History != nil || len(o.Devices) != 8 || len(o.Sessions) != 8 {
		t.Errorf("asked for all without history and lock: %+v, %v", o, err)
	}

	keep := account.KeptSession{Handle: oldest, Epoch: a.SessionEpoch}
	ended, epoch, err := stores.AccountPage.EndOtherSessions(ctx, a.ID, a.Username, keep, "192.0.2.1", clock.Now())
	if err != nil || ended != 7 || epoch != a.SessionEpoch+1 {
		t.Fatalf("EndOtherSessions = %d, %d, %v; want 7 ended and the next epoch", ended, epoch, err)
	}
	// Asked again with the epoch of before (the request raced the first), or from a session the
	// first ended: each is refused and changes nothing.
	ended1 := secret.SessionHandle("token-1")
	for _, stale := range []account.KeptSession{keep, {Handle: ended1, Epoch: epoch}} {
		if n, e, err := stores.AccountPage.EndOtherSessions(ctx, a.ID, a.Username, stale, "192.0.2.1", clock.Now()); !errors.Is(err, account.ErrSessionEnded) {
			t.Errorf("EndOtherSessions from %+v, no longer live and current = %d, %d, %v; want ErrSessionEnded", stale, n, e, err)
		}
		if _, err := stores.AccountPage.ChangePassword(ctx, a.ID, a.Username, "another hash", stale, "192.0.2.1", clock.Now(), nil); !errors.Is(err, account.ErrSessionEnded) {
			t.Errorf("ChangePassword from %+v, no longer live and current: %v; want ErrSessionEnded", stale, err)
		}
		// The owner's changes that would let a thief keep the account refuse it too.
		for name, change := range ownersChanges(stores, a, stale, clock.Now()) {
			if err := change(); !errors.Is(err, account.ErrSessionEnded) {
				t.Errorf("%s from %+v, no longer live and current: %v; want ErrSessionEnded", name, stale, err)
			}
		}
	}
	if totp, left, err := stores.SecondFactors.SecondFactors(ctx, a.ID); err != nil || totp || left != 0 {
		t.Errorf("after the refused requests: authenticator %v, %d recovery codes (%v); want none", totp, left, err)
	}
	for name, change := range ownersChanges(stores, a, account.KeptSession{Handle: oldest, Epoch: epoch}, clock.Now()) {
		if err := change(); err != nil {
			t.Errorf("%s from the session kept, live and current: %v", name, err)
		}
	}
	if totp, left, err := stores.SecondFactors.SecondFactors(ctx, a.ID); err != nil || !totp || left != 1 {
		t.Errorf("after the changes from the live session: authenticator %v, %d recovery codes (%v); want both", totp, left, err)
	}
	if now, err := stores.Accounts.AccountByID(ctx, a.ID); err != nil || now.SessionEpoch != epoch || now.PasswordHash != a.PasswordHash ||
		now.Email != "alice.new@example.org" {
		t.Errorf("after the requests the account is %+v, %v; want the epoch %d, its password and the address of the live session's change", now, err, epoch)
	}
	o, err = stores.AccountPage.Overview(ctx, a.ID, account.OverviewQuery{Now: clock.Now(), Listed: 5, ThisSession: oldest})
	if err != nil || o.SessionCount != 1 || o.Sessions[0].ID != oldest {
		t.Errorf("after signing out everywhere else: %+v, %v", o, err)
	}
	if n := countSessions(t, db, other.ID); n != 1 {
		t.Errorf("bob has %d sessions, want his one", n)
	}
	events, err := stores.API.AuditEvents(ctx, account.AuditQuery{AccountID: &a.ID, Action: audit.SessionsEnded, Limit: 5})
	if err != nil || len(events) != 1 || audit.DetailValue(events[0].Details, "count") != "7" {
		t.Errorf("audit of signing out everywhere else: %+v, %v", events, err)
	}
}

// ownersChanges are an owner's changes that take the asking session (keep): an authenticator, a
// recovery code and a new address for a.
func ownersChanges(stores *postgres.Stores, a *account.Account, keep account.KeptSession, now time.Time) map[string]func() error {
	ctx := context.Background()
	return map[string]func() error{
		"EnrollTOTP": func() error {
			return stores.SecondFactors.EnrollTOTP(ctx, a.ID, a.Username, []byte("sealed"), 1, keep, "192.0.2.1", now, account.Message{})
		},
		"ReplaceRecoveryCodes": func() error {
			return stores.SecondFactors.ReplaceRecoveryCodes(ctx, a.ID, a.Username, [][]byte{[]byte("code hash")}, keep, "192.0.2.1", now, account.Message{})
		},
		"UpdateContact": func() error {
			return stores.Contact.UpdateContact(ctx, a.ID, a.Username, account.ChannelEmail, "alice.new@example.org", keep, "192.0.2.1", now, nil)
		},
	}
}
