package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unlockd/unlockd/internal/account"
)

// The one rule of who may try a secret, account.MaySignIn over the effective state, is what the
// SQL of a reservation and of a sign-in does, for every shape an account row can have: each state,
// with no lock end, one past, one now and one to come, the same for the account's end, from an
// unknown browser and from the owner's known device.
func TestSignInRuleInSQL(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	now := e.clock.Now()
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	times := []struct {
		name string
		at   *time.Time
	}{{"none", nil}, {"past", &past}, {"now", &now}, {"future", &future}}
	policy, err := e.svc.Staff.Policy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	// shape makes an account in the given shape, with a known device, and returns it, the device's
	// cookie and id; ok is false when the schema refuses the shape.
	shape := func(state account.State, lockedUntil, expiresAt *time.Time) (a *account.Account, token string, deviceID int64, ok bool) {
		t.Helper()
		n++
		login := fmt.Sprintf("shape%d", n)
		e.add(login)
		res, err := e.signIn(login, password, func(r *account.SignInRequest) { r.ClientIP = clientFor(n) })
		if err != nil || res.DeviceToken == "" {
			t.Fatalf("%s: the first sign-in: %v", login, err)
		}
		if err := e.db.Pool.QueryRow(ctx, `SELECT max(id) FROM devices WHERE account_id = $1`, res.Account.ID).Scan(&deviceID); err != nil {
			t.Fatal(err)
		}
		_, err = e.db.Pool.Exec(ctx, `UPDATE accounts SET state = $2, locked_until = $3, expires_at = $4, failed_attempts = 0
			WHERE id = $1`, res.Account.ID, string(state), lockedUntil, expiresAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23514" {
			return nil, "", 0, false
		} else if err != nil {
			t.Fatal(err)
		}
		return e.account(login), res.DeviceToken, deviceID, true
	}
	var refused []string
	checked := 0
	for _, state := range account.States {
		for _, lu := range times {
			for _, ex := range times {
				for _, known := range []bool{false, true} {
					name := fmt.Sprintf("%s, locked_until %s, expires_at %s, known device %v", state, lu.name, ex.name, known)
					// Through a sign-in with the right password.
					a, token, _, ok := shape(state, lu.at, ex.at)
					if !ok {
						if !known {
							refused = append(refused, fmt.Sprintf("%s with locked_until %s, expires_at %s", state, lu.name, ex.name))
						}
						continue
					}
					checked++
					want := account.MaySignIn(a.EffectiveState(now), known)
					_, err := e.signIn(a.Username, password, func(r *account.SignInRequest) {
						r.ClientIP = clientFor(n)
						if known {
							r.DeviceToken = token
						}
					})
					if got := err == nil; got != want {
						t.Errorf("%s: MaySignIn says %v, the right password signed in: %v (%v)", name, want, got, err)
					} else if err != nil && !errors.Is(err, account.ErrBadCredentials) {
						t.Errorf("%s: refused with %v, want the bad-credentials answer", name, err)
					}
					// Through the reservation alone.
					a, _, deviceID, _ := shape(state, lu.at, ex.at)
					at := account.Attempt{AccountID: a.ID, Username: a.Username, Client: clientFor(n), Policy: policy.Lockout, Now: now}
					if known {
						at.DeviceID = deviceID
					}
					res, err := e.stores.Lockout.ReserveAttempt(ctx, at)
					if err != nil {
						t.Fatal(err)
					}
					if res.Allowed != want || (res.Allowed && res.Trusted != known) {
						t.Errorf("%s: MaySignIn says %v, ReserveAttempt allowed %v (on the device's allowance: %v)", name, want, res.Allowed, res.Trusted)
					}
				}
			}
		}
	}
	t.Logf("%d shapes checked; the schema refuses: %s", checked, strings.Join(refused, "; "))
	// Only a temporary lock without an end is refused (CHECK state <> 'locked_temporarily' OR
	// locked_until IS NOT NULL), whatever the account's end.
	if len(refused) != len(times) || !strings.HasPrefix(refused[0], string(account.StateLockedTemporarily)+" with locked_until none") {
		t.Errorf("the schema refused other shapes than a temporary lock without an end: %v", refused)
	}
}

