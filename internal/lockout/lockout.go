// Package lockout holds unlockd's account-lockout rules as pure functions:
// when a run of failed sign-ins locks an account, how long a temporary lock
// lasts, when repeated temporary locks escalate to the hard "locked" state,
// how much a known device may fail on its own, and the policy's validation
// and key/value form.
//
// What belongs here is arithmetic on numbers and times the caller already
// has. What does not: reading the clock (now is always passed in), storage
// and the atomic counter increments, sessions, HTTP, notifications and the
// verification or administrator flows that lift a hard lock. Keeping the
// rules free of those makes every boundary testable with plain tables and
// lets the database layer, the CLI and the policy table share one
// definition of the behaviour.
//
// Functions taking a Policy assume it passed Validate; they avoid panics and
// overflow on bad input but do not promise meaningful results for it.
package lockout

import (
	"strconv"
	"time"
)

// Outcome is what a failed sign-in does to the account.
type Outcome int

const (
	NoLock          Outcome = iota // stays usable
	LockTemporarily                // state locked_temporarily until Decision.Until
	LockHard                       // state locked: needs verification or an administrator
)

func (o Outcome) String() string {
	switch o {
	case NoLock:
		return "no_lock"
	case LockTemporarily:
		return "lock_temporarily"
	case LockHard:
		return "lock_hard"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Decision is the result of AfterFailure. Until and Duration are only set for
// LockTemporarily; a hard lock has no end the rules could compute.
type Decision struct {
	Outcome  Outcome
	Until    time.Time
	Duration time.Duration
}

// AfterFailure decides what the failure that brought the consecutive-failure
// count to failures does. The caller has already incremented the counter
// atomically, so failures includes this attempt; recentTemporary is the
// number of temporary locks that started within p.Memory before now, not
// counting one that may be decided here.
//
// Attempts that raced in alongside the locking one see failures above the
// threshold; they get the same decision, which the caller applies
// idempotently, rather than slipping through as NoLock.
func AfterFailure(p Policy, failures, recentTemporary int, now time.Time) Decision {
	if failures < p.Threshold {
		return Decision{Outcome: NoLock}
	}
	if recentTemporary >= p.MaxTemporary {
		return Decision{Outcome: LockHard}
	}
	d := TemporaryDuration(p, recentTemporary)
	return Decision{Outcome: LockTemporarily, Until: now.Add(d), Duration: d}
}

// TemporaryDuration returns the length of the n-th (0-based) temporary lock
// within memory: Duration * Backoff^n, capped at MaxDuration.
func TemporaryDuration(p Policy, n int) time.Duration {
	d := p.Duration
	limit := p.MaxDuration
	// A cap below the base length would shorten every lock, possibly to
	// nothing; the base length wins so a broken cap can never unlock early.
	if limit < d {
		limit = d
	}
	// Backoff 1 never grows, and looping up to a huge n would just burn time.
	if p.Backoff <= 1 || n <= 0 {
		return d
	}
	b := time.Duration(p.Backoff)
	// Stops as soon as the cap is reached, so at most ~63 iterations for any n.
	for i := 0; i < n && d < limit; i++ {
		// Compare by division so the multiplication below cannot overflow.
		if d > limit/b {
			return limit
		}
		d *= b
	}
	return min(d, limit)
}

// CountRecent counts the lock start times within p.Memory before now:
// start > now-Memory and start <= now. A start exactly Memory ago has just
// been forgotten; starts after now (clock skew between servers) are not yet
// counted rather than counted twice later.
func CountRecent(p Policy, starts []time.Time, now time.Time) int {
	cutoff := now.Add(-p.Memory)
	n := 0
	for _, s := range starts {
		if s.After(cutoff) && !s.After(now) {
			n++
		}
	}
	return n
}

// DeviceThreshold is a known device's own allowance of consecutive failures:
// Threshold/2, at least 3, never above Threshold.
//
// A device cookie proves the browser signed in successfully before, so its
// failures are counted apart from the account's shared "untrusted" counter
// and an attacker guessing from unknown devices cannot lock the owner out.
// The allowance is smaller because a stolen cookie should buy fewer guesses,
// but at least 3 so a real user's typos do not lock their own device.
func DeviceThreshold(p Policy) int {
	t := max(p.Threshold/2, 3)
	return min(t, p.Threshold)
}

// DeviceLocked reports whether a known device whose own counter holds
// failures consecutive failures (including the current one) is locked out.
// Only that device is locked out, not the account: in the OWASP device-cookie
// pattern the caller then treats the device as unknown, so its further
// attempts count on the shared counter.
func DeviceLocked(p Policy, failures int) bool {
	return failures >= DeviceThreshold(p)
}

// LockedByRule reports whether an attempt that finds count attempts already counted against limit
// (an account's threshold, or a known device's allowance) finds a lock the rules must apply now.
// Every attempt counted is answered as a failure unless it proves the secret, so a count at the
// limit is a lock whatever became of the attempts behind it: still being checked beside this one,
// or never recorded because their process died. Applying it here, idempotently, means an account
// is locked by rule, never left active at its threshold by luck.
func LockedByRule(count, limit int) bool { return count >= limit }
