package account_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

func signIn(w *world, login, password string) (*account.SignInResult, error) {
	return w.svc.Gate.SignIn(ctx, account.SignInRequest{Login: login, Password: password, ClientIP: "192.0.2.1"})
}

// An unknown user and a wrong password get the same answer after the same hashing work: the
// unknown one a dummy check, the known one a check of its real hash.
func TestSignInUnknownUserAndWrongPasswordLookAlike(t *testing.T) {
	tests := []struct {
		name          string
		login         string
		wantVerified  int
		wantDummies   int
		wantFailures  int
		wantRejection string
	}{
		{"unknown user", "nobody", 0, 1, 0, "unknown_user"},
		{"wrong password", "alice", 1, 0, 1, ""},
		{"unusable login", "  ", 0, 1, 0, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.add("alice")
			res, err := signIn(w, tt.login, "wrong password")
			if res != nil || err != account.ErrBadCredentials {
				t.Fatalf("SignIn = %v, %v; want ErrBadCredentials", res, err)
			}
			if len(w.hasher.verified) != tt.wantVerified || w.hasher.dummies != tt.wantDummies {
				t.Errorf("Verify ran %d times, VerifyDummy %d; want %d and %d", len(w.hasher.verified), w.hasher.dummies, tt.wantVerified, tt.wantDummies)
			}
			if len(w.lockout.failed) != tt.wantFailures {
				t.Errorf("%d failures recorded, want %d", len(w.lockout.failed), tt.wantFailures)
			}
			var reasons []string
			for _, r := range w.lockout.rejections {
				reasons = append(reasons, r.Reason)
			}
			if got := strings.Join(reasons, ","); got != tt.wantRejection {
				t.Errorf("rejections %q, want %q", got, tt.wantRejection)
			}
		})
	}
}

// Who gets in, by the account's state and whether the browser is the owner's known device: a
// refused attempt costs a dummy hash and never checks the real one.
func TestSignInByStateAndDevice(t *testing.T) {
	until := t0.Add(time.Hour)
	past := t0.Add(-time.Minute)
	tests := []struct {
		name   string
		state  account.State
		until  *time.Time
		expiry *time.Time
		known  bool
		want   bool
	}{
		{"active", account.StateActive, nil, nil, false, true},
		{"active, known device", account.StateActive, nil, nil, true, true},
		{"temporary lock", account.StateLockedTemporarily, &until, nil, false, false},
		{"temporary lock, known device", account.StateLockedTemporarily, &until, nil, true, true},
		{"lapsed temporary lock", account.StateLockedTemporarily, &past, nil, false, true},
		{"locked", account.StateLocked, nil, nil, true, false},
		{"frozen", account.StateFrozen, &until, nil, true, false},
		{"lapsed freeze", account.StateFrozen, &past, nil, false, true},
		{"disabled", account.StateDisabled, nil, nil, true, false},
		{"pending", account.StatePendingVerification, nil, nil, true, false},
		{"expired", account.StateExpired, nil, nil, true, false},
		{"past its end", account.StateActive, nil, &past, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			a := w.add("alice")
			device := ""
			if tt.known {
				res, err := signIn(w, "alice", "right password")
				if err != nil || res.DeviceToken == "" {
					t.Fatalf("first sign-in: %v, %v", res, err)
				}
				device = res.DeviceToken
			}
			a.State, a.LockedUntil, a.ExpiresAt = tt.state, tt.until, tt.expiry
			verified := len(w.hasher.verified)
			res, err := w.svc.Gate.SignIn(ctx, account.SignInRequest{Login: "alice", Password: "right password", DeviceToken: device})
			if got := err == nil; got != tt.want {
				t.Fatalf("SignIn = %v, %v; signed in %v, want %v", res, err, got, tt.want)
			}
			if tt.want {
				if res.Account.ID != a.ID {
					t.Errorf("signed in as %d, want %d", res.Account.ID, a.ID)
				}
				return
			}
			if err != account.ErrBadCredentials {
				t.Errorf("refused with %v, want ErrBadCredentials", err)
			}
			if len(w.hasher.verified) != verified || w.hasher.dummies != 1 {
				t.Errorf("a refused attempt checked the real hash (%d checks) or skipped the dummy (%d)", len(w.hasher.verified)-verified, w.hasher.dummies)
			}
		})
	}
}

