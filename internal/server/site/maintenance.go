package site

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// MaintenanceCache keeps the current maintenance window for a few seconds: every page shows the
// banner, and one small query per page is not worth it. Other processes see a change within the
// same few seconds.
//
// One lookup runs at a time, on a context of its own with its own timeout, and never under the
// lock: a caller that goes away, or a slow database, fails no other caller. A failed lookup is
// remembered for the TTL as a result is (the last known window stays), so that in an outage
// requests do not queue on it.
//
// The window looked up depends on the service's clock, so the cached one is looked up again once
// the TTL has passed by the wall clock or by the service's clock, whichever first.
type MaintenanceCache struct {
	lookup func(context.Context) (*account.Maintenance, error)
	now    func() time.Time // the service's clock
	log    *slog.Logger

	mu        sync.Mutex
	value     *account.Maintenance
	fetched   time.Time     // by the wall clock
	fetchedAt time.Time     // by the service's clock
	inflight  chan struct{} // closed when the running lookup ends; nil when none runs
	gen       uint64        // forget bumps it: a lookup started before does not count as fresh
}

const (
	MaintenanceCacheTTL      = 5 * time.Second
	maintenanceLookupTimeout = 3 * time.Second
)

func newMaintenanceCache(lookup func(context.Context) (*account.Maintenance, error), now func() time.Time, log *slog.Logger) *MaintenanceCache {
	return &MaintenanceCache{lookup: lookup, now: now, log: log}
}

// current returns the window, looking it up when the cached one is older than the TTL. It waits
// for the lookup at most as long as ctx lets it, and then answers with the last known window.
func (c *MaintenanceCache) current(ctx context.Context) *account.Maintenance {
	c.mu.Lock()
	if !c.fetched.IsZero() && time.Since(c.fetched) < MaintenanceCacheTTL && absDuration(c.now().Sub(c.fetchedAt)) < MaintenanceCacheTTL {
		defer c.mu.Unlock()
		return c.value
	}
	done := c.inflight
	if done == nil {
		done = make(chan struct{})
		c.inflight = done
		go c.refresh(c.gen, done)
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

func (c *MaintenanceCache) refresh(gen uint64, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithTimeout(context.Background(), maintenanceLookupTimeout)
	defer cancel()
	m, err := c.lookup(ctx)
	if err != nil {
		c.log.Warn("maintenance lookup failed", "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight = nil
	if err == nil {
		c.value = m
	}
	if gen == c.gen {
		c.fetched, c.fetchedAt = time.Now(), c.now()
	}
}

// forget makes the next caller look the window up again (after a change on the maintenance page).
func (c *MaintenanceCache) forget() {
	c.mu.Lock()
	c.fetched = time.Time{}
	c.gen++
	c.mu.Unlock()
}

// Current is the window running now or announced next, if any.
func (c *MaintenanceCache) Current(r *http.Request) *account.Maintenance {
	return c.current(r.Context())
}

// Forget makes the next page look the window up again (after a change to it).
func (c *MaintenanceCache) Forget() { c.forget() }

// Active is the window running now, if any, and the Retry-After that lasts until its end.
func (c *MaintenanceCache) Active(r *http.Request) (*account.Maintenance, string) {
	m := c.Current(r)
	now := c.now()
	if m == nil || !m.Active(now) {
		return nil, ""
	}
	return m, strconv.Itoa(max(1, int(m.EndsAt.Sub(now).Seconds())))
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
