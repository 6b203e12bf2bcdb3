package secret

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hold occupies a worker slot of h, as an in-flight hash would, until the
// returned function is called.
func hold(t *testing.T, h *Hasher) (release func()) {
	t.Helper()
	if err := h.acquire(context.Background()); err != nil {
		t.Fatalf("acquire: %v", err)
	}
	var once sync.Once
	release = func() { once.Do(h.release) }
	t.Cleanup(release)
	return release
}

// waiters counts the callers queued for a slot, in both lanes.
func waiters(h *Hasher) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.waiting[priorityLane]) + len(h.waiting[ordinaryLane])
}

// running counts the slots in use.
func running(h *Hasher) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.running
}

// waitForWaiters waits until n callers are queued for a slot.
func waitForWaiters(t *testing.T, h *Hasher, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for waiters(h) != n {
		if time.Now().After(deadline) {
			t.Fatalf("waiters = %d, want %d", waiters(h), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHasherRoundTrip(t *testing.T) {
	h := NewHasher(testParams, 2, 4, time.Second)
	if h.Params() != testParams {
		t.Fatalf("Params() = %+v", h.Params())
	}
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	bc := bcryptHash(t, "correct horse")
	tests := []struct {
		name, password, encoded string
		ok, rehash              bool
		err                     error
	}{
		{"match", "correct horse", enc, true, false, nil},
		{"mismatch", "wrong", enc, false, false, nil},
		{"bcrypt needs rehash", "correct horse", bc, true, true, nil},
		{"other params need rehash", "correct horse", refOtherParams, true, true, nil},
		{"malformed", "correct horse", "garbage", false, false, ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, tt.password, tt.encoded)
			if ok != tt.ok || rehash != tt.rehash || !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, %v", ok, rehash, err, tt.ok, tt.rehash, tt.err)
			}
		})
	}
	if running(h) != 0 || waiters(h) != 0 {
		t.Errorf("slots or waiters leaked: %d, %d", running(h), waiters(h))
	}
}

func TestHasherDummy(t *testing.T) {
	for _, p := range []Params{testParams, DefaultParams, {Memory: 256, Time: 3, Threads: 4, SaltLen: 24, KeyLen: 64}} {
		h := NewHasher(p, 1, 0, 0)
		// The dummy has exactly the Hasher's parameters, so verifying
		// against it costs the same as verifying a current user's hash.
		d, err := parseHash(h.dummy)
		if err != nil {
			t.Fatalf("dummy hash does not parse: %v", err)
		}
		if d.bcrypt || d.params != p {
			t.Errorf("dummy params = %+v, want %+v", d.params, p)
		}
		if p == DefaultParams {
			continue // slow; the parameters check is what matters
		}
		for _, pw := range []string{"", "password", "correct horse"} {
			if err := h.VerifyDummy(context.Background(), pw); err != nil {
				t.Errorf("VerifyDummy(%q) = %v", pw, err)
			}
		}
	}
	// Each Hasher has its own dummy.
	if NewHasher(testParams, 1, 0, 0).dummy == NewHasher(testParams, 1, 0, 0).dummy {
		t.Error("two Hashers share a dummy hash")
	}
}

func TestHasherBusy(t *testing.T) {
	h := NewHasher(testParams, 1, 0, 10*time.Second)
	release := hold(t, h) // a hash in flight
	var observed []time.Duration
	var mu sync.Mutex
	h.SetWaitObserver(func(d time.Duration, _ bool) { mu.Lock(); observed = append(observed, d); mu.Unlock() })

	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Hash", func() error { _, err := h.Hash(ctx, "pw"); return err }},
		{"Verify", func() error { _, _, err := h.Verify(ctx, "pw", validArgon); return err }},
		{"VerifyDummy", func() error { return h.VerifyDummy(ctx, "pw") }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := c.call()
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("err = %v, want ErrBusy", err)
			}
			// queue=0: no waiting at all, despite maxWait of 10s.
			if d := time.Since(start); d > time.Second {
				t.Errorf("ErrBusy took %v", d)
			}
		})
	}
	if waiters(h) != 0 {
		t.Errorf("waiters leaked: %d", waiters(h))
	}

	release()
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatalf("Hash after release: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(observed) != 4 {
		t.Errorf("observer called %d times, want 4", len(observed))
	}
}