// A right password signs in, resets the count, hands out a device cookie and tells when the
// account last signed in.
func TestSignInRecordsSuccess(t *testing.T) {
	w := newWorld(t)
	last := t0.Add(-48 * time.Hour)
	a := w.add("alice", func(a *account.Account) { a.LastSignInAt = &last })
	if _, err := signIn(w, "alice", "wrong"); err != account.ErrBadCredentials {
		t.Fatal(err)
	}
	res, err := signIn(w, "Alice@Example.com", "right password")
	if err != nil {
		t.Fatal(err)
	}
	if res.NeedsSecondFactor || res.DeviceToken == "" || res.PreviousSignIn == nil || !res.PreviousSignIn.Equal(last) {
		t.Errorf("result %+v: want a device cookie and the previous sign-in %v", res, last)
	}
	if len(w.lockout.successes) != 1 || w.lockout.successes[0].Method != "password" || w.lockout.successes[0].NewDeviceHash == nil {
		t.Fatalf("successes %+v, want one password success registering a device", w.lockout.successes)
	}
	if w.lockout.failures[a.ID] != 0 {
		t.Errorf("the count is %d after a success, want 0", w.lockout.failures[a.ID])
	}
	// The cookie works: the next sign-in from the browser is its known device and gets no new one.
	res, err = w.svc.Gate.SignIn(ctx, account.SignInRequest{Login: "alice", Password: "right password", DeviceToken: res.DeviceToken})
	if err != nil || res.DeviceToken != "" || w.lockout.successes[1].DeviceID == 0 {
		t.Errorf("second sign-in: %+v, %v; want the known device and no new cookie", res, err)
	}
}

// A forged device cookie is no cookie: the attempt counts on the account, and gets a new one.
func TestSignInIgnoresAForgedDeviceCookie(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	res, err := signIn(w, "alice", "right password")
	if err != nil {
		t.Fatal(err)
	}
	forged := res.DeviceToken[:len(res.DeviceToken)-2] + "AA"
	if forged == res.DeviceToken {
		forged = res.DeviceToken[:len(res.DeviceToken)-2] + "BB"
	}
	res, err = w.svc.Gate.SignIn(ctx, account.SignInRequest{Login: "alice", Password: "right password", DeviceToken: forged})
	if err != nil || res.DeviceToken == "" || w.lockout.reservations[1].DeviceID != 0 {
		t.Errorf("with a forged cookie: %+v, %v, reserved on device %d; want a new cookie, no device", res, err, w.lockout.reservations[1].DeviceID)
	}
}

// A right password on an account with a second factor is only the first step: it does not sign
// in, and the attempt is given back.
func TestSignInWithASecondFactorNeedsTheSecondStep(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	w.factors.recovery[a.ID] = [][]byte{[]byte("h")}
	res, err := signIn(w, "alice", "right password")
	if err != nil {
		t.Fatal(err)
	}
	if !res.NeedsSecondFactor || res.DeviceToken != "" || res.Account.ID != a.ID {
		t.Errorf("result %+v: want only NeedsSecondFactor", res)
	}
	if w.lockout.refunds != 1 || w.lockout.failures[a.ID] != 0 || len(w.lockout.successes) != 0 {
		t.Errorf("refunds %d, count %d, successes %d; want the attempt given back and no success",
			w.lockout.refunds, w.lockout.failures[a.ID], len(w.lockout.successes))
	}
	ok, err := w.svc.Gate.HasSecondFactor(ctx, a.ID)
	if err != nil || !ok {
		t.Errorf("HasSecondFactor = %v, %v", ok, err)
	}
	if ok, _ := w.svc.Gate.HasSecondFactor(ctx, a.ID+1); ok {
		t.Error("an account without factors has a second factor")
	}
}

// A password that could not be checked (the hasher failed) does not count against the owner.
func TestSignInHasherErrorRefundsTheAttempt(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	boom := errors.New("hasher overloaded")
	w.hasher.err = boom
	_, err := signIn(w, "alice", "right password")
	if !errors.Is(err, boom) || errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("SignIn error %v, want the hasher's", err)
	}
	if w.lockout.refunds != 1 || w.lockout.failures[a.ID] != 0 || len(w.lockout.failed) != 0 {
		t.Errorf("refunds %d, count %d, failures %d; want the attempt given back", w.lockout.refunds, w.lockout.failures[a.ID], len(w.lockout.failed))
	}
}