// clientFor gives each account its own client address, so no client is throttled for spraying.
func clientFor(n int) string { return fmt.Sprintf("10.%d.%d.%d", n/65536%256, n/256%256, n%256) }

// enterCode enters a code of a purpose for login in the browser flow f: the account a and its
// new address are for a contact change, which a signed-in owner confirms.
func enterCode(svc *account.Services, purpose account.Purpose, login string, a *account.Account, newEmail string, f *account.Flow, code string) error {
	ctx := context.Background()
	p := proof(f, code, 0)
	p.Flow.Login = login
	var err error
	switch purpose {
	case account.PurposeSignIn:
		_, err = svc.Gate.SignInWithCode(ctx, account.SignInRequest{Login: login, ClientIP: "192.0.2.1", Flow: f.Nonce}, code)
	case account.PurposeUnlock:
		_, err = svc.SelfService.UnlockWithCode(ctx, p)
	case account.PurposeStatus:
		_, err = svc.SelfService.StatusWithCode(ctx, p)
	case account.PurposeVerify:
		_, err = svc.SelfService.VerifyContact(ctx, p)
	case account.PurposeContact:
		err = svc.OwnAccount.ConfirmContactChange(ctx, a, account.ChannelEmail, newEmail, code, "", "192.0.2.1", "en", f.Nonce)
	default:
		panic("no such purpose " + purpose)
	}
	return err
}