func TestHasherQueue(t *testing.T) {
	h := NewHasher(testParams, 1, 1, 10*time.Second)
	var waited atomic.Int64
	h.SetWaitObserver(func(d time.Duration, _ bool) {
		if int64(d) > waited.Load() {
			waited.Store(int64(d))
		}
	})
	release := hold(t, h)

	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "pw")
		done <- err
	}()
	waitForWaiters(t, h, 1)

	// The queue (1) is full: the next caller is refused at once.
	start := time.Now()
	if _, err := h.Hash(context.Background(), "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash with full queue = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ErrBusy took %v", d)
	}

	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Fatalf("queued Hash = %v", err)
	}
	if d := time.Duration(waited.Load()); d < 20*time.Millisecond {
		t.Errorf("observed wait %v, want at least 20ms", d)
	}
	if waiters(h) != 0 || running(h) != 0 {
		t.Errorf("leaked waiters %d or slots %d", waiters(h), running(h))
	}
}

func TestHasherMaxWait(t *testing.T) {
	const maxWait = 50 * time.Millisecond
	h := NewHasher(testParams, 1, 4, maxWait)
	hold(t, h)
	start := time.Now()
	_, _, err := h.Verify(context.Background(), "pw", validArgon)
	d := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify = %v, want ErrBusy", err)
	}
	if d < maxWait || d > 5*time.Second {
		t.Errorf("waited %v, want about %v", d, maxWait)
	}
	if waiters(h) != 0 {
		t.Errorf("waiters leaked: %d", waiters(h))
	}
}

func TestHasherContext(t *testing.T) {
	tests := []struct {
		name    string
		maxWait time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		cancel  bool // cancel once the call is queued
		want    error
	}{
		{"cancel while waiting, no maxWait", 0, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, true, context.Canceled},
		{"cancel while waiting, long maxWait", time.Hour, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, true, context.Canceled},
		{"deadline while waiting", time.Hour, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHasher(testParams, 1, 1, tt.maxWait)
			hold(t, h)
			ctx, cancel := tt.ctx()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, _, err := h.Verify(ctx, "pw", validArgon)
				done <- err
			}()
			if tt.cancel {
				waitForWaiters(t, h, 1)
				cancel()
			}
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) {
					t.Errorf("Verify = %v, want %v", err, tt.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Verify did not return after the context ended")
			}
			if waiters(h) != 0 {
				t.Errorf("waiters leaked: %d", waiters(h))
			}
		})
	}

	t.Run("already cancelled", func(t *testing.T) {
		h := NewHasher(testParams, 1, 1, time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v, want context.Canceled", err)
		}
		if err := h.VerifyDummy(ctx, "pw"); !errors.Is(err, context.Canceled) {
			t.Errorf("VerifyDummy = %v, want context.Canceled", err)
		}
		if running(h) != 0 {
			t.Error("slot leaked")
		}
	})
}