// Once an attempt is counted its outcome is written, even when the client hangs up while the
// password is being checked.
func TestSignInRecordsTheFailureOfAClientThatHungUp(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	hangUp, cancel := context.WithCancel(ctx)
	defer cancel()
	w.hasher.onVerify = cancel
	_, err := w.svc.Gate.SignIn(hangUp, account.SignInRequest{Login: "alice", Password: "wrong password"})
	if err != account.ErrBadCredentials || len(w.lockout.failed) != 1 || w.lockout.failures[a.ID] != 1 {
		t.Errorf("SignIn = %v with %d failures recorded, count %d; want the failure written", err, len(w.lockout.failed), w.lockout.failures[a.ID])
	}
}

// A burst from one client at many accounts passes the throttle's first look together; the
// reservation, which counts the client's accounts one at a time, refuses the one over the limit
// before its password is hashed.
func TestSprayingBurstIsRefusedAtTheReservation(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	w.lockout.sprayedMeanwhile = account.ClientAccountLimit
	_, err := signIn(w, "alice", "right password")
	if err != account.ErrThrottled {
		t.Fatalf("SignIn = %v, want ErrThrottled", err)
	}
	if len(w.hasher.verified) != 0 || w.hasher.dummies != 0 || w.lockout.failures[1] != 0 {
		t.Errorf("the refused attempt hashed (%d, %d dummies) or counted on the account (%d)", len(w.hasher.verified), w.hasher.dummies, w.lockout.failures[1])
	}
	if last := w.lockout.rejections[len(w.lockout.rejections)-1]; !last.Throttled {
		t.Errorf("rejection %+v, want a throttled one", last)
	}
}

