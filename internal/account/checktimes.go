package account

import (
	"context"
	"time"
)

// A refusal that needs no password check (an unknown user, a locked account, a password already
// known to be wrong) must look like a wrong password in its time too (SECURITY.md 8), but should
// not cost a check: a flood of them would spend the bounded hasher on nothing and keep real people
// out. So, once recorded, it waits as long as a recent stranger's wrong password took until it was
// checked and recorded, counted from the last stage of the way both took where the refusal left it
// (the request's start, or the account's lookup), and answers as that one did (a check that found
// no worker answered busy). Only when too few wrong passwords are recent does it hash a dummy.
//
// Counted from the lookup, a refusal does the work before it as a check does, at the same moment's
// load; counted from the request's start, a refusal whose lookup met a busy database would wait
// longer than a check drawn from a quieter moment took in all. The attempt's count is not a stage
// of its own: a locked account's attempt is counted and refused in less work than an allowed one,
// and its refusal would come early.
//
// A refusal answered busy so is still recorded (and, for an unknown user, counted for the client's
// spraying throttle), where the check it imitates was given back: the answer and its time are what
// an outsider sees, and the answer is the same.

// imitateCheck answers a refused password attempt when a real check would have.
func (s *guard) imitateCheck(ctx context.Context, r Rejection, password string) error {
	if padded, err := s.checkTimes.Pad(ctx, r.timeline.stages()); padded {
		s.metrics.Rejection(r.Reason, "padded")
		return err
	}
	err := s.hasher.VerifyDummy(ctx, password)
	// A dummy hash is a real check of the time checks take now: it keeps the times recent while
	// only refusals arrive.
	s.observeCheck(r.timeline, err)
	s.metrics.Rejection(r.Reason, "dummy_hash")
	return err
}

// observeCheck records a sign-in's real password check, which has come to its verdict after the
// stages in t (none for the attempts that are not sign-ins, which are not recorded).
func (s *guard) observeCheck(t timeline, err error) {
	s.checkTimes.Observe(t.stages(), err)
}

// The stages of a sign-in's way to its password check's verdict, in order.
const (
	stageStarted  = iota // the request began
	stageLookedUp        // the account was looked up, found or not
	stageCount
)

// timeline is when a sign-in passed the stages of its way so far. The zero timeline is no
// sign-in's: it has passed none, and marks nothing.
type timeline struct {
	at     [stageCount]time.Time
	passed int // at[:passed] are set
}

// startTimeline begins the timeline of a sign-in that starts now.
func startTimeline() timeline {
	return timeline{at: [stageCount]time.Time{stageStarted: time.Now()}, passed: 1}
}

// mark records that the sign-in passes stage s, the next in order, now. Any other stage, or a
// timeline never started, is left as it is.
func (t *timeline) mark(s int) {
	if t.passed == 0 || s != t.passed || s >= stageCount {
		return
	}
	t.at[s] = time.Now()
	t.passed++
}

// stages is when the sign-in passed each stage so far, in order.
func (t *timeline) stages() []time.Time { return t.at[:t.passed] }

// noCheckTimes knows no check time: every refusal hashes a dummy.
type noCheckTimes struct{}

func (noCheckTimes) Observe([]time.Time, error) {}

func (noCheckTimes) Pad(context.Context, []time.Time) (bool, error) { return false, nil }
