package account_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// fakeCheckTimes draws one fixed check, or none, and records what it observed and the times it
// was asked to sleep until (it returns at once).
type fakeCheckTimes struct {
	rest           []time.Duration // the check drawn: its time from each stage; nil: none known
	load           int             // the sign-ins under way when the check drawn started
	observed       []error
	observedStages []int // stages passed by each timeline observed
	sleeps         []time.Time
}

func (f *fakeCheckTimes) Observe(stages []time.Time, _ int, err error) {
	f.observed = append(f.observed, err)
	f.observedStages = append(f.observedStages, len(stages))
}

func (f *fakeCheckTimes) Draw() ([]time.Duration, int, bool) { return f.rest, f.load, f.rest != nil }

func (f *fakeCheckTimes) SleepUntil(_ context.Context, end time.Time) error {
	f.sleeps = append(f.sleeps, end)
	return nil
}

func withCheckTimes(f *fakeCheckTimes) func(*account.Deps) {
	return func(d *account.Deps) { d.CheckTimes = f }
}

// A check drawn: 100ms from its start to its verdict, 80ms from its lookup, 60ms from asking for
// a hashing worker, 50ms from its hash's beginning: it waited 10ms for a worker.
var drawnCheck = []time.Duration{100 * time.Millisecond, 80 * time.Millisecond, 60 * time.Millisecond, 50 * time.Millisecond}

// Every refusal that checks no password is padded to a recent check's time instead of hashing a
// dummy, once check times are known, taking its turn at the hasher on the way; before that it
// hashes a dummy, which is a check time too, observed with every stage of a check's way.
func TestRefusalsArePaddedNotHashed(t *testing.T) {
	tests := []struct {
		name  string
		login string
		edit  func(*account.Account)
	}{
		{"unknown user", "nobody", nil},
		{"unusable login", "  ", nil},
		{"frozen account", "alice", func(a *account.Account) { a.State = account.StateFrozen }},
		{"locked account", "alice", func(a *account.Account) { a.State = account.StateLocked }},
		{"no password", "alice", func(a *account.Account) { a.PasswordHash = "" }},
	}
	for _, tt := range tests {
		for _, known := range []bool{true, false} {
			name := tt.name + ", no check times yet"
			times := &fakeCheckTimes{}
			if known {
				name, times.rest = tt.name+", check times known", drawnCheck
			}
			t.Run(name, func(t *testing.T) {
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
				if known {
					if w.hasher.dummies != 0 || w.hasher.turns != 1 || len(times.sleeps) != 2 || len(times.observed) != 0 {
						t.Errorf("dummy hashes %d, turns %d, sleeps %d, observed %d; want a turn between two sleeps",
							w.hasher.dummies, w.hasher.turns, len(times.sleeps), len(times.observed))
					}
				} else if w.hasher.dummies != 1 || w.hasher.turns != 0 || !slices.Equal(times.observedStages, []int{4}) {
					t.Errorf("dummy hashes %d, turns %d, stages observed %v; want one dummy observed after 4 stages",
						w.hasher.dummies, w.hasher.turns, times.observedStages)
				}
				if len(w.lockout.rejections) != 1 {
					t.Errorf("%d rejections recorded, want 1", len(w.lockout.rejections))
				}
			})
		}
	}
}

