package account

import (
	"context"
	"time"
)

// A refusal that needs no password check (an unknown user, a locked account, a password already
// known to be wrong) must look like a wrong password in its time too (SECURITY.md 8), but should
// not cost a check: a flood of them would spend the bounded hasher on nothing and keep real people
// out. So, once recorded, it waits until the time a recent stranger's wrong password took, from
// its request's start until it was checked and recorded, has passed since its own request began,
// and answers as that one did (a check that found no worker answered busy). Only when too few
// wrong passwords are recent does it hash a dummy.
//
// A refusal answered busy so is still recorded (and, for an unknown user, counted for the client's
// spraying throttle), where the check it imitates was given back: the answer and its time are what
// an outsider sees, and the answer is the same.

// imitateCheck answers a refused password attempt when a real check would have.
func (s *guard) imitateCheck(ctx context.Context, r Rejection, password string) error {
	started := r.started
	if started.IsZero() {
		started = time.Now()
	}
	if padded, err := s.checkTimes.Pad(ctx, started); padded {
		s.metrics.Rejection(r.Reason, "padded")
		return err
	}
	err := s.hasher.VerifyDummy(ctx, password)
	// A dummy hash is a real check of the time checks take now: it keeps the times recent while
	// only refusals arrive.
	s.observeCheck(r.started, err)
	s.metrics.Rejection(r.Reason, "dummy_hash")
	return err
}

// observeCheck records a sign-in's real password check, timed from its request's start (zero for
// the attempts that are not sign-ins, which are not recorded) to now.
func (s *guard) observeCheck(started time.Time, err error) {
	if !started.IsZero() {
		s.checkTimes.Observe(time.Since(started), err)
	}
}

// noCheckTimes knows no check time: every refusal hashes a dummy.
type noCheckTimes struct{}

func (noCheckTimes) Observe(time.Duration, error) {}

func (noCheckTimes) Pad(context.Context, time.Time) (bool, error) { return false, nil }
