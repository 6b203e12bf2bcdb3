package account_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// The maintenance windows: a window must end after it starts and in the future, last at most 7
// days, and say why in both languages.
func TestScheduleMaintenance(t *testing.T) {
	w := newWorld(t)
	ok := account.Maintenance{StartsAt: t0.Add(time.Hour), EndsAt: t0.Add(3 * time.Hour), MessageEN: " Upgrade ", MessageZH: "升级"}
	tests := []struct {
		name string
		edit func(*account.Maintenance)
		id   string
	}{
		{"ends before it starts", func(m *account.Maintenance) { m.EndsAt = m.StartsAt.Add(-time.Minute) }, "err_maintenance_order"},
		{"ends as it starts", func(m *account.Maintenance) { m.EndsAt = m.StartsAt }, "err_maintenance_order"},
		{"over", func(m *account.Maintenance) { m.StartsAt, m.EndsAt = t0.Add(-2*time.Hour), t0 }, "err_maintenance_over"},
		{"too long", func(m *account.Maintenance) { m.EndsAt = m.StartsAt.Add(7*24*time.Hour + time.Second) }, "err_maintenance_too_long"},
		{"no Chinese", func(m *account.Maintenance) { m.MessageZH = "  " }, "err_maintenance_messages"},
		{"no English", func(m *account.Maintenance) { m.MessageEN = "" }, "err_maintenance_messages"},
		{"too wordy", func(m *account.Maintenance) { m.MessageZH = strings.Repeat("升", 501) }, "err_maintenance_message_long"},
	}
	for _, tt := range tests {
		m := ok
		tt.edit(&m)
		err := w.svc.Maintenance.ScheduleMaintenance(ctx, m, admin)
		var e *account.Error
		if !errors.As(err, &e) || e.Code != account.EINVALID || e.MessageID != tt.id {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.id)
		}
	}
	if len(w.maintenance.windows) != 0 {
		t.Fatal("a refused window was stored")
	}
	running := ok
	running.StartsAt, running.EndsAt = t0.Add(-time.Hour), t0.Add(7*24*time.Hour-time.Hour)
	for _, m := range []account.Maintenance{ok, running} {
		if err := w.svc.Maintenance.ScheduleMaintenance(ctx, m, admin); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.maintenance.windows[0]; got.MessageEN != "Upgrade" || got.CreatedBy != admin.Name {
		t.Errorf("stored %+v, want the messages trimmed", got)
	}
}

// The current window is the one running or starting within the notice; the list and the
// cancellation pass through.
func TestMaintenanceWindows(t *testing.T) {
	w := newWorld(t)
	w.maintenance.windows = []account.Maintenance{
		{ID: 1, StartsAt: t0.Add(-2 * time.Hour), EndsAt: t0.Add(-time.Hour)},
		{ID: 2, StartsAt: t0.Add(48 * time.Hour), EndsAt: t0.Add(50 * time.Hour), MessageEN: "soon", MessageZH: "很快"},
	}
	m, err := w.svc.Maintenance.CurrentMaintenance(ctx)
	if err != nil || m == nil || m.ID != 2 || w.maintenance.asked != account.MaintenanceNotice {
		t.Fatalf("CurrentMaintenance = %+v, %v, asked %v ahead", m, err, w.maintenance.asked)
	}
	if m.Active(t0) || !m.Active(t0.Add(48*time.Hour)) || m.Active(t0.Add(50*time.Hour)) {
		t.Error("Active does not run from the start to before the end")
	}
	if m.Message("zh-CN") != "很快" || m.Message("en") != "soon" {
		t.Errorf("messages %q, %q", m.Message("zh-CN"), m.Message("en"))
	}
	list, err := w.svc.Maintenance.Maintenances(ctx)
	if err != nil || len(list) != 1 || list[0].ID != 2 {
		t.Errorf("Maintenances = %+v, %v", list, err)
	}
	if err := w.svc.Maintenance.CancelMaintenance(ctx, 2, admin); err != nil || len(w.maintenance.cancelled) != 1 || w.maintenance.cancelled[0] != 2 {
		t.Errorf("CancelMaintenance = %v, %v", err, w.maintenance.cancelled)
	}
	w.clock.Advance(51 * time.Hour)
	if m, err := w.svc.Maintenance.CurrentMaintenance(ctx); err != nil || m != nil {
		t.Errorf("after the windows: %+v, %v", m, err)
	}
}
