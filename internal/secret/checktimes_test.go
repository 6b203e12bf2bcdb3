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

// What Pad can draw: only recent checks, only verdicts and busy answers, only once enough are known.
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
		want      map[string]bool // "took/busy" drawn; nil: nothing to draw
	}{
		{"nothing observed", 4, 1, nil, nil},
		{"fewer recent than the minimum", 8, 3, []obs{{0, ms(30), nil}, {0, ms(31), nil}}, nil},
		{"expired checks do not count", 8, 2, []obs{{ms(20_000), ms(500), nil}, {ms(11_000), ms(400), nil}, {ms(1000), ms(30), nil}}, nil},
		{"recent verdicts", 8, 2, []obs{{ms(20_000), ms(500), nil}, {ms(2000), ms(30), nil}, {ms(1000), ms(40), nil}},
			map[string]bool{"30ms/false": true, "40ms/false": true}},
		{"busy answers are replayed", 8, 1, []obs{{0, ms(5000), ErrBusy}, {0, ms(35), nil}},
			map[string]bool{"5s/true": true, "35ms/false": true}},
		{"other errors are not times", 8, 1, []obs{{0, ms(2), context.Canceled}, {0, ms(3), ErrMalformedHash}, {0, ms(36), nil}},
			map[string]bool{"36ms/false": true}},
		{"the oldest make room", 2, 1, []obs{{0, ms(10), nil}, {0, ms(20), nil}, {0, ms(30), nil}},
			map[string]bool{"20ms/false": true, "30ms/false": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, now := fakeTimes(tt.size, 10*time.Second, tt.min)
			drawAt := *now
			// Observe in time order: the oldest first.
			for _, o := range tt.observed {
				*now = drawAt.Add(-o.age)
				c.Observe(passed(now.Add(-o.took)), o.err)
			}
			*now = drawAt
			got := map[string]bool{}
			for range 200 {
				took, busy, ok := c.draw(0)
				if !ok {
					break
				}
				got[fmt.Sprintf("%v/%v", took, busy)] = true
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
		if _, _, ok := c.draw(0); ok {
			t.Fatalf("draw %d with nothing known: ok", i)
		}
	}
	observe := func(took time.Duration, err error) { c.Observe(passed(now.Add(-took)), err) }
	observe(ms(30), nil) // the first real check
	if _, _, ok := c.draw(0); ok {
		t.Fatal("first draw after one check: ok, want a real check (1 of 3 recent)")
	}
	for range 5 {
		if took, _, ok := c.draw(0); !ok || took != ms(30) {
			t.Fatalf("draw while a real check runs = %v, %v; want the one known", took, ok)
		}
	}
	observe(ms(40), context.Canceled) // it ended without a time: the next caller checks again
	if _, _, ok := c.draw(0); ok {
		t.Fatal("draw after an unrecorded check: ok, want another real check")
	}
	observe(ms(40), nil)
	observe(ms(50), nil)
	if _, _, ok := c.draw(0); !ok {
		t.Fatal("draw with 3 of 3 recent: not ok")
	}
	*now = now.Add(time.Minute) // all expired
	for i := range 2 {
		if _, _, ok := c.draw(0); ok {
			t.Fatalf("draw %d with every check expired: ok", i)
		}
	}
}

// Pad wakes early by as much as its timers have woken late lately.
func TestCheckTimesPadAllowsForLateWaking(t *testing.T) {
	c := NewCheckTimes(8, time.Minute, 1)
	c.Observe(startedAgo(ms(1000)), nil)
	c.late.Store(int64(ms(500)))
	started := time.Now()
	if _, err := c.Pad(context.Background(), passed(started)); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(started); took < ms(500) || took > ms(900) {
		t.Errorf("padded for %v, want about 500ms: 1s less 500ms of late waking", took)
	}
	if late, want := time.Duration(c.late.Load()), ms(500)-lateStep-ms(500)/16; late != want {
		t.Errorf("late waking estimated at %v after a timely one, want %v", late, want)
	}
}

// Draws are uniform over the recent checks: each of 4 comes up about a quarter of the time.
func TestCheckTimesDrawsUniformly(t *testing.T) {
	c, now := fakeTimes(16, time.Minute, 1)
	for i := 1; i <= 4; i++ {
		c.Observe(passed(now.Add(-ms(10*i))), nil)
	}
	counts := map[time.Duration]int{}
	const n = 40_000
	for range n {
		took, _, _ := c.draw(0)
		counts[took]++
	}
	for i := 1; i <= 4; i++ {
		if got := counts[ms(10*i)]; got < n/4-n/40 || got > n/4+n/40 {
			t.Errorf("%v drawn %d times of %d, want about %d", ms(10*i), got, n, n/4)
		}
	}
}

// Pad waits until the drawn time has passed since the request started, counting the time already
// spent; answers busy when the drawn check was busy; stops when ctx ends; and pads nothing when it
// knows no time.
func TestCheckTimesPad(t *testing.T) {
	ctx := context.Background()
	c := NewCheckTimes(8, time.Minute, 1)
	if padded, err := c.Pad(ctx, startedAgo(0)); padded || err != nil {
		t.Fatalf("Pad with nothing known = %v, %v; want false, nil", padded, err)
	}

	c.Observe(startedAgo(ms(120)), nil)
	started := time.Now().Add(-ms(40)) // the request's own work took 40ms already
	padded, err := c.Pad(ctx, passed(started))
	if !padded || err != nil {
		t.Fatalf("Pad = %v, %v", padded, err)
	}
	if took := time.Since(started); took < ms(120) || took > ms(120)+time.Second {
		t.Errorf("padded to %v since the start, want 120ms", took)
	}

	// Already past the drawn time: no wait at all.
	start := time.Now()
	if _, err := c.Pad(ctx, passed(start.Add(-time.Second))); err != nil || time.Since(start) > ms(50) {
		t.Errorf("Pad past the drawn time waited %v (%v)", time.Since(start), err)
	}

	busy := NewCheckTimes(8, time.Minute, 1)
	busy.Observe(startedAgo(ms(10)), ErrBusy)
	if padded, err := busy.Pad(ctx, startedAgo(0)); !padded || !errors.Is(err, ErrBusy) {
		t.Errorf("Pad of a busy check = %v, %v; want true, ErrBusy", padded, err)
	}

	slow := NewCheckTimes(8, time.Minute, 1)
	slow.Observe(startedAgo(time.Hour), nil)
	cctx, cancel := context.WithTimeout(ctx, ms(30))
	defer cancel()
	if padded, err := slow.Pad(cctx, nil); !padded || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Pad with an ending ctx = %v, %v; want true, DeadlineExceeded", padded, err)
	}
}

// A check is timed from each stage it passed to its verdict; one that left the way early (a
// refusal's dummy hash) counts as having passed its later stages when it left.
func TestCheckTimesTimesEachStage(t *testing.T) {
	c, now := fakeTimes(8, time.Minute, 1)
	c.Observe(passed(now.Add(-ms(120)), now.Add(-ms(110)), now.Add(-ms(100))), nil)
	for stage, want := range []time.Duration{ms(120), ms(110), ms(100), ms(100)} {
		if took, _, _ := c.draw(stage); took != want {
			t.Errorf("check with 3 stages: from stage %d drew %v, want %v", stage, took, want)
		}
	}
	left, _ := fakeTimes(8, time.Minute, 1)
	left.now = c.now
	left.Observe(passed(now.Add(-ms(50)), now.Add(-ms(40))), nil)
	for stage, want := range []time.Duration{ms(50), ms(40), ms(40), ms(40)} {
		if took, _, _ := left.draw(stage); took != want {
			t.Errorf("check that left at stage 1: from stage %d drew %v, want %v", stage, took, want)
		}
	}
	none, _ := fakeTimes(8, time.Minute, 1)
	none.Observe(nil, nil)
	if _, _, ok := none.draw(0); ok {
		t.Error("a request that passed no stage was recorded")
	}
}

// A refusal waits from the last stage it passed, as long as the drawn check took from there: its
// own slow work before that stage is not padded again.
func TestCheckTimesPadsFromTheLastStage(t *testing.T) {
	c := NewCheckTimes(8, time.Minute, 1)
	now := time.Now()
	c.Observe(passed(now.Add(-ms(300)), now.Add(-ms(100))), nil) // 300ms from the start, 100ms from stage 1
	// Its start was 250ms ago: padded from the start, it would wait 50ms; from stage 1, 100ms.
	refusal := passed(time.Now().Add(-ms(250)), time.Now())
	start := time.Now()
	if _, err := c.Pad(context.Background(), refusal); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < ms(95) || took > ms(95)+time.Second {
		t.Errorf("padded %v from stage 1, want 100ms", took)
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