// A proof counts for one account and one browser flow (SECURITY.md 25): methods proven for two
// accounts never add up to an unlock, a code is only good in the flow that asked for it, and
// entries anywhere else neither work nor use it up.
func TestProofsNeverCrossAccounts(t *testing.T) {
	r := newRace(t)
	ctx := context.Background()
	codeAttempts := func(id int64, purpose account.Purpose) int {
		return r.count(`SELECT attempts FROM codes WHERE account_id = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1`, id, string(purpose))
	}

	t.Run("an unlock flow switched to another account after one proof starts over for it", func(t *testing.T) {
		r.next(t, 0, map[string]string{"unlock.methods_required": "2", "lockout.threshold": "3"})
		alice := r.alice
		bob := r.e.add("bob")
		bobRecovery, err := r.e.svc.SecondFactors.NewRecoveryCodes(ctx, bob, "", "198.51.100.1", "en")
		if err != nil {
			t.Fatal(err)
		}
		r.e.fail(alice.Username, 3)
		r.e.fail("bob", 3)
		f := r.flow(account.PurposeUnlock)
		if err := r.e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: alice.Username, Purpose: account.PurposeUnlock, Client: "198.51.100.1", Flow: f.Nonce}); err != nil {
			t.Fatal(err)
		}
		res, err := r.e.svc.SelfService.UnlockWithCode(ctx, account.Proof{Flow: f, Code: r.e.lastCode(r.email()), Client: "192.0.2.1"})
		if err != nil || res.Outcome != account.UnlockNeedsMore || !slices.Equal(res.Verified, []string{"email"}) {
			t.Fatalf("alice's first method: %+v, %v", res, err)
		}
		// The same browser flow now names bob, and proves a second, different method, for bob.
		f.Login = "bob"
		res, err = r.e.svc.SelfService.UnlockWithFactor(ctx, account.Proof{Flow: f, Code: bobRecovery[0], Client: "192.0.2.1"})
		if err != nil || res.Outcome != account.UnlockNeedsMore || !slices.Equal(res.Verified, []string{"recovery"}) {
			t.Fatalf("bob's one method after alice's: %+v, %v; want only bob's method counted", res, err)
		}
		if s := r.e.state("bob"); s != account.StateLockedTemporarily {
			t.Fatalf("bob is %s after one method of his own and one of alice's", s)
		}
		if s := r.e.state(alice.Username); s != account.StateLockedTemporarily {
			t.Fatalf("alice is %s after one method of her own and one of bob's", s)
		}
	})

	for round, cp := range codePurposes {
		t.Run("a "+string(cp.purpose)+" code works only in its own flow, for its own account", func(t *testing.T) {
			r.next(t, round+1, map[string]string{"code.max_attempts": "3", "lockout.threshold": "100", "unlock.methods_required": "1"})
			other := r.e.add(r.login + "-other")
			mine := r.flow(cp.purpose)
			code := r.e.lastCode(cp.send(r, mine))
			// Another browser, for the same account: the right code, and wrong ones past the code's
			// allowance, neither work nor use up the code.
			theirs := r.flow(cp.purpose)
			for i := range 5 {
				entry := code
				if i > 0 {
					entry = wrongCode(code)
				}
				if err := enterCode(r.procs[i%2], cp.purpose, r.login, r.alice, r.newEmail(), theirs, entry); !errors.Is(err, account.ErrBadCode) {
					t.Fatalf("entry %d in another flow: %v, want refused", i, err)
				}
			}
			// The same flow switched to another account: the code is not theirs either.
			if err := enterCode(r.procs[1], cp.purpose, other.Username, other, r.newEmail(), mine, code); !errors.Is(err, account.ErrBadCode) {
				t.Fatalf("the code entered for another account: %v, want refused", err)
			}
			if n := codeAttempts(r.alice.ID, cp.purpose); n != 0 {
				t.Fatalf("entries elsewhere counted %d attempts on the code", n)
			}
			// A code the other browser asks for does not replace this one.
			r.e.clock.Advance(2 * time.Minute)
			cp.send(r, theirs)
			if n := r.count(`SELECT count(*) FROM codes WHERE account_id = $1 AND purpose = $2`, r.alice.ID, string(cp.purpose)); n != 2 {
				t.Fatalf("%d codes; the other browser's was not sent", n)
			}
			if err := enterCode(r.procs[0], cp.purpose, r.login, r.alice, r.newEmail(), mine, code); err != nil {
				t.Fatalf("the code in its own flow after all that: %v", err)
			}
			if got := r.e.account(other.Username); got.Email != other.Email || got.State != account.StateActive {
				t.Fatalf("the other account changed: %s, %s", got.Email, got.State)
			}
		})
	}

	t.Run("a contact-change code of one account never confirms another's", func(t *testing.T) {
		r.next(t, len(codePurposes)+1, map[string]string{"code.max_attempts": "3", "unlock.methods_required": "1"})
		bob := r.e.add(r.login + "-bob")
		aliceFlow, bobFlow := r.flow(account.PurposeContact), r.flow(account.PurposeContact)
		target := r.login + ".target@example.com"
		if _, err := r.e.svc.OwnAccount.StartContactChange(ctx, r.alice, account.ChannelEmail, target, "198.51.100.1", "en", aliceFlow.Nonce); err != nil {
			t.Fatal(err)
		}
		aliceCode := r.e.lastCode(target)
		// Bob has a change of his own under way, to the same address, so there is a code to find.
		if _, err := r.e.svc.OwnAccount.StartContactChange(ctx, bob, account.ChannelEmail, target, "198.51.100.2", "en", bobFlow.Nonce); err != nil {
			t.Fatal(err)
		}
		for _, flow := range []*account.Flow{bobFlow, aliceFlow} {
			if err := r.e.svc.OwnAccount.ConfirmContactChange(ctx, bob, account.ChannelEmail, target, aliceCode, "", "192.0.2.1", "en", flow.Nonce); !errors.Is(err, account.ErrBadCode) {
				t.Fatalf("alice's code confirmed bob's change: %v", err)
			}
		}
		if got := r.e.account(bob.Username); got.Email != bob.Email {
			t.Fatalf("bob's email became %s", got.Email)
		}
		if n := codeAttempts(r.alice.ID, account.PurposeContact); n != 0 {
			t.Fatalf("bob's entries counted %d attempts on alice's code", n)
		}
		if err := r.e.svc.OwnAccount.ConfirmContactChange(ctx, r.alice, account.ChannelEmail, target, aliceCode, "", "192.0.2.1", "en", aliceFlow.Nonce); err != nil {
			t.Fatalf("alice's own change: %v", err)
		}
	})
}