func TestHasherConcurrent(t *testing.T) {
	const workers, callers = 2, 32
	h := NewHasher(testParams, workers, callers, 30*time.Second)
	enc, err := HashPassword("pw", testParams)
	if err != nil {
		t.Fatal(err)
	}
	var maxSlots atomic.Int64
	h.SetWaitObserver(func(time.Duration, bool) {
		if n := int64(running(h)); n > maxSlots.Load() {
			maxSlots.Store(n)
		}
	})
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 5; j++ {
				ok, _, err := h.Verify(context.Background(), "pw", enc)
				if err != nil || !ok {
					errs <- err
					return
				}
				if err := h.VerifyDummy(context.Background(), "pw"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Verify: %v", err)
	}
	if n := maxSlots.Load(); n > workers {
		t.Errorf("%d slots in use, want at most %d", n, workers)
	}
	if running(h) != 0 || waiters(h) != 0 {
		t.Errorf("leaked slots %d or waiters %d", running(h), waiters(h))
	}
}

func TestNewHasherDefaults(t *testing.T) {
	h := NewHasher(testParams, 0, -1, 0)
	if h.workers != runtime.GOMAXPROCS(0) {
		t.Errorf("workers = %d, want GOMAXPROCS %d", h.workers, runtime.GOMAXPROCS(0))
	}
	if h.queue != 0 {
		t.Errorf("queue = %d, want 0", h.queue)
	}
	h.SetWaitObserver(func(time.Duration, bool) {})
	h.SetWaitObserver(nil)
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}

	defer func() {
		if recover() == nil {
			t.Error("NewHasher with invalid params did not panic")
		}
	}()
	NewHasher(Params{}, 1, 1, time.Second)
}

func TestHasherMemoryBound(t *testing.T) {
	h := NewHasher(DefaultParams, 3, 0, 0)
	if got, want := h.MemoryBound(), int64(3*19456*1024); got != want {
		t.Errorf("MemoryBound = %d, want %d (3 workers of 19 MiB)", got, want)
	}
}

// A caller in the priority lane gets the next free worker before everyone already waiting in the
// ordinary lane, and is not refused when the ordinary lane is full.
func TestHasherPriorityLaneGoesFirst(t *testing.T) {
	h := NewHasher(testParams, 1, 2, 10*time.Second)
	var mu sync.Mutex
	lanes := map[bool]int{}
	h.SetWaitObserver(func(_ time.Duration, priority bool) { mu.Lock(); lanes[priority]++; mu.Unlock() })
	release := hold(t, h)

	order := make(chan string, 3)
	ctx := context.Background()
	for _, name := range []string{"ordinary 1", "ordinary 2"} {
		go func() {
			if _, err := h.Hash(ctx, "pw"); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			order <- name
		}()
		waitForWaiters(t, h, 1+int(name[len(name)-1]-'1'))
	}
	// The ordinary lane (2) is full: a stranger is refused at once.
	if _, err := h.Hash(ctx, "pw"); !errors.Is(err, ErrBusy) {
		t.Fatalf("third ordinary caller = %v, want ErrBusy", err)
	}
	go func() {
		if _, err := h.Hash(h.WithPriority(ctx), "pw"); err != nil {
			t.Errorf("priority: %v", err)
		}
		order <- "priority"
	}()
	waitForWaiters(t, h, 3)

	release()
	var got []string
	for range 3 {
		got = append(got, <-order)
	}
	if got[0] != "priority" {
		t.Errorf("served in the order %v, want the priority lane first", got)
	}
	if running(h) != 0 || waiters(h) != 0 {
		t.Errorf("leaked slots %d or waiters %d", running(h), waiters(h))
	}
	mu.Lock()
	defer mu.Unlock()
	// Ordinary: the held slot, the two that waited and the one refused.
	if lanes[true] != 1 || lanes[false] != 4 {
		t.Errorf("observed lanes %v, want 1 priority and 4 ordinary", lanes)
	}
}

