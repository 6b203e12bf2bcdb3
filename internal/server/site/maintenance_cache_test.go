package site

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
)

// fakeMaintenanceStore answers NextMaintenance from a function; the rest of it is not used.
type fakeMaintenanceStore struct {
	account.MaintenanceStore
	next func(ctx context.Context) (*account.Maintenance, error)
}

func (f *fakeMaintenanceStore) NextMaintenance(ctx context.Context, _ time.Time, _ time.Duration) (*account.Maintenance, error) {
	return f.next(ctx)
}

func maintenanceSite(next func(ctx context.Context) (*account.Maintenance, error), clock ...*accounttest.Clock) *Site {
	key := make([]byte, 32)
	// Every other dependency is one the cache does not use: a call to a store panics.
	deps := accounttest.Deps(key)
	if len(clock) > 0 {
		deps.Clock = clock[0].Now
	}
	deps.Maintenance = &fakeMaintenanceStore{next: next}
	svc := account.New(deps)
	s := &Site{accounts: svc, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.Maintenance = newMaintenanceCache(svc.Maintenance.CurrentMaintenance, svc.Now, s.log)
	return s
}

// The lookup belongs to no one request: the first caller giving up does not fail the callers
// waiting for the same lookup, and they share one query.
func TestMaintenanceLookupSurvivesTheFirstCallerGoingAway(t *testing.T) {
	window := &account.Maintenance{ID: 1, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour)}
	started, release := make(chan struct{}, 10), make(chan struct{})
	var queries atomic.Int32
	s := maintenanceSite(func(ctx context.Context) (*account.Maintenance, error) {
		queries.Add(1)
		started <- struct{}{}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			return window, nil
		}
	})
	first, cancel := context.WithCancel(context.Background())
	go s.Maintenance.Current(httptest.NewRequest("POST", "/login", nil).WithContext(first))
	<-started
	var wg sync.WaitGroup
	got := make([]*account.Maintenance, 3)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = s.Maintenance.Current(httptest.NewRequest("POST", "/login", nil))
		}()
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, m := range got {
		if m != window {
			t.Errorf("caller %d got %v, want the window", i, m)
		}
	}
	if n := queries.Load(); n != 1 {
		t.Errorf("%d queries, want 1 shared by every caller", n)
	}
}

// No query runs under the cache's lock: forgetting the cached window (after a change on the
// maintenance page) does not wait for a slow lookup.
func TestMaintenanceLookupHoldsNoLockWhileQuerying(t *testing.T) {
	started, release := make(chan struct{}, 10), make(chan struct{})
	defer close(release)
	s := maintenanceSite(func(ctx context.Context) (*account.Maintenance, error) {
		started <- struct{}{}
		<-release
		return nil, nil
	})
	go s.Maintenance.Current(httptest.NewRequest("POST", "/login", nil))
	<-started
	forgot := make(chan struct{})
	go func() { s.Maintenance.Forget(); close(forgot) }()
	select {
	case <-forgot:
	case <-time.After(2 * time.Second):
		t.Fatal("forgetting the window waited for the query")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if m := s.Maintenance.Current(httptest.NewRequest("POST", "/login", nil).WithContext(ctx)); m != nil {
		t.Fatalf("a caller that gave up got %v", m)
	}
}

// A failed lookup is remembered for the TTL, as a result is: in an outage requests do not queue on
// the database one after another.
func TestMaintenanceLookupRemembersAFailure(t *testing.T) {
	var queries atomic.Int32
	s := maintenanceSite(func(ctx context.Context) (*account.Maintenance, error) {
		queries.Add(1)
		return nil, errors.New("database down")
	})
	for range 5 {
		if m := s.Maintenance.Current(httptest.NewRequest("POST", "/login", nil)); m != nil {
			t.Fatalf("got %v", m)
		}
	}
	if n := queries.Load(); n != 1 {
		t.Fatalf("%d queries within the TTL, want 1", n)
	}
}

// The window looked up depends on the service's clock: once that clock has moved past the TTL the
// window is looked up again, without waiting for the TTL by the wall clock.
func TestMaintenanceCacheFollowsTheServiceClock(t *testing.T) {
	clock := accounttest.NewClock(time.Now())
	var queries atomic.Int32
	s := maintenanceSite(func(context.Context) (*account.Maintenance, error) {
		queries.Add(1)
		return nil, nil
	}, clock)
	r := httptest.NewRequest("GET", "/login", nil)
	s.Maintenance.Current(r)
	s.Maintenance.Current(r)
	if n := queries.Load(); n != 1 {
		t.Fatalf("%d queries within the TTL, want 1", n)
	}
	clock.Advance(time.Hour)
	s.Maintenance.Current(r)
	if n := queries.Load(); n != 2 {
		t.Errorf("%d queries after the clock moved an hour, want 2", n)
	}
}
