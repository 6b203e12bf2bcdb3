package secret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrBusy is returned by Hasher when no worker became free in time, or when
// too many callers are already waiting. The caller should answer 503 with a
// Retry-After header.
var ErrBusy = errors.New("password hashing is saturated")

// Hasher bounds concurrent password hashing so that a burst of sign-ins
// cannot exhaust memory (each argon2id hash holds Params.Memory KiB while it
// runs): at most workers hashes run at once, at most queue callers wait for
// a worker, each at most maxWait; beyond that calls fail with ErrBusy.
//
// It also owns a dummy hash with its own parameters, for the refusals that
// must take a check's time when no recent check's time is known
// (VerifyDummy; see CheckTimes).
//
// Callers whose context carries WithPriority (the owner on a known device)
// wait in a lane of their own, of the same length, and the next free worker
// goes to them first: a flood from elsewhere that fills the ordinary lane
// keeps no one out of it.
//
// A Hasher is safe for concurrent use. Hashing itself cannot be interrupted:
// ctx only bounds the wait for a worker.
type Hasher struct {
	params  Params
	workers int
	queue   int // callers that may wait, in each lane
	maxWait time.Duration
	dummy   string
	observe atomic.Pointer[func(wait time.Duration, priority bool)]

	mu      sync.Mutex
	running int       // hashes running; below workers only while no one waits
	fullAt  time.Time // when a caller last found every worker taken
	// waiting holds each lane's callers, first come first served; a worker that frees up is
	// handed to the first in the priority lane, else to the first in the ordinary one.
	waiting [2][]chan struct{}
}

// The lanes, in the order a free worker serves them.
const (
	priorityLane = 0
	ordinaryLane = 1
)

type priorityKey struct{}

type stageNoticesKey struct{}

type stageNotices struct{ asked, began func() }

// WithPriority returns a context whose hashing calls wait in the priority lane. Give it to the
// checks of people the service knows (a known device's owner), not to anyone a stranger can be.
func (h *Hasher) WithPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

// WithStageNotices returns a context whose hashing calls call asked when they ask for a worker,
// and began when they have one, at once or after waiting, just before they hash. The calls come
// from the caller's goroutine.
func (h *Hasher) WithStageNotices(ctx context.Context, asked, began func()) context.Context {
	return context.WithValue(ctx, stageNoticesKey{}, stageNotices{asked, began})
}

// noticesOf is ctx's stage notices; either may be nil.
func noticesOf(ctx context.Context) stageNotices {
	n, _ := ctx.Value(stageNoticesKey{}).(stageNotices)
	return n
}

func call(f func()) {
	if f != nil {
		f()
	}
}

func laneOf(ctx context.Context) int {
	if p, _ := ctx.Value(priorityKey{}).(bool); p {
		return priorityLane
	}
	return ordinaryLane
}

// NewHasher returns a Hasher that hashes with p.
//
// workers is the number of hashes that may run at once (about the number of
// cores); workers <= 0 means runtime.GOMAXPROCS(0). queue is the number of
// callers that may wait for a worker in each lane; queue < 0 means 0. maxWait is how long
// each of them waits at most; maxWait <= 0 means only ctx limits the wait.
//
// NewHasher panics if p is not valid (see Params.Validate): check
// configuration with Validate first.
func NewHasher(p Params, workers, queue int, maxWait time.Duration) *Hasher {
	if err := p.Validate(); err != nil {
		panic(fmt.Sprintf("secret.NewHasher: %v", err))
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if queue < 0 {
		queue = 0
	}
	// The dummy hash only needs the same parameters, salt and key length
	// as a real one: random bytes serve, nothing ever matches them, and
	// verifying against it costs exactly one argon2id run with p.
	salt := make([]byte, p.SaltLen)
	key := make([]byte, p.KeyLen)
	if _, err := rand.Read(salt); err != nil {
		panic(fmt.Sprintf("secret.NewHasher: reading random bytes: %v", err))
	}
	if _, err := rand.Read(key); err != nil {
		panic(fmt.Sprintf("secret.NewHasher: reading random bytes: %v", err))
	}
	return &Hasher{
		params:  p,
		workers: workers,
		queue:   queue,
		maxWait: maxWait,
		dummy:   encodeArgon2id(p, salt, key),
	}
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// MemoryBound is the memory, in bytes, that the Hasher's hashes hold at once at most when they
// use its parameters: one Params.Memory per worker. (A stored hash with larger parameters, an
// imported one, holds what its own parameters say while it is verified.)
func (h *Hasher) MemoryBound() int64 { return int64(h.workers) * int64(h.params.Memory) << 10 }

// SetWaitObserver sets a function called once per Hash, Verify,
// VerifyDummy and Turn call with how long it waited for a worker slot, whatever the
// outcome (0 when a worker was free, the queue was full or ctx had already
// ended), and whether it waited in the priority lane. It is meant for a
// metrics histogram, must be quick, and should be set before use; nil
// removes it.
func (h *Hasher) SetWaitObserver(f func(wait time.Duration, priority bool)) {
	if f == nil {
		h.observe.Store(nil)
		return
	}
	h.observe.Store(&f)
}

// Hash is HashPassword(password, h.Params()) run in a worker slot.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.begin(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(password, h.params)
}

// Verify is VerifyPassword(password, encoded, h.Params()) run in a worker
// slot. Besides the errors of VerifyPassword it returns ErrBusy, or ctx's
// error if ctx ended while waiting.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if err := h.begin(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	return VerifyPassword(password, encoded, h.params)
}

