package secret

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
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
// It also owns a dummy hash with its own parameters, so that VerifyDummy
// makes sign-ins of unknown users take as long as those of known users.
//
// A Hasher is safe for concurrent use. Hashing itself cannot be interrupted:
// ctx only bounds the wait for a worker.
type Hasher struct {
	params  Params
	slots   chan struct{} // one token per running hash
	waiting atomic.Int64  // callers waiting for a slot
	queue   int64
	maxWait time.Duration
	dummy   string
	observe atomic.Pointer[func(time.Duration)]
}

// NewHasher returns a Hasher that hashes with p.
//
// workers is the number of hashes that may run at once (about the number of
// cores); workers <= 0 means runtime.GOMAXPROCS(0). queue is the number of
// callers that may wait for a worker; queue < 0 means 0. maxWait is how long
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
		slots:   make(chan struct{}, workers),
		queue:   int64(queue),
		maxWait: maxWait,
		dummy:   encodeArgon2id(p, salt, key),
	}
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// MemoryBound is the memory, in bytes, that the Hasher's hashes hold at once at most when they
// use its parameters: one Params.Memory per worker. (A stored hash with larger parameters, an
// imported one, holds what its own parameters say while it is verified.)
func (h *Hasher) MemoryBound() int64 { return int64(cap(h.slots)) * int64(h.params.Memory) << 10 }

// SetWaitObserver sets a function called once per Hash, Verify and
// VerifyDummy call with how long it waited for a worker slot, whatever the
// outcome (0 when a worker was free, the queue was full or ctx had already
// ended). It is meant for a metrics histogram, must be quick, and should be
// set before use; nil removes it.
func (h *Hasher) SetWaitObserver(f func(time.Duration)) {
	if f == nil {
		h.observe.Store(nil)
		return
	}
	h.observe.Store(&f)
}

// Hash is HashPassword(password, h.Params()) run in a worker slot.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return HashPassword(password, h.params)
}

// Verify is VerifyPassword(password, encoded, h.Params()) run in a worker
// slot. Besides the errors of VerifyPassword it returns ErrBusy, or ctx's
// error if ctx ended while waiting.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release()
	return VerifyPassword(password, encoded, h.params)
}

// VerifyDummy verifies password against a fixed dummy hash with the
// Hasher's parameters, through the same path as Verify, and discards the
// result: the password never matches. Call it for unknown users so that
// their sign-in takes as long as a known user's. It returns only ErrBusy or
// ctx's error, which the caller should handle exactly as for Verify.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	// ok is always false: the dummy key is random bytes, not the output
	// of argon2id. err cannot wrap ErrMalformedHash: the dummy is built
	// from validated parameters (a test checks it parses).
	_, _, err := h.Verify(ctx, password, h.dummy)
	return err
}

// acquire takes a worker slot, waiting if allowed. On success the caller
// must call release.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		h.observed(0)
		return err
	}
	start := time.Now()
	select {
	case h.slots <- struct{}{}:
		h.observed(0)
		return nil
	default:
	}

	if h.waiting.Add(1) > h.queue {
		h.waiting.Add(-1)
		h.observed(0)
		return ErrBusy
	}
	defer h.waiting.Add(-1)

	var timeout <-chan time.Time
	if h.maxWait > 0 {
		t := time.NewTimer(h.maxWait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case h.slots <- struct{}{}:
		h.observed(time.Since(start))
		return nil
	case <-timeout:
		h.observed(time.Since(start))
		return ErrBusy
	case <-ctx.Done():
		h.observed(time.Since(start))
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

func (h *Hasher) observed(d time.Duration) {
	if f := h.observe.Load(); f != nil {
		(*f)(d)
	}
}
