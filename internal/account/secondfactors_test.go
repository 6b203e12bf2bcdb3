package account_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// Enrolling an authenticator: a new secret for the account, stored sealed only once a code from the
// app matches it, and the owner is told.
func TestEnrollTOTP(t *testing.T) {
	var named string
	w := newWorld(t, func(d *account.Deps) {
		d.Factors.NewTOTP = func(name string) (string, string, error) {
			named = name
			k, err := secret.NewTOTPKey("unlockd", name)
			return k.Secret, k.URL, err
		}
	})
	a := w.add("alice")
	key, url, err := w.svc.SecondFactors.BeginTOTP(a)
	if err != nil || key == "" || url == "" || named != "alice" {
		t.Fatalf("BeginTOTP = %q, %q, %v for %q", key, url, err, named)
	}
	if st, _ := w.svc.SecondFactors.SecondFactorStatus(ctx, a.ID); st.TOTP {
		t.Fatal("enrolled before confirming")
	}
	code := totpAt(t, key, t0)
	if err := w.svc.SecondFactors.ConfirmTOTP(ctx, a, key, wrongCode(code), "", "192.0.2.1", ""); err != account.ErrBadCode {
		t.Fatalf("a wrong first code: %v, want ErrBadCode", err)
	}
	if len(w.factors.totp) != 0 || len(w.outbox.msgs) != 0 {
		t.Fatal("a wrong first code enrolled the secret")
	}
	if err := w.svc.SecondFactors.ConfirmTOTP(ctx, a, key, code, "this-session", "192.0.2.1", "zh-CN"); err != nil {
		t.Fatal(err)
	}
	if want := (account.KeptSession{Handle: "this-session", Epoch: a.SessionEpoch}); !slices.Equal(w.factors.kept, []account.KeptSession{want}) {
		t.Errorf("enrolled as asked from %+v, want %+v", w.factors.kept, want)
	}
	row := w.factors.totp[a.ID]
	if bytes.Contains(row.sealed, []byte(key)) || row.lastStep != t0.Unix()/30 {
		t.Errorf("stored %q at step %d: want it sealed, with the confirming step used", row.sealed, row.lastStep)
	}
	if opened, err := secret.Open(testKey, row.sealed); err != nil || opened != key {
		t.Errorf("the sealed secret opens to %q, %v", opened, err)
	}
	m := w.outbox.to("alice@example.com", "factor_changed")
	if len(m) != 1 || m[0].Data["Change"] != "totp_added" || m[0].Lang != "zh-CN" {
		t.Errorf("messages %+v", m)
	}
	st, err := w.svc.SecondFactors.SecondFactorStatus(ctx, a.ID)
	if err != nil || !st.TOTP || st.RecoveryLeft != 0 {
		t.Errorf("SecondFactorStatus = %+v, %v", st, err)
	}
	// The confirming code itself does not sign in: its step is used.
	if _, err := w.svc.Gate.SignInSecondFactor(ctx, a.ID, account.SignInRequest{}, code); err != account.ErrBadCode {
		t.Errorf("the confirming code at sign-in: %v, want ErrBadCode", err)
	}
	w.clock.Advance(30 * time.Second)
	if _, err := w.svc.Gate.SignInSecondFactor(ctx, a.ID, account.SignInRequest{}, totpAt(t, key, w.clock.Now())); err != nil {
		t.Errorf("the next step's code: %v", err)
	}
}

// A new set of recovery codes: ten different codes, returned once; only their hashes are stored,
// and the owner is told.
func TestNewRecoveryCodes(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	a.SessionEpoch = 7
	codes, err := w.svc.SecondFactors.NewRecoveryCodes(ctx, a, "this-session", "192.0.2.1", "")
	if err != nil || len(codes) != account.RecoveryCodeCount {
		t.Fatalf("NewRecoveryCodes = %d codes, %v", len(codes), err)
	}
	if want := (account.KeptSession{Handle: "this-session", Epoch: 7}); !slices.Equal(w.factors.kept, []account.KeptSession{want}) {
		t.Errorf("made as asked from %+v, want %+v", w.factors.kept, want)
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if seen[c] || !bytes.Equal(w.factors.recovery[a.ID][i], secret.HashToken(c)) {
			t.Errorf("code %d (%s) repeats or is not stored as its hash", i, c)
		}
		seen[c] = true
	}
	if m := w.outbox.to("alice@example.com", "factor_changed"); len(m) != 1 || m[0].Data["Change"] != "recovery_codes_created" {
		t.Errorf("messages %+v", m)
	}
	again, err := w.svc.SecondFactors.NewRecoveryCodes(ctx, a, "", "192.0.2.1", "")
	if err != nil || again[0] == codes[0] || !bytes.Equal(w.factors.recovery[a.ID][0], secret.HashToken(again[0])) {
		t.Errorf("a second set does not replace the first")
	}
	if st, _ := w.svc.SecondFactors.SecondFactorStatus(ctx, a.ID); st.TOTP || st.RecoveryLeft != 10 {
		t.Errorf("status %+v", st)
	}
}
