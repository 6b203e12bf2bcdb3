package dashboard

import (
	"net/http"
	"strconv"

	"github.com/unlockd/unlockd/internal/account"
)

type maintenanceAdminData struct {
	Windows []account.Maintenance
}

// MaintenanceList shows the windows, with the forms that schedule and cancel them.
func (s *Settings) MaintenanceList(w http.ResponseWriter, r *http.Request) error {
	return s.renderMaintenance(w, r, "")
}

// MaintenanceSubmit schedules a window, or cancels one.
func (s *Settings) MaintenanceSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	var err error
	if id, perr := strconv.ParseInt(r.PostForm.Get("cancel"), 10, 64); perr == nil {
		err = s.accounts.Maintenance.CancelMaintenance(r.Context(), id, s.staffActor(r))
	} else {
		start, e1 := s.site.ParseLocalTime(r, r.PostForm.Get("starts_at"))
		end, e2 := s.site.ParseLocalTime(r, r.PostForm.Get("ends_at"))
		if e1 != nil || e2 != nil {
			err = account.Fail(account.EINVALID, "err_maintenance_times", nil, "give the start and end as date and time (UTC)")
		} else {
			err = s.accounts.Maintenance.ScheduleMaintenance(r.Context(), account.Maintenance{StartsAt: start, EndsAt: end,
				MessageEN: r.PostForm.Get("message_en"), MessageZH: r.PostForm.Get("message_zh")}, s.staffActor(r))
		}
	}
	if code := account.ErrorCode(err); code == account.EINVALID || code == account.ENOTFOUND {
		return s.renderMaintenance(w, r, s.site.ErrorText(r, err))
	} else if err != nil {
		return err
	}
	s.site.Maintenance.Forget()
	s.site.Flashes.Put(r, "ok", "admin_maintenance_saved")
	http.Redirect(w, r, "/admin/maintenance", http.StatusSeeOther)
	return nil
}

func (s *Settings) renderMaintenance(w http.ResponseWriter, r *http.Request, errText string) error {
	list, err := s.accounts.Maintenance.Maintenances(r.Context())
	if err != nil {
		return err
	}
	p := s.site.NewPage(r, "admin_maintenance_title", maintenanceAdminData{Windows: list})
	p.Flash = s.site.Flashes.Pop(r)
	p.Error = errText
	s.site.Render(w, r, http.StatusOK, "admin_maintenance", p)
	return nil
}
