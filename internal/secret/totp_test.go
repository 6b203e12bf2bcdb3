package secret

import (
	"strings"
	"testing"
	"time"
)

func TestMatchTOTPWithinOneStep(t *testing.T) {
	k, err := NewTOTPKey("unlockd", "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	step := now.Unix() / 30
	for _, tt := range []struct {
		at    time.Time
		ok    bool
		delta int64
	}{
		{now, true, 0},
		{now.Add(-30 * time.Second), true, -1},
		{now.Add(30 * time.Second), true, 1},
		{now.Add(-60 * time.Second), false, 0},
		{now.Add(61 * time.Second), false, 0},
	} {
		code, _ := TOTPCode(k.Secret, tt.at)
		got, ok := MatchTOTP(k.Secret, code, now)
		if ok != tt.ok || (ok && got != step+tt.delta) {
			t.Errorf("code at %+ds: step %d ok %v; want ok %v step %d", tt.at.Unix()-now.Unix(), got, ok, tt.ok, step+tt.delta)
		}
	}
	if _, ok := MatchTOTP(k.Secret, "12345", now); ok {
		t.Error("a 5-digit code matched")
	}
}

func TestRecoveryCodes(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		c, err := NewRecoveryCode()
		if err != nil || len(c) != 19 || strings.ContainsAny(c, "01OI") || seen[c] {
			t.Fatalf("recovery code %q: %v", c, err)
		}
		seen[c] = true
		if NormalizeRecoveryCode(strings.ToLower(strings.ReplaceAll(c, "-", " "))) != c {
			t.Fatalf("normalising %q failed", c)
		}
	}
}

func TestSealOpen(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	sealed, err := Seal(key, "JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Open(key, sealed); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := Open([]byte(strings.Repeat("x", 32)), sealed); err == nil {
		t.Fatal("opened with another key")
	}
	if _, err := TOTPQRCode("otpauth://totp/unlockd:alice?secret=JBSWY3DPEHPK3PXP&issuer=unlockd", 200); err != nil {
		t.Fatal(err)
	}
}