// A wait that ends (maxWait, or ctx) just as a slot is handed over passes the slot on: no slot is
// ever lost, however the ends and hand-overs interleave.
func TestHasherLosesNoSlotWhenWaitsEnd(t *testing.T) {
	h := NewHasher(testParams, 2, 64, time.Millisecond)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if i%3 == 0 {
				ctx = h.WithPriority(ctx)
			}
			for range 20 {
				_, err := h.Hash(ctx, "pw")
				if err != nil && !errors.Is(err, ErrBusy) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if running(h) != 0 || waiters(h) != 0 {
		t.Fatalf("leaked slots %d or waiters %d", running(h), waiters(h))
	}
	for range 2 { // both workers are free again
		hold(t, h)
	}
}

// A turn waits behind the hashes ahead as a hash would, is refused busy where a hash would be,
// and holds no worker: the caller behind it is served as soon as the hash ahead is done.
func TestHasherTurnWaitsButHoldsNoWorker(t *testing.T) {
	h := NewHasher(testParams, 1, 2, 10*time.Second)
	ctx := context.Background()
	if err := h.Turn(ctx); err != nil || running(h) != 0 {
		t.Fatalf("Turn with a worker free = %v, %d running; want at once, nothing held", err, running(h))
	}
	release := hold(t, h)
	turned := make(chan error, 1)
	go func() { turned <- h.Turn(ctx) }()
	waitForWaiters(t, h, 1)
	hashed := make(chan error, 1)
	go func() { _, err := h.Hash(ctx, "pw"); hashed <- err }()
	waitForWaiters(t, h, 2)
	// Both lanes' places are taken: a turn is refused as a hash is.
	if err := h.Turn(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("Turn with the lane full = %v, want ErrBusy", err)
	}
	select {
	case err := <-turned:
		t.Fatalf("Turn came (%v) while the only worker was held", err)
	case <-time.After(20 * time.Millisecond):
	}
	release()
	if err := <-turned; err != nil {
		t.Fatal(err)
	}
	if err := <-hashed; err != nil {
		t.Fatal(err)
	}
	if running(h) != 0 || waiters(h) != 0 {
		t.Errorf("leaked slots %d or waiters %d", running(h), waiters(h))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := h.Turn(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Turn with an ended ctx = %v, want Canceled", err)
	}
}

// A hashing call tells its stage notices when it asks for a worker and when its hash begins,
// after any wait; a turn and a call without notices tell nothing.
func TestHasherStageNotices(t *testing.T) {
	h := NewHasher(testParams, 1, 2, 10*time.Second)
	var mu sync.Mutex
	var events []string
	note := func(e string) func() { return func() { mu.Lock(); events = append(events, e); mu.Unlock() } }
	ctx := h.WithStageNotices(context.Background(), note("asked"), note("began"))
	release := hold(t, h)
	done := make(chan error, 1)
	go func() { _, _, err := h.Verify(ctx, "pw", h.dummy); done <- err }()
	waitForWaiters(t, h, 1)
	mu.Lock()
	if got := fmt.Sprint(events); got != "[asked]" {
		t.Errorf("while waiting for a worker: %s, want [asked]", got)
	}
	mu.Unlock()
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(ctx, "pw"); err != nil {
		t.Fatal(err)
	}
	if err := h.Turn(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hash(context.Background(), "pw"); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(events); got != "[asked began asked began]" {
		t.Errorf("notices %s, want asked and began for each of the two hashing calls", got)
	}
	// Only one notice given: the other is skipped.
	if _, err := h.Hash(h.WithStageNotices(context.Background(), nil, note("only began")), "pw"); err != nil {
		t.Fatal(err)
	}
	if got := events[len(events)-1]; got != "only began" {
		t.Errorf("last notice %s, want the one given", got)
	}
}

// Idle for as long as every caller has found a worker free: not at all while every worker is
// taken, and counted again from the last caller that found them so.
func TestHasherIdleFor(t *testing.T) {
	h := NewHasher(testParams, 2, 2, 10*time.Second)
	if h.IdleFor() < time.Hour {
		t.Fatalf("a new hasher idle for %v, want ever since", h.IdleFor())
	}
	hold(t, h)
	release := hold(t, h)
	if h.IdleFor() != 0 {
		t.Fatalf("idle for %v with both workers taken, want 0", h.IdleFor())
	}
	turned := make(chan error, 1)
	asked := time.Now()
	go func() { turned <- h.Turn(context.Background()) }()
	waitForWaiters(t, h, 1)
	release()
	if err := <-turned; err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if idle := h.IdleFor(); idle < 20*time.Millisecond || idle > time.Since(asked) {
		t.Errorf("idle for %v after a worker came free, want since the caller that found none", idle)
	}
}
