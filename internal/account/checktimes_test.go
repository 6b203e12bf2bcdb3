package account_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// fakeCheckTimes knows a fixed outcome, or nothing, and records what it observed and padded.
type fakeCheckTimes struct {
	known    bool  // Pad pads
	outcome  error // what a padded refusal answers
	observed []error
	pads     int
	// stages passed by each timeline observed, and by each one padded (or asked to be)
	observedStages, padStages []int
}

func (f *fakeCheckTimes) Observe(stages []time.Time, err error) {
	f.observed = append(f.observed, err)
	f.observedStages = append(f.observedStages, len(stages))
}

func (f *fakeCheckTimes) Pad(_ context.Context, stages []time.Time) (bool, error) {
	f.padStages = append(f.padStages, len(stages))
	if !f.known {
		return false, nil
	}
	f.pads++
	return true, f.outcome
}

func withCheckTimes(f *fakeCheckTimes) func(*account.Deps) {
	return func(d *account.Deps) { d.CheckTimes = f }
}

// Every refusal that checks no password is padded to a recent check's time instead of hashing a
// dummy, once check times are known; before that it hashes a dummy, which is a check time too.
// Either is timed from the last stage the refusal passed: the start, or the account's lookup.
func TestRefusalsArePaddedNotHashed(t *testing.T) {
	tests := []struct {
		name   string
		login  string
		edit   func(*account.Account)
		stages int // passed before the refusal left
	}{
		{"unknown user", "nobody", nil, 2},
		{"unusable login", "  ", nil, 1},
		{"frozen account", "alice", func(a *account.Account) { a.State = account.StateFrozen }, 2},
		{"locked account", "alice", func(a *account.Account) { a.State = account.StateLocked }, 2},
		{"no password", "alice", func(a *account.Account) { a.PasswordHash = "" }, 2},
	}
	for _, tt := range tests {
		for _, known := range []bool{true, false} {
			name := tt.name + ", no check times yet"
			if known {
				name = tt.name + ", check times known"
			}
			t.Run(name, func(t *testing.T) {
				times := &fakeCheckTimes{known: known}
				w := newWorld(t, withCheckTimes(times))
				if tt.edit != nil {
					w.add("alice", tt.edit)
				} else {
					w.add("alice")
				}
				if _, err := signIn(w, tt.login, "right password"); err != account.ErrBadCredentials {
					t.Fatalf("SignIn = %v, want ErrBadCredentials", err)
				}
				if len(w.hasher.verified) != 0 {
					t.Fatalf("a refusal checked a real hash")
				}
				wantDummies, wantObserved := 0, 0
				if !known {
					wantDummies, wantObserved = 1, 1
				}
				if w.hasher.dummies != wantDummies || len(times.observed) != wantObserved {
					t.Errorf("dummy hashes %d, observed %d; want %d and %d", w.hasher.dummies, len(times.observed), wantDummies, wantObserved)
				}
				if want := []int{tt.stages}; !slices.Equal(times.padStages, want) || !known && !slices.Equal(times.observedStages, want) {
					t.Errorf("stages passed when padded %v, when observed %v; want %v", times.padStages, times.observedStages, want)
				}
				if len(w.lockout.rejections) != 1 {
					t.Errorf("%d rejections recorded, want 1", len(w.lockout.rejections))
				}
			})
		}
	}
}

// A padded refusal answers what the check it imitates answered, a busy hasher's error included;
// it is recorded first, as it is refused whatever the answer.
func TestAPaddedRefusalAnswersBusyAsTheCheckDid(t *testing.T) {
	busy := errors.New("busy")
	times := &fakeCheckTimes{known: true, outcome: busy}
	w := newWorld(t, withCheckTimes(times))
	if _, err := signIn(w, "nobody", "pw"); !errors.Is(err, busy) {
		t.Fatalf("SignIn = %v, want the busy error", err)
	}
	if len(w.lockout.rejections) != 1 {
		t.Errorf("%d rejections recorded, want 1", len(w.lockout.rejections))
	}
}

// A stranger's wrong passwords are what refusals are timed on, checks that failed included; a
// right password is not one of them, and a known device's check goes in the priority lane.
func TestStrangersChecksAreObservedAndKnownDevicesGoFirst(t *testing.T) {
	times := &fakeCheckTimes{known: true}
	w := newWorld(t, withCheckTimes(times))
	w.add("alice")
	res, err := signIn(w, "alice", "right password") // a stranger's browser: now a known device
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(w, "alice", "wrong password"); err != account.ErrBadCredentials {
		t.Fatal(err)
	}
	if len(times.observed) != 1 || times.observed[0] != nil || times.observedStages[0] != 2 {
		t.Fatalf("observed %v after %v stages, want the stranger's wrong password after both", times.observed, times.observedStages)
	}
	if _, err := w.svc.Gate.SignIn(ctx, account.SignInRequest{Login: "alice", Password: "right password",
		DeviceToken: res.DeviceToken}); err != nil {
		t.Fatal(err)
	}
	if got := w.hasher.priority; len(got) != 3 || got[0] || got[1] || !got[2] {
		t.Errorf("priority lane per check %v, want only the known device's", got)
	}
	if len(times.observed) != 1 {
		t.Errorf("the known device's check was observed: %v", times.observed)
	}

	boom := errors.New("hasher overloaded")
	w.hasher.err = boom
	if _, err := signIn(w, "alice", "right password"); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if len(times.observed) != 2 || times.observed[1] != boom {
		t.Errorf("observed %v, want the failed check's error last", times.observed)
	}
}
