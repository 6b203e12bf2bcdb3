package secret

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// CheckTimes is the recent distribution of how long real password checks took, from the start of
// their request to the verdict, the wait for a hashing worker included. A refusal that needs no
// check (an unknown user, a locked account) waits as long as one check drawn from it (Pad) instead
// of hashing: it costs almost no CPU, and its time still cannot be told from a check's, at whatever
// load the checks meet. Any kind of check can feed it and be padded to it: a hash here, a bind
// against a directory elsewhere.
//
// Only checks of the last maxAge count, so that the distribution follows the load as it changes.
// With fewer than minRecent of them Pad tells one caller at a time to check for real (a dummy
// hash), which it then observes; meanwhile the others draw from the few there are. With none at
// all, every caller checks for real. A CheckTimes is safe for concurrent use.
type CheckTimes struct {
	maxAge    time.Duration
	minRecent int
	now       func() time.Time
	pick      func(n int) int // uniform in [0, n)

	// late is how late a pad's timer has woken lately, the median (nanoseconds): on a busy
	// machine a sleeping request waits for a core as well, and a real check does not wait twice.
	late atomic.Int64

	mu     sync.Mutex
	ring   []checkTime
	next   int // where the next observation goes
	filled int // observations held, up to len(ring)
	// refreshing: a caller was told to check for real, because too few checks were recent, and
	// has not observed since. Until it does, no one else is told so while any check is recent: a
	// burst of refusals hashing at once would fill the hasher and time itself on that.
	refreshing bool
}

type checkTime struct {
	at   time.Time     // when the verdict came
	took time.Duration // from the request's start to the verdict
	busy bool          // the verdict was ErrBusy: no worker was free in time
}

// lateStep is how far one waking moves the estimate of late wakings.
const lateStep = 200 * time.Microsecond

// Default sizes of the sign-in's CheckTimes: enough recent checks to draw from, few enough that a
// change of load shows within seconds.
const (
	DefaultCheckTimesSize   = 512
	DefaultCheckTimesMaxAge = 10 * time.Second
	DefaultCheckTimesMin    = 8
)

// NewCheckTimes keeps the last size checks and draws from those at most maxAge old, once at least
// minRecent are. size, maxAge and minRecent must be positive, and minRecent at most size.
func NewCheckTimes(size int, maxAge time.Duration, minRecent int) *CheckTimes {
	if size <= 0 || maxAge <= 0 || minRecent <= 0 || minRecent > size {
		panic("secret.NewCheckTimes: size, maxAge and minRecent must be positive, minRecent at most size")
	}
	return &CheckTimes{maxAge: maxAge, minRecent: minRecent, now: time.Now, pick: rand.IntN,
		ring: make([]checkTime, size)}
}

// Observe records one real check that took took from its request's start to its verdict. err is
// what the check returned: nil for a verdict (right or wrong), ErrBusy when it found no worker,
// which a padded refusal then answers too. Any other error (the client left, a broken stored
// hash) says nothing of the time a check takes and is not recorded.
func (c *CheckTimes) Observe(took time.Duration, err error) {
	busy := errors.Is(err, ErrBusy)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil && !busy {
		return
	}
	c.ring[c.next] = checkTime{at: c.now(), took: took, busy: busy}
	c.next = (c.next + 1) % len(c.ring)
	c.filled = min(c.filled+1, len(c.ring))
}

// Pad waits until a recent check's time, drawn uniformly, has passed since started, and returns
// that check's outcome: nil, or ErrBusy when it found no worker. When fewer than the minimum of
// recent checks are known it may return padded false at once: the caller must then check for real
// and observe it. ctx ending cuts the wait short with its error.
func (c *CheckTimes) Pad(ctx context.Context, started time.Time) (padded bool, err error) {
	took, busy, ok := c.draw()
	if !ok {
		return false, nil
	}
	if err := c.sleepUntil(ctx, started.Add(took)); err != nil {
		return true, err
	}
	if busy {
		return true, ErrBusy
	}
	return true, nil
}

// sleepUntil returns at about end, waking as much before it as timers have woken late lately, or
// when ctx ends.
func (c *CheckTimes) sleepUntil(ctx context.Context, end time.Time) error {
	aim := end.Add(-time.Duration(c.late.Load()))
	wait := time.Until(aim)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		// A running median, by steps: late wakings are skewed (mostly short, now and then long),
		// and making up for their mean would end most pads early.
		step := int64(lateStep)
		if time.Since(aim) <= time.Duration(c.late.Load()) {
			step = -step
		}
		for {
			old := c.late.Load()
			if c.late.CompareAndSwap(old, max(0, old+step)) {
				return nil
			}
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// draw picks one of the recent checks uniformly; ok is false when the caller is to check for real.
func (c *CheckTimes) draw() (took time.Duration, busy, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	since := c.now().Add(-c.maxAge)
	recent := 0
	for _, s := range c.ring[:c.filled] {
		if s.at.After(since) {
			recent++
		}
	}
	if recent == 0 || recent < c.minRecent && !c.refreshing {
		c.refreshing = true
		return 0, false, false
	}
	k := c.pick(recent)
	for _, s := range c.ring[:c.filled] {
		if !s.at.After(since) {
			continue
		}
		if k == 0 {
			return s.took, s.busy, true
		}
		k--
	}
	panic("unreachable: fewer recent checks on the second count")
}
