package account

import (
	"context"
	"time"
)

// A refusal that needs no password check (an unknown user, a locked account, a password already
// known to be wrong) must look like a wrong password in its time too (SECURITY.md 8), but should
// not cost a check: a flood of them would spend the bounded hasher on nothing and keep real people
// out. So, once recorded, it draws a recent stranger's wrong password, and follows that check's
// way from the last stage both passed (the request's start, or the account's lookup) without its
// work:
//  1. it asks the hasher for a worker as long after that stage as the check did;
//  2. it takes its turn in the hasher's queue as a check would, behind the same checks, and
//     answered busy where a check would be, but gives the worker on at once;
//  3. it answers as long after its turn as the check took from its own turn to its verdict
//     (checked and recorded), counted as if it had asked when the check did: the check's time,
//     with the check's wait for a worker replaced by its own.
//
// It hashes a dummy instead, for real, only when too few wrong passwords are recent, or when the
// check drawn met a load that has passed (below).
//
// Counted from the lookup, a refusal does the work before it as a check does, at the same moment's
// load; counted from the request's start, a refusal whose lookup met a busy database would wait
// longer than a check drawn from a quieter moment took in all. The attempt's count is not a stage
// of its own: a locked account's attempt is counted and refused in less work than an allowed one,
// and its refusal would come early.
//
// The turn matters when hashing is saturated. The checks drawn waited behind the queue of their
// own moment, which a client probing one request at a time adds to with its checks and not with
// its refusals. Padded to a drawn check's whole time, an unknown user's refusal came early by a
// third of a hash at the median in a steady flood (measured, with the suite's hash). Asking when
// its check would have, and waiting its own turn, it waits behind what its check would have. Its
// own wait is counted from when the check asked, not from when it asked itself: a refusal whose
// own work before was longer (a locked account's is recorded first) asks later, and in a steady
// flood a later request is served as much later, which would make it late.
//
// A check drawn that started with many more sign-ins under way than the refusal did (busier) says
// little of what a check takes now: just after a flood stops, its database work and its hash met
// the flood's contention, and a refusal that followed it came late. Wrong passwords mixed with the
// refusals soon replace such checks among the recent ones, but refusals alone do not: measured
// with nothing but refusals just after a flood, they were told from wrong passwords at D 0.59 to
// 0.73, unknown users 25 ms late at the median. So when no check has found every worker taken for
// as long as the check drawn took, the load it met has passed, and the refusal checks a dummy for
// real and observes it, taking only a worker no check was waiting for. Otherwise it follows the
// check drawn: while the load merely wavers (a hasher still saturated now and then), a dummy,
// without the database work of a check, would come early. Its observation replaces one of the few
// recent checks (secret.DefaultCheckTimesSize), so a burst of busier checks costs at most that
// many dummies once it has passed.
//
// A refusal answered busy so is still recorded (and, for an unknown user, counted for the client's
// spraying throttle), where the check it imitates was given back: the answer and its time are what
// an outsider sees, and the answer is the same.

// imitateCheck answers a refused password attempt when a real check would have.
func (s *guard) imitateCheck(ctx context.Context, r Rejection, password string) error {
	rest, load, ok := s.checkTimes.Draw()
	if !ok || busier(load, r.timeline.load) && s.hasher.IdleFor() > restAt(rest, stageStarted) {
		return s.dummyCheck(ctx, r, password)
	}
	left, from := r.timeline.last()
	asked := from.Add(restAt(rest, left) - restAt(rest, stageAsked))
	if err := s.checkTimes.SleepUntil(ctx, asked); err != nil {
		return err
	}
	asking := time.Now()
	if err := s.hasher.Turn(ctx); err != nil {
		s.metrics.Rejection(r.Reason, "busy")
		return err
	}
	s.metrics.Rejection(r.Reason, "padded")
	return s.checkTimes.SleepUntil(ctx, asked.Add(time.Since(asking)+restAt(rest, stageBegan)))
}

// dummyCheck answers a refused password attempt with a real check of a dummy hash, which it
// observes as a check: it keeps the times recent while only refusals arrive.
func (s *guard) dummyCheck(ctx context.Context, r Rejection, password string) error {
	err := s.hasher.VerifyDummy(s.stageNotices(ctx, &r.timeline), password)
	s.observeCheck(r.timeline, err)
	s.metrics.Rejection(r.Reason, "dummy_hash")
	return err
}

// stageNotices marks on t when a check asks the hasher for a worker, and when its hash begins.
func (s *guard) stageNotices(ctx context.Context, t *timeline) context.Context {
	return s.hasher.WithStageNotices(ctx, func() { t.mark(stageAsked) }, func() { t.mark(stageBegan) })
}

// observeCheck records a sign-in's real password check, which has come to its verdict after the
// stages in t (none for the attempts that are not sign-ins, which are not recorded).
func (s *guard) observeCheck(t timeline, err error) {
	s.checkTimes.Observe(t.stages(), t.load, err)
}

// busier is whether a check that started with then sign-ins under way met a load that has passed,
// for a sign-in that started with now: at least twice as many, and at least two more. A refusal
// that is no sign-in (now 0) takes any check.
func busier(then, now int) bool {
	return now > 0 && then >= 2*now && then >= now+2
}

// restAt is a drawn check's time from stage s to its verdict: a stage beyond those the check times
// were kept for counts as passed with their last.
func restAt(rest []time.Duration, s int) time.Duration {
	return rest[min(s, len(rest)-1)]
}

// The stages of a sign-in's way to its password check's verdict, in order.
const (
	stageStarted  = iota // the request began
	stageLookedUp        // the account was looked up, found or not
	stageAsked           // its check asked the hasher for a worker
	stageBegan           // its check's hash began
	stageCount
)

// timeline is when a sign-in passed the stages of its way so far. The zero timeline is no
// sign-in's: it has passed none, and marks nothing.
type timeline struct {
	at     [stageCount]time.Time
	passed int // at[:passed] are set
	load   int // sign-ins under way when it started, its own included
}

// startTimeline begins the timeline of a sign-in that starts now with load sign-ins under way.
func startTimeline(load int) timeline {
	return timeline{at: [stageCount]time.Time{stageStarted: time.Now()}, passed: 1, load: load}
}

// mark records that the sign-in passes stage s now. A stage it skipped on the way (an unusable
// login is never looked up) counts as passed now too. A stage already passed, one out of range,
// or a timeline never started, is left as it is.
func (t *timeline) mark(s int) {
	if t.passed == 0 || s < t.passed || s >= stageCount {
		return
	}
	now := time.Now()
	for ; t.passed <= s; t.passed++ {
		t.at[t.passed] = now
	}
}

// stages is when the sign-in passed each stage so far, in order.
func (t *timeline) stages() []time.Time { return t.at[:t.passed] }

// last is the last stage the sign-in passed, and when. A timeline never started is taken to start
// now.
func (t *timeline) last() (stage int, at time.Time) {
	if t.passed == 0 {
		return stageStarted, time.Now()
	}
	return t.passed - 1, t.at[t.passed-1]
}

// noCheckTimes knows no check time: every refusal hashes a dummy.
type noCheckTimes struct{}

func (noCheckTimes) Observe([]time.Time, int, error) {}

func (noCheckTimes) Draw() ([]time.Duration, int, bool) { return nil, 0, false }

func (noCheckTimes) SleepUntil(context.Context, time.Time) error { return nil }