// Right passwords, and those that stop at the second factor, release their reservation: people
// behind one address are not spraying.
func TestSprayingCountsOnlyFailures(t *testing.T) {
	w := newWorld(t)
	for i := range account.ClientAccountLimit + 3 {
		name := "user" + strconv.Itoa(i)
		w.add(name)
		if _, err := signIn(w, name, "right password"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if n := len(w.lockout.clientKeys["192.0.2.1"]); n != 0 {
		t.Errorf("%d accounts counted against the client after only successes", n)
	}
}

// A client that failed on too many accounts is throttled before any lookup or hashing.
func TestSignInThrottlesASprayingClient(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	for i := range account.ClientAccountLimit - 1 {
		w.lockout.fail("192.0.2.1", accountKeyOf(int64(100+i)))
	}
	if _, err := signIn(w, "alice", "right password"); err != nil {
		t.Fatalf("just under the limit: %v", err)
	}
	w.lockout.fail("192.0.2.1", accountKeyOf(200))
	lookups, verified := w.accounts.lookups, len(w.hasher.verified)
	_, err := signIn(w, "alice", "right password")
	if err != account.ErrThrottled {
		t.Fatalf("SignIn = %v, want ErrThrottled", err)
	}
	if w.accounts.lookups != lookups || len(w.hasher.verified) != verified || w.hasher.dummies != 0 {
		t.Error("a throttled client's attempt looked up the account or hashed")
	}
	last := w.lockout.rejections[len(w.lockout.rejections)-1]
	if !last.Throttled || last.Reason != "throttled" {
		t.Errorf("rejection %+v, want a throttled one", last)
	}
	// Another client is not throttled.
	if _, err := w.svc.Gate.SignIn(ctx, account.SignInRequest{Login: "alice", Password: "right password", ClientIP: "198.51.100.7"}); err != nil {
		t.Errorf("another client: %v", err)
	}
}

// Failed sign-ins lock the account at the policy's threshold and tell the owner; from then on even
// the right password is refused without being checked.
func TestSignInLocksAtTheThreshold(t *testing.T) {
	w := newWorld(t)
	w.setPolicy(func(p *account.Policy) { p.Lockout.Threshold = 3 })
	a := w.add("alice")
	for i := range 3 {
		if _, err := signIn(w, "alice", "wrong "+string(rune('a'+i))); err != account.ErrBadCredentials {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if a.State != account.StateLockedTemporarily || a.LockedUntil == nil || !a.LockedUntil.After(t0) {
		t.Fatalf("after 3 failures the account is %s until %v, want locked_temporarily", a.State, a.LockedUntil)
	}
	if msgs := w.outbox.to("alice@example.com", "locked"); len(msgs) != 1 || msgs[0].Data["UnlockLink"] != "http://127.0.0.1:8080/unlock" {
		t.Errorf("lock messages %+v, want one with the unlock link", msgs)
	}
	verified := len(w.hasher.verified)
	if _, err := signIn(w, "alice", "right password"); err != account.ErrBadCredentials {
		t.Fatalf("the right password on a locked account: %v", err)
	}
	if len(w.hasher.verified) != verified {
		t.Error("the right password was checked on a locked account")
	}
	// Once the lock lapses the right password works again.
	w.clock.Advance(a.LockedUntil.Sub(t0))
	if _, err := signIn(w, "alice", "right password"); err != nil {
		t.Errorf("after the lock lapsed: %v", err)
	}
}

// The same wrong password again (a device with a stale saved password) is not counted again.
func TestSignInDoesNotCountARepeatedWrongPassword(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	for range 3 {
		if _, err := signIn(w, "alice", "old password"); err != account.ErrBadCredentials {
			t.Fatal(err)
		}
	}
	if len(w.lockout.reservations) != 1 || w.lockout.failures[a.ID] != 1 {
		t.Errorf("%d reservations, count %d; want the repeats not counted", len(w.lockout.reservations), w.lockout.failures[a.ID])
	}
	if n := len(w.lockout.rejections); n != 2 || w.lockout.rejections[1].Reason != "repeated_password" || w.hasher.dummies != 2 {
		t.Errorf("rejections %+v, dummies %d; want two repeated_password after a dummy hash", w.lockout.rejections, w.hasher.dummies)
	}
	w.setPolicy(func(p *account.Policy) { p.Lockout.IgnoreRepeated = false })
	if _, err := signIn(w, "alice", "old password"); err != account.ErrBadCredentials || w.lockout.failures[a.ID] != 2 {
		t.Errorf("with ignore_repeated off: %v, count %d; want it counted", err, w.lockout.failures[a.ID])
	}
}

// A password longer than 256 characters is refused without a lookup, after a dummy hash.
func TestSignInRefusesAnOverlongPassword(t *testing.T) {
	w := newWorld(t)
	w.add("alice", func(a *account.Account) { a.PasswordHash = "hash:" + strings.Repeat("x", 257) })
	_, err := signIn(w, "alice", strings.Repeat("x", 257))
	if err != account.ErrBadCredentials || w.accounts.lookups != 0 || w.hasher.dummies != 1 || len(w.hasher.verified) != 0 {
		t.Errorf("SignIn = %v after %d lookups, %d dummies, %d checks", err, w.accounts.lookups, w.hasher.dummies, len(w.hasher.verified))
	}
}

// An account without a password cannot sign in with one.
func TestSignInWithoutAPassword(t *testing.T) {
	w := newWorld(t)
	w.add("alice", func(a *account.Account) { a.PasswordHash = "" })
	_, err := signIn(w, "alice", "")
	if err != account.ErrBadCredentials || len(w.lockout.reservations) != 0 || w.lockout.rejections[0].Reason != "no_password" {
		t.Errorf("SignIn = %v; reservations %d, rejections %+v", err, len(w.lockout.reservations), w.lockout.rejections)
	}
}

// A hash with old parameters is replaced on a successful sign-in, and only then.
func TestSignInRehashes(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", func(a *account.Account) { a.PasswordHash = "old:right password" })
	if _, err := signIn(w, "alice", "wrong password"); err != account.ErrBadCredentials || a.PasswordHash != "old:right password" {
		t.Fatalf("a wrong password: %v, stored %q", err, a.PasswordHash)
	}
	if _, err := signIn(w, "alice", "right password"); err != nil {
		t.Fatal(err)
	}
	if w.hasher.hashed != 1 || a.PasswordHash != "hash:right password" {
		t.Errorf("hashed %d times, stored %q; want the new hash", w.hasher.hashed, a.PasswordHash)
	}
}

// startFlow begins a code flow for login and has its code sent by email.
func startFlow(t *testing.T, w *world, purpose account.Purpose, login string) *account.Flow {
	t.Helper()
	flow, err := account.NewFlow(purpose, login, account.ChannelEmail)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: login, Purpose: purpose, Client: "192.0.2.1", Flow: flow.Nonce}); err != nil {
		t.Fatal(err)
	}
	return flow
}

// A sign-in code works in the flow it was sent for, once; a wrong one counts as a failed sign-in.
func TestSignInWithCode(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	flow := startFlow(t, w, account.PurposeSignIn, "alice")
	code := w.outbox.lastCode("alice@example.com")
	if len(code) != 6 {
		t.Fatalf("code %q, want 6 digits", code)
	}
	req := account.SignInRequest{Login: "alice", ClientIP: "192.0.2.1", Flow: flow.Nonce}

	if _, err := w.svc.Gate.SignInWithCode(ctx, req, wrongCode(code)); err != account.ErrBadCode {
		t.Fatalf("a wrong code: %v, want ErrBadCode", err)
	}
	if len(w.lockout.failed) != 1 || w.lockout.failed[0].Method != "code" || w.lockout.failed[0].PasswordMAC != nil {
		t.Errorf("failures %+v, want one code failure", w.lockout.failed)
	}
	other, _ := account.NewFlow(account.PurposeSignIn, "alice", account.ChannelEmail)
	if _, err := w.svc.Gate.SignInWithCode(ctx, account.SignInRequest{Login: "alice", Flow: other.Nonce}, code); err != account.ErrBadCode {
		t.Fatalf("the code in another flow: %v, want ErrBadCode", err)
	}
	res, err := w.svc.Gate.SignInWithCode(ctx, req, " "+code+" ")
	if err != nil || res.Account.ID != a.ID || w.lockout.successes[0].Method != "code" {
		t.Fatalf("the right code: %+v, %v", res, err)
	}
	if _, err := w.svc.Gate.SignInWithCode(ctx, req, code); err != account.ErrBadCode {
		t.Errorf("the code a second time: %v, want ErrBadCode", err)
	}
	if _, err := w.svc.Gate.SignInWithCode(ctx, account.SignInRequest{Login: "nobody", Flow: flow.Nonce}, code); err != account.ErrBadCode {
		t.Errorf("an unknown login: %v, want ErrBadCode", err)
	}
	if w.hasher.dummies != 0 || len(w.hasher.verified) != 0 {
		t.Error("a code sign-in hashed")
	}
}

func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// The second step takes an authenticator code once per step, or a recovery code once.
func TestSignInSecondFactor(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	key, err := secret.NewTOTPKey("unlockd", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc.SecondFactors.ConfirmTOTP(ctx, a, key.Secret, totpAt(t, key.Secret, t0.Add(-30*time.Second)), "", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	codes, err := w.svc.SecondFactors.NewRecoveryCodes(ctx, a, "", "192.0.2.1", "")
	if err != nil {
		t.Fatal(err)
	}
	req := account.SignInRequest{ClientIP: "192.0.2.1"}
	now := totpAt(t, key.Secret, t0)

	if _, err := w.svc.Gate.SignInSecondFactor(ctx, a.ID, req, wrongCode(now)); err != account.ErrBadCode {
		t.Fatalf("a wrong authenticator code: %v, want ErrBadCode", err)
	}
	res, err := w.svc.Gate.SignInSecondFactor(ctx, a.ID, req, now)
	if err != nil || res.NeedsSecondFactor || res.DeviceToken == "" {
		t.Fatalf("the right authenticator code: %+v, %v", res, err)
	}
	if _, err := w.svc.Gate.SignInSecondFactor(ctx, a.ID, req, now); err != account.ErrBadCode {
		t.Errorf("the same step again: %v, want ErrBadCode", err)
	}
	typed := strings.ToLower(strings.ReplaceAll(codes[3], "-", " "))
	if _, err := w.svc.Gate.SignInSecondFactor(ctx, a.ID, req, typed); err != nil {
		t.Errorf("a recovery code as typed: %v", err)
	}
	if _, err := w.svc.Gate.SignInSecondFactor(ctx, a.ID, req, codes[3]); err != account.ErrBadCode {
		t.Errorf("the recovery code again: %v, want ErrBadCode", err)
	}
	if used := w.outbox.to("alice@example.com", "factor_changed"); len(used) != 3 || used[2].Data["Change"] != "recovery_code_used" || used[2].Data["Remaining"] != "9" {
		t.Errorf("factor messages %+v, want the recovery code's use told with 9 remaining", used)
	}
	methods := []string{}
	for _, f := range w.lockout.failed {
		methods = append(methods, f.Method)
	}
	if got := strings.Join(methods, ","); got != "totp,totp,recovery" {
		t.Errorf("failures by %s, want totp,totp,recovery", got)
	}
}

func totpAt(t *testing.T, key string, at time.Time) string {
	t.Helper()
	code, err := secret.TOTPCode(key, at)
	if err != nil {
		t.Fatal(err)
	}
	return code
}
