package server

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// maintenanceCache keeps the current maintenance window for a few seconds: every page shows the
// banner, and one small query per page is not worth it. Other processes see a change within the
// same few seconds.
//
// One lookup runs at a time, on a context of its own with its own timeout, and never under the
// lock: a caller that goes away, or a slow database, fails no other caller. A failed lookup is
// remembered for the TTL as a result is (the last known window stays), so that in an outage
// requests do not queue on it.
type maintenanceCache struct {
	lookup func(context.Context) (*account.Maintenance, error)
	log    *slog.Logger

	mu       sync.Mutex
	value    *account.Maintenance
	fetched  time.Time
	inflight chan struct{} // closed when the running lookup ends; nil when none runs
	gen      uint64        // forget bumps it: a lookup started before does not count as fresh
}

const (
	maintenanceCacheTTL      = 5 * time.Second
	maintenanceLookupTimeout = 3 * time.Second
)

func newMaintenanceCache(lookup func(context.Context) (*account.Maintenance, error), log *slog.Logger) *maintenanceCache {
	return &maintenanceCache{lookup: lookup, log: log}
}

// current returns the window, looking it up when the cached one is older than the TTL. It waits
// for the lookup at most as long as ctx lets it, and then answers with the last known window.
func (c *maintenanceCache) current(ctx context.Context) *account.Maintenance {
	c.mu.Lock()
	if !c.fetched.IsZero() && time.Since(c.fetched) < maintenanceCacheTTL {
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

func (c *maintenanceCache) refresh(gen uint64, done chan struct{}) {
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
		c.fetched = time.Now()
	}
}

// forget makes the next caller look the window up again (after a change on the maintenance page).
func (c *maintenanceCache) forget() {
	c.mu.Lock()
	c.fetched = time.Time{}
	c.gen++
	c.mu.Unlock()
}

func (s *Server) maintenance(r *http.Request) *account.Maintenance {
	return s.maint.current(r.Context())
}

func (s *Server) forgetMaintenance() { s.maint.forget() }

// activeMaintenance is the window running now, if any, and the Retry-After that lasts until its end.
func (s *Server) activeMaintenance(r *http.Request) (*account.Maintenance, string) {
	m := s.maintenance(r)
	now := s.accounts.Now()
	if m == nil || !m.Active(now) {
		return nil, ""
	}
	return m, strconv.Itoa(max(1, int(m.EndsAt.Sub(now).Seconds())))
}

// duringMaintenance answers the submissions of sign-in and unlock with the maintenance page (503,
// Retry-After) while a window runs; their forms still show.
func (s *Server) duringMaintenance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, retryAfter := s.activeMaintenance(r)
		if m == nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", retryAfter)
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, http.StatusServiceUnavailable, "maintenance", s.newPage(r, "maintenance_title", m))
	})
}

// apiDuringMaintenance pauses the API's password checks as duringMaintenance pauses the pages':
// 503 with Retry-After, in the API's error shape, with the window's English message.
func (s *Server) apiDuringMaintenance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, retryAfter := s.activeMaintenance(r)
		if m == nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", retryAfter)
		apiError(w, http.StatusServiceUnavailable, "maintenance", m.Message("en"))
	})
}

type maintenanceAdminData struct {
	Windows []account.Maintenance
}

// adminMaintenanceList shows the windows, with the forms that schedule and cancel them.
func (s *Server) adminMaintenanceList(w http.ResponseWriter, r *http.Request) error {
	return s.renderMaintenance(w, r, "")
}

// adminMaintenanceSubmit schedules a window, or cancels one.
func (s *Server) adminMaintenanceSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	var err error
	if id, perr := strconv.ParseInt(r.PostForm.Get("cancel"), 10, 64); perr == nil {
		err = s.accounts.Maintenance.CancelMaintenance(r.Context(), id, s.staffActor(r))
	} else {
		start, e1 := time.Parse("2006-01-02T15:04", r.PostForm.Get("starts_at"))
		end, e2 := time.Parse("2006-01-02T15:04", r.PostForm.Get("ends_at"))
		if e1 != nil || e2 != nil {
			err = account.Fail(account.EINVALID, "err_maintenance_times", nil, "give the start and end as date and time (UTC)")
		} else {
			err = s.accounts.Maintenance.ScheduleMaintenance(r.Context(), account.Maintenance{StartsAt: start, EndsAt: end,
				MessageEN: r.PostForm.Get("message_en"), MessageZH: r.PostForm.Get("message_zh")}, s.staffActor(r))
		}
	}
	if code := account.ErrorCode(err); code == account.EINVALID || code == account.ENOTFOUND {
		return s.renderMaintenance(w, r, s.errorText(r, err))
	} else if err != nil {
		return err
	}
	s.forgetMaintenance()
	s.putFlash(r, "ok", "admin_maintenance_saved")
	http.Redirect(w, r, "/admin/maintenance", http.StatusSeeOther)
	return nil
}

func (s *Server) renderMaintenance(w http.ResponseWriter, r *http.Request, errText string) error {
	list, err := s.accounts.Maintenance.Maintenances(r.Context())
	if err != nil {
		return err
	}
	p := s.newPage(r, "admin_maintenance_title", maintenanceAdminData{Windows: list})
	p.Flash = s.popFlash(r)
	p.Error = errText
	s.render(w, r, http.StatusOK, "admin_maintenance", p)
	return nil
}
