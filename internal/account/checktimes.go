package account

import (
	"context"
	"time"
)

// A refusal that needs no password check (an unknown user, a locked account, a password already
// known to be wrong) must look like a check in its time too (SECURITY.md 8), but should not cost
// one: a flood of them would spend the bounded hasher on nothing and keep real people out. So it
// waits until a recent real check's time, from the request's start to its verdict, has passed
// since its own request began, and answers that check's outcome. Only when too few real checks
// are recent does it hash a dummy.

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
// the attempts that are not sign-ins, which are not recorded) to its verdict.
func (s *guard) observeCheck(started time.Time, err error) {
	if !started.IsZero() {
		s.checkTimes.Observe(time.Since(started), err)
	}
}

// noCheckTimes knows no check time: every refusal hashes a dummy.
type noCheckTimes struct{}

func (noCheckTimes) Observe(time.Duration, error) {}

func (noCheckTimes) Pad(context.Context, time.Time) (bool, error) { return false, nil }
