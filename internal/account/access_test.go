package account

import (
	"testing"
	"time"
)

// The one rule of who may try a secret, over every state and both kinds of browser.
func TestMaySignIn(t *testing.T) {
	want := map[State][2]bool{ // unknown browser, known device
		StateActive:              {true, true},
		StateLockedTemporarily:   {false, true},
		StateLocked:              {false, false},
		StateFrozen:              {false, false},
		StateDisabled:            {false, false},
		StatePendingVerification: {false, false},
		StateExpired:             {false, false},
	}
	if len(want) != len(States) {
		t.Fatalf("the table covers %d states of %d", len(want), len(States))
	}
	for _, s := range States {
		for i, known := range []bool{false, true} {
			if got := MaySignIn(s, known); got != want[s][i] {
				t.Errorf("MaySignIn(%s, known=%v) = %v", s, known, got)
			}
		}
	}
	access := map[State]string{StateActive: SignInAnyone, StateLockedTemporarily: SignInKnownDevices, StateLocked: SignInNoOne}
	for s, w := range access {
		if got := SignInAccess(s); got != w {
			t.Errorf("SignInAccess(%s) = %s, want %s", s, got, w)
		}
	}
}

// A session lives exactly while its account's effective state lets a known device sign in.
func TestSessionAllowed(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	cases := []struct {
		name string
		a    Account
		want bool
	}{
		{"active", Account{State: StateActive}, true},
		{"locked from elsewhere, for a while", Account{State: StateLockedTemporarily, LockedUntil: &future}, true},
		{"a temporary lock that lapsed", Account{State: StateLockedTemporarily, LockedUntil: &past}, true},
		{"hard lock", Account{State: StateLocked}, false},
		{"frozen", Account{State: StateFrozen, LockedUntil: &future}, false},
		{"a freeze that lapsed", Account{State: StateFrozen, LockedUntil: &past}, true},
		{"past its end", Account{State: StateActive, ExpiresAt: &past}, false},
		{"past its end while locked for a while", Account{State: StateLockedTemporarily, LockedUntil: &future, ExpiresAt: &past}, false},
		{"before its end", Account{State: StateActive, ExpiresAt: &future}, true},
		{"disabled", Account{State: StateDisabled}, false},
		{"pending", Account{State: StatePendingVerification}, false},
	}
	for _, c := range cases {
		if got := SessionAllowed(&c.a, now); got != c.want {
			t.Errorf("%s: SessionAllowed = %v, want %v", c.name, got, c.want)
		}
	}
}
