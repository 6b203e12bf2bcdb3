package secret

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// fakeTimes is a CheckTimes on a clock the test moves, drawing with a seeded source.
func fakeTimes(size int, maxAge time.Duration, minRecent int) (*CheckTimes, *time.Time) {
	c := NewCheckTimes(size, maxAge, minRecent)
	now := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return now }
	c.pick = rand.New(rand.NewPCG(1, 2)).IntN
	return c, &now
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// passed is the stages of a request that passed them at these times.
func passed(at ...time.Time) []time.Time { return at }

// startedAgo is the stages of a request that started d ago by the wall clock and passed no other.
func startedAgo(d time.Duration) []time.Time { return passed(time.Now().Add(-d)) }

// What Draw can draw: only recent checks, only verdicts, only once enough are known.
func TestCheckTimesDrawsRecentChecksOnly(t *testing.T) {
	type obs struct {
		age  time.Duration // how long before the draw it was observed
		took time.Duration
		err  error
	}
	tests := []struct {
		name      string
		size, min int
		observed  []obs
		want      map[string]bool // times drawn; nil: nothing to draw
	}{
		{"nothing observed", 4, 1, nil, nil},
		{"fewer recent than the minimum", 8, 3, []obs{{0, ms(30), nil}, {0, ms(31), nil}}, nil},
		{"expired checks do not count", 8, 2, []obs{{ms(20_000), ms(500), nil}, {ms(11_000), ms(400), nil}, {ms(1000), ms(30), nil}}, nil},
		{"recent verdicts", 8, 2, []obs{{ms(20_000), ms(500), nil}, {ms(2000), ms(30), nil}, {ms(1000), ms(40), nil}},
			map[string]bool{"30ms": true, "40ms": true}},
		{"errors are not times", 8, 1, []obs{{0, ms(5000), ErrBusy}, {0, ms(2), context.Canceled}, {0, ms(3), ErrMalformedHash}, {0, ms(36), nil}},
			map[string]bool{"36ms": true}},
		{"the oldest make room", 2, 1, []obs{{0, ms(10), nil}, {0, ms(20), nil}, {0, ms(30), nil}},
			map[string]bool{"20ms": true, "30ms": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, now := fakeTimes(tt.size, 10*time.Second, tt.min)
			drawAt := *now
			// Observe in time order: the oldest first.
			for _, o := range tt.observed {
				*now = drawAt.Add(-o.age)
				c.Observe(passed(now.Add(-o.took)), 1, o.err)
			}
			*now = drawAt
			got := map[string]bool{}
			for range 200 {
				rest, _, ok := c.Draw()
				if !ok {
					break
				}
				got[rest[0].String()] = true
			}
			if tt.want == nil {
				if len(got) > 0 {
					t.Fatalf("drew %v, want nothing", got)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("drew %v, want %v", got, tt.want)
			}
		})
	}
}

// With too few recent checks, one caller at a time is told to check for real, and the others draw
// from the few there are until it observes; with none at all, everyone checks for real.
func TestCheckTimesOneRefreshAtATime(t *testing.T) {
	c, now := fakeTimes(8, 10*time.Second, 3)
	for i := range 2 {
		if _, _, ok := c.Draw(); ok {
			t.Fatalf("draw %d with nothing known: ok", i)
		}
	}
	observe := func(took time.Duration, err error) { c.Observe(passed(now.Add(-took)), 1, err) }
	observe(ms(30), nil) // the first real check
	if _, _, ok := c.Draw(); ok {
		t.Fatal("first draw after one check: ok, want a real check (1 of 3 recent)")
	}
	for range 5 {
		if rest, _, ok := c.Draw(); !ok || rest[0] != ms(30) {
			t.Fatalf("draw while a real check runs = %v, %v; want the one known", rest, ok)
		}
	}
	observe(ms(40), context.Canceled) // it ended without a time: the next caller checks again
	if _, _, ok := c.Draw(); ok {
		t.Fatal("draw after an unrecorded check: ok, want another real check")
	}
	observe(ms(40), nil)
	observe(ms(50), nil)
	if _, _, ok := c.Draw(); !ok {
		t.Fatal("draw with 3 of 3 recent: not ok")
	}
	*now = now.Add(time.Minute) // all expired
	for i := range 2 {
		if _, _, ok := c.Draw(); ok {
			t.Fatalf("draw %d with every check expired: ok", i)
		}
	}
}

// SleepUntil wakes early by as much as its timers have woken late lately.
func TestCheckTimesSleepAllowsForLateWaking(t *testing.T) {
	c := NewCheckTimes(8, time.Minute, 1)
	c.late.Store(int64(ms(500)))
	started := time.Now()
	if err := c.SleepUntil(context.Background(), started.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(started); took < ms(500) || took > ms(900) {
		t.Errorf("slept for %v, want about 500ms: 1s less 500ms of late waking", took)
	}
	if late, want := time.Duration(c.late.Load()), ms(500)-lateStep-ms(500)/16; late != want {
		t.Errorf("late waking estimated at %v after a timely one, want %v", late, want)
	}
}

// Draws are uniform over the recent checks: each of 4 comes up about a quarter of the time.
func TestCheckTimesDrawsUniformly(t *testing.T) {
	c, now := fakeTimes(16, time.Minute, 1)
	for i := 1; i <= 4; i++ {
		c.Observe(passed(now.Add(-ms(10*i))), 1, nil)
	}
	counts := map[time.Duration]int{}
	const n = 40_000
	for range n {
		rest, _, _ := c.Draw()
		counts[rest[0]]++
	}
	for i := 1; i <= 4; i++ {
		if got := counts[ms(10*i)]; got < n/4-n/40 || got > n/4+n/40 {
			t.Errorf("%v drawn %d times of %d, want about %d", ms(10*i), got, n, n/4)
		}
	}
}

// SleepUntil returns at the time it is given, at once when that has passed, and when ctx ends.
func TestCheckTimesSleepUntil(t *testing.T) {
	ctx := context.Background()
	c := NewCheckTimes(8, time.Minute, 1)
	start := time.Now()
	if err := c.SleepUntil(ctx, start.Add(ms(120))); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < ms(115) || took > ms(120)+time.Second {
		t.Errorf("slept %v, want 120ms", took)
	}

	start = time.Now()
	if err := c.SleepUntil(ctx, start.Add(-time.Second)); err != nil || time.Since(start) > ms(50) {
		t.Errorf("SleepUntil a time past waited %v (%v)", time.Since(start), err)
	}

	cctx, cancel := context.WithTimeout(ctx, ms(30))
	defer cancel()
	if err := c.SleepUntil(cctx, time.Now().Add(time.Hour)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SleepUntil with an ending ctx = %v, want DeadlineExceeded", err)
	}
}

// A check is timed from each stage it passed to its verdict, and drawn with its load; one that
// left the way early (a refusal's dummy hash) counts as having passed its later stages when it
// left.
func TestCheckTimesTimesEachStage(t *testing.T) {
	c, now := fakeTimes(8, time.Minute, 1)
	c.Observe(passed(now.Add(-ms(120)), now.Add(-ms(110)), now.Add(-ms(100))), 5, nil)
	if rest, load, _ := c.Draw(); fmt.Sprint(rest) != fmt.Sprint([]time.Duration{ms(120), ms(110), ms(100), ms(100)}) || load != 5 {
		t.Errorf("check with 3 stages under a load of 5: drew %v from each stage under %d, want 120ms, 110ms, 100ms and 100ms under 5", rest, load)
	}
	left, _ := fakeTimes(8, time.Minute, 1)
	left.now = c.now
	left.Observe(passed(now.Add(-ms(50)), now.Add(-ms(40))), 1, nil)
	if rest, _, _ := left.Draw(); fmt.Sprint(rest) != fmt.Sprint([]time.Duration{ms(50), ms(40), ms(40), ms(40)}) {
		t.Errorf("check that left at stage 1: drew %v from each stage, want 50ms, then 40ms", rest)
	}
	none, _ := fakeTimes(8, time.Minute, 1)
	none.Observe(nil, 1, nil)
	if _, _, ok := none.Draw(); ok {
		t.Error("a request that passed no stage was recorded")
	}
}

func TestNewCheckTimesRefusesSillySizes(t *testing.T) {
	for _, tt := range []struct {
		size   int
		maxAge time.Duration
		min    int
	}{{0, time.Second, 1}, {4, 0, 1}, {4, time.Second, 0}, {4, time.Second, 5}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewCheckTimes(%d, %v, %d) did not panic", tt.size, tt.maxAge, tt.min)
				}
			}()
			NewCheckTimes(tt.size, tt.maxAge, tt.min)
		}()
	}
}
