package secret

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// CheckTimes is the recent distribution of how long real password checks took, from each stage
// of their request to the verdict. A refusal that needs no check (an unknown user, a locked
// account) leaves the way a check takes at one of its stages, draws one recent check (Draw), and
// waits from its own stages as long as that check took from the same ones (SleepUntil) instead of
// hashing: it costs almost no CPU, and its time still cannot be told from a check's, at whatever
// load the checks meet. Which stages a request passes, and how a refusal waits from them, is the
// caller's: CheckTimes only keeps the times. Any kind of check can feed it: a hash here, a bind
// against a directory elsewhere.
//
// Only checks of the last maxAge count, so that the distribution follows the load as it changes.
// With fewer than minRecent of them Draw tells one caller at a time to check for real (a dummy
// hash), which it then observes; meanwhile the others draw from the few there are. With none at
// all, every caller checks for real. A CheckTimes is safe for concurrent use.
type CheckTimes struct {
	maxAge    time.Duration
	minRecent int
	now       func() time.Time
	pick      func(n int) int // uniform in [0, n)

	// late is how late a SleepUntil timer has woken lately, the median (nanoseconds): on a busy
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
	at   time.Time                // when the verdict came
	rest [MaxStages]time.Duration // from each stage of its request to the verdict
	load int                      // the caller's measure of the load when it started
}

// MaxStages is how many stages of a request's way CheckTimes tells apart: only the first MaxStages
// of the stages a request passed count.
const MaxStages = 4

// lateStep is how far one waking moves the estimate of late wakings, at the least.
const lateStep = 25 * time.Microsecond

// Default sizes of the sign-in's CheckTimes: enough recent checks to draw from, few enough that a
// change of load shows soon. After the load drops (a flood ends), refusals follow the slower
// checks from before for as long as those stay among the recent ones: until 8 new checks have
// replaced them, or 3 seconds. With 64 checks a refusal just after a flood was told from a wrong
// password at D 0.41 to 0.57, with 8 at 0.09 to 0.17 (make bench, "just after a flood"), and
// while the load holds the two sizes measure alike. Without checks, the minimum of 8 recent ones
// costs a dummy hash every 3/8 s.
const (
	DefaultCheckTimesSize   = 8
	DefaultCheckTimesMaxAge = 3 * time.Second
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

// Observe records one real check whose verdict came now, after its request passed the stages of
// its way at the times in stages: stages[0] is the request's start, and the caller numbers the
// others alike for every check and refusal. A check that left the way early (a refusal's dummy
// hash) counts as having passed its later stages when it left. err is what the check returned:
// nil for a verdict (right or wrong). An error (no worker was free, the client left, a broken
// stored hash) says nothing of the time a check takes and is not recorded, nor is a request that
// passed no stage: a refusal learns that the hasher is busy from its own turn (Hasher.Turn). load
// is the caller's measure of the load the check started under, which Draw gives back with it.
func (c *CheckTimes) Observe(stages []time.Time, load int, err error) {
	verdict := c.now()
	started := len(stages) > 0
	var rest [MaxStages]time.Duration
	for s := range rest {
		if started {
			rest[s] = verdict.Sub(stages[min(s, len(stages)-1)])
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshing = false
	if err != nil || !started {
		return
	}
	c.ring[c.next] = checkTime{at: verdict, rest: rest, load: load}
	c.next = (c.next + 1) % len(c.ring)
	c.filled = min(c.filled+1, len(c.ring))
}

// Draw picks one of the recent checks uniformly and gives how long it took from each of the
// MaxStages stages of its way to its verdict, and the load it was observed with. When fewer than
// the minimum of recent checks are known it may return ok false at once: the caller must then
// check for real and observe it.
func (c *CheckTimes) Draw() (rest []time.Duration, load int, ok bool) {
	check, ok := c.draw()
	return check.rest[:], check.load, ok
}

// SleepUntil returns at about end, waking as much before it as sleeps have woken late lately, or
// when ctx ends, with its error. A time already past returns at once.
func (c *CheckTimes) SleepUntil(ctx context.Context, end time.Time) error {
	aim := end.Add(-time.Duration(c.late.Load()))
	slept := false
	if wait := time.Until(aim) - fineSleep; wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			slept = true
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if wait := time.Until(aim); wait > 0 {
		sleepPrecisely(wait)
		slept = true
	}
	if !slept {
		return nil // already past the aim: no waking to learn from
	}
	// A running median, by steps: late wakings are skewed (mostly short, now and then long),
	// and making up for their mean would end most waits early. The steps grow with the estimate,
	// so that it follows both a quiet machine's tens of microseconds closely and a busy one's
	// milliseconds within tens of waits.
	late := c.late.Load()
	step := int64(lateStep) + late/16
	if time.Since(aim) <= time.Duration(late) {
		step = -step
	}
	for {
		old := c.late.Load()
		if c.late.CompareAndSwap(old, max(0, old+step)) {
			return nil
		}
	}
}

// fineSleep is how much of a wait ends in a precise sleep (sleepPrecisely): more than the runtime's
// timers can be late. An idle Go process waits for its timers in epoll, to the millisecond, so they
// wake up to a millisecond late, spread evenly: a spread that refusals would show and checks not.
const fineSleep = 1500 * time.Microsecond

// draw picks one of the recent checks uniformly; ok is false when the caller is to check for real.
func (c *CheckTimes) draw() (check checkTime, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	since := c.now().Add(-c.maxAge)
	recent := 0
	for _, check := range c.ring[:c.filled] {
		if check.at.After(since) {
			recent++
		}
	}
	if recent == 0 || recent < c.minRecent && !c.refreshing {
		c.refreshing = true
		return check, false
	}
	k := c.pick(recent)
	for _, check := range c.ring[:c.filled] {
		if !check.at.After(since) {
			continue
		}
		if k == 0 {
			return check, true
		}
		k--
	}
	panic("unreachable: fewer recent checks on the second count")
}