// A padded refusal follows the drawn check's way from the last stage it passed: it asks for a
// worker as long after that stage as the check did, and answers as long after its turn as the
// check took from its own, with the check's wait replaced by its own.
func TestARefusalFollowsTheDrawnChecksWay(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name     string
		login    string
		turnWait time.Duration
		ask      time.Duration // after the stage left at
		answer   time.Duration // after asking
	}{
		{"unknown user, a worker free", "nobody", 0, ms(80 - 60), ms(50)},
		{"unknown user, waiting for a worker", "nobody", ms(30), ms(80 - 60), ms(30 + 50)},
		{"unusable login, left at the start", "  ", 0, ms(100 - 60), ms(50)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			times := &fakeCheckTimes{rest: drawnCheck}
			w := newWorld(t, withCheckTimes(times))
			w.hasher.turnWait = tt.turnWait
			before := time.Now()
			if _, err := signIn(w, tt.login, "pw"); err != account.ErrBadCredentials {
				t.Fatalf("SignIn = %v, want ErrBadCredentials", err)
			}
			after := time.Now()
			if len(times.sleeps) != 2 {
				t.Fatalf("slept until %v, want two times", times.sleeps)
			}
			if ask := times.sleeps[0]; ask.Before(before.Add(tt.ask)) || ask.After(after.Add(tt.ask)) {
				t.Errorf("asked for a worker at %v after the start, want %v after the stage left at",
					ask.Sub(before), tt.ask)
			}
			if answer := times.sleeps[1].Sub(times.sleeps[0]); answer < tt.answer || answer > tt.answer+ms(20) {
				t.Errorf("answered %v after asking, want %v", answer, tt.answer)
			}
		})
	}
}

// A check drawn that met a load that has passed (many more sign-ins under way than now, and no
// check has found every worker taken since) says nothing of the time a check takes now: the
// refusal checks a dummy for real instead, which it observes. With the hasher saturated a moment
// ago, or a check from a like load, it is padded.
func TestARefusalChecksForRealWhenTheLoadHasPassed(t *testing.T) {
	tests := []struct {
		name      string
		drawnLoad int
		busy      bool
		dummy     bool
	}{
		{"a flood's check, a worker free", 6, false, true},
		{"a flood's check, the hasher saturated a moment ago", 6, true, false},
		{"a check from a like load", 2, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			times := &fakeCheckTimes{rest: drawnCheck, load: tt.drawnLoad}
			w := newWorld(t, withCheckTimes(times))
			w.hasher.busy = tt.busy
			if _, err := signIn(w, "nobody", "pw"); err != account.ErrBadCredentials {
				t.Fatalf("SignIn = %v, want ErrBadCredentials", err)
			}
			dummy := w.hasher.dummies == 1 && len(times.observed) == 1 && w.hasher.turns == 0
			padded := w.hasher.dummies == 0 && len(times.observed) == 0 && w.hasher.turns == 1
			if tt.dummy && !dummy || !tt.dummy && !padded {
				t.Errorf("dummy hashes %d, observed %d, turns %d; want a dummy %v", w.hasher.dummies, len(times.observed), w.hasher.turns, tt.dummy)
			}
		})
	}
}

// A refusal whose turn at the hasher is refused busy answers busy, as its check would have; it is
// recorded first, as it is refused whatever the answer.
func TestARefusalAnswersBusyWhenItsTurnIs(t *testing.T) {
	busy := errors.New("busy")
	times := &fakeCheckTimes{rest: drawnCheck}
	w := newWorld(t, withCheckTimes(times))
	w.hasher.err = busy
	if _, err := signIn(w, "nobody", "pw"); !errors.Is(err, busy) {
		t.Fatalf("SignIn = %v, want the busy error", err)
	}
	if len(w.lockout.rejections) != 1 || w.hasher.turns != 1 || len(times.sleeps) != 1 {
		t.Errorf("%d rejections recorded, %d turns, %d sleeps; want 1, 1, and none after the turn",
			len(w.lockout.rejections), w.hasher.turns, len(times.sleeps))
	}
}

// A stranger's wrong passwords are what refusals are timed on, checks that failed included; a
// right password is not one of them, and a known device's check goes in the priority lane.
func TestStrangersChecksAreObservedAndKnownDevicesGoFirst(t *testing.T) {
	times := &fakeCheckTimes{rest: drawnCheck}
	w := newWorld(t, withCheckTimes(times))
	w.add("alice")
	res, err := signIn(w, "alice", "right password") // a stranger's browser: now a known device
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signIn(w, "alice", "wrong password"); err != account.ErrBadCredentials {
		t.Fatal(err)
	}
	if len(times.observed) != 1 || times.observed[0] != nil || times.observedStages[0] != 4 {
		t.Fatalf("observed %v after %v stages, want the stranger's wrong password after all 4", times.observed, times.observedStages)
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
