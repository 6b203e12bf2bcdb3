package account

import (
	"testing"
	"time"
)

// A lock covers [start, until): at its until a temporary lock or a time-limited freeze has lifted by
// itself, a nanosecond before it has not, and a lock without an until never lifts by time.
func TestEffectiveStateLiftsATimedLockAtItsUntil(t *testing.T) {
	until := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		state State
		until *time.Time
		now   time.Time
		want  State
	}{
		{"temporary lock, before until", StateLockedTemporarily, &until, until.Add(-time.Nanosecond), StateLockedTemporarily},
		{"temporary lock, at until", StateLockedTemporarily, &until, until, StateActive},
		{"temporary lock, after until", StateLockedTemporarily, &until, until.Add(time.Hour), StateActive},
		{"timed freeze, before until", StateFrozen, &until, until.Add(-time.Nanosecond), StateFrozen},
		{"timed freeze, at until", StateFrozen, &until, until, StateActive},
		{"freeze without an until", StateFrozen, nil, until.Add(24 * time.Hour), StateFrozen},
		{"hard lock with an until", StateLocked, &until, until.Add(time.Hour), StateLocked},
	}
	for _, tt := range tests {
		a := Account{State: tt.state, LockedUntil: tt.until}
		if got := a.EffectiveState(tt.now); got != tt.want {
			t.Errorf("%s: EffectiveState = %s, want %s", tt.name, got, tt.want)
		}
	}
}