// VerifyDummy verifies password against a fixed dummy hash with the
// Hasher's parameters, through the same path as Verify, and discards the
// result: the password never matches. Call it for a refusal that must take
// a check's time when no recent check's time serves. It returns only ErrBusy
// or ctx's error, which the caller should handle exactly as for Verify.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	// ok is always false: the dummy key is random bytes, not the output
	// of argon2id. err cannot wrap ErrMalformedHash: the dummy is built
	// from validated parameters (a test checks it parses).
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// begin takes a worker slot for a hash, telling ctx's stage notices when it asks and when it has
// one. On success the caller must call release.
func (h *Hasher) begin(ctx context.Context) error {
	notices := noticesOf(ctx)
	call(notices.asked)
	if err := h.acquire(ctx); err != nil {
		return err
	}
	call(notices.began)
	return nil
}

// IdleFor is how long every caller has found a worker free: 0 while every worker is taken.
func (h *Hasher) IdleFor() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running >= h.workers {
		return 0
	}
	return time.Since(h.fullAt)
}

// Turn waits for a worker in ctx's lane exactly as a hash would, and hands it on at once
// without hashing: a refusal that imitates a check waits behind the same checks as the one it
// imitates would have, but holds no worker and spends no CPU. It returns ErrBusy, or ctx's error,
// where a hash would have failed so.
func (h *Hasher) Turn(ctx context.Context) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	h.release()
	return nil
}

// acquire takes a worker slot, waiting in ctx's lane if allowed. On success the caller must call
// release.
func (h *Hasher) acquire(ctx context.Context) error {
	lane := laneOf(ctx)
	if err := ctx.Err(); err != nil {
		h.observed(0, lane)
		return err
	}
	start := time.Now()
	h.mu.Lock()
	if h.running < h.workers {
		h.running++
		h.mu.Unlock()
		h.observed(0, lane)
		return nil
	}
	h.fullAt = start
	if len(h.waiting[lane]) >= h.queue {
		h.mu.Unlock()
		h.observed(0, lane)
		return ErrBusy
	}
	turn := make(chan struct{})
	h.waiting[lane] = append(h.waiting[lane], turn)
	h.mu.Unlock()

	var timeout <-chan time.Time
	if h.maxWait > 0 {
		t := time.NewTimer(h.maxWait)
		defer t.Stop()
		timeout = t.C
	}
	var err error
	select {
	case <-turn:
	case <-timeout:
		err = ErrBusy
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil && !h.leave(lane, turn) {
		// The slot was handed over as the wait ended: pass it on.
		h.release()
	}
	h.observed(time.Since(start), lane)
	return err
}

// leave takes a waiting caller out of its lane; false when it was already
// handed a slot.
func (h *Hasher) leave(lane int, turn chan struct{}) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, w := range h.waiting[lane] {
		if w == turn {
			h.waiting[lane] = append(h.waiting[lane][:i], h.waiting[lane][i+1:]...)
			return true
		}
	}
	return false
}

// release frees a slot: it goes straight to the first caller waiting, the
// priority lane first, so that no newcomer takes it from them.
func (h *Hasher) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for lane := range h.waiting {
		if q := h.waiting[lane]; len(q) > 0 {
			close(q[0])
			h.waiting[lane] = q[1:]
			return
		}
	}
	h.running--
}

func (h *Hasher) observed(d time.Duration, lane int) {
	if f := h.observe.Load(); f != nil {
		(*f)(d, lane == priorityLane)
	}
}
