package server

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// maintenanceCache keeps the current maintenance window for a few seconds: every page shows the
// banner, and one small query per page is not worth it. Other processes see a change within the
// same few seconds.
type maintenanceCache struct {
	mu      sync.Mutex
	value   *account.Maintenance
	fetched time.Time
}

const maintenanceCacheTTL = 5 * time.Second

func (s *Server) maintenance(r *http.Request) *account.Maintenance {
	c := &s.maint
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.fetched) < maintenanceCacheTTL {
		return c.value
	}
	m, err := s.accounts.CurrentMaintenance(r.Context())
	c.fetched = time.Now() // a failure too is remembered for the TTL: in an outage, pages do not queue on it
	if err != nil {
		s.log.Warn("maintenance lookup", "err", err)
		return c.value
	}
	c.value = m
	return m
}

func (s *Server) forgetMaintenance() {
	s.maint.mu.Lock()
	s.maint.fetched = time.Time{}
	s.maint.mu.Unlock()
}

// duringMaintenance answers sign-in and unlock with the maintenance page (503, Retry-After) while a
// window runs.
func (s *Server) duringMaintenance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		m := s.maintenance(r)
		if m == nil || !m.Active(s.accounts.Now()) {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(m.EndsAt.Sub(s.accounts.Now()).Seconds()))))
		w.Header().Set("Cache-Control", "no-store")
		s.render(w, r, http.StatusServiceUnavailable, "maintenance", s.newPage(r, "maintenance_title", m))
	})
}

type maintenanceAdminData struct {
	Windows []account.Maintenance
}

// adminMaintenance schedules and cancels maintenance windows.
func (s *Server) adminMaintenance(w http.ResponseWriter, r *http.Request) error {
	p := s.newPage(r, "admin_maintenance_title", nil)
	if r.Method == http.MethodPost {
		if !s.staffForm(w, r) {
			return nil
		}
		var err error
		if id, perr := strconv.ParseInt(r.PostForm.Get("cancel"), 10, 64); perr == nil {
			err = s.accounts.CancelMaintenance(r.Context(), id, s.staffActor(r))
		} else {
			start, e1 := time.Parse("2006-01-02T15:04", r.PostForm.Get("starts_at"))
			end, e2 := time.Parse("2006-01-02T15:04", r.PostForm.Get("ends_at"))
			if e1 != nil || e2 != nil {
				err = account.Errorf(account.EINVALID, "give the start and end as date and time (UTC)")
			} else {
				err = s.accounts.ScheduleMaintenance(r.Context(), account.Maintenance{StartsAt: start, EndsAt: end,
					MessageEN: r.PostForm.Get("message_en"), MessageZH: r.PostForm.Get("message_zh")}, s.staffActor(r))
			}
		}
		if code := account.ErrorCode(err); code == account.EINVALID || code == account.ENOTFOUND {
			p.Error = account.ErrorMessage(err)
		} else if err != nil {
			return err
		} else {
			s.forgetMaintenance()
			s.putFlash(r, "ok", "admin_maintenance_saved")
			http.Redirect(w, r, "/admin/maintenance", http.StatusSeeOther)
			return nil
		}
	}
	list, err := s.accounts.Maintenances(r.Context())
	if err != nil {
		return err
	}
	p.Data = maintenanceAdminData{Windows: list}
	if p.Flash == nil {
		p.Flash = s.popFlash(r)
	}
	s.render(w, r, http.StatusOK, "admin_maintenance", p)
	return nil
}
