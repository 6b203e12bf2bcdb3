package account

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// MaintenanceWindows announces and schedules maintenance.
type MaintenanceWindows struct {
	*kit
	maintenance MaintenanceStore
}

// Maintenance is a window during which the business system is maintained: sign-in and unlock
// pause (accounts are effectively frozen), and pages say so beforehand and during.
type Maintenance struct {
	ID        int64
	StartsAt  time.Time
	EndsAt    time.Time
	MessageEN string
	MessageZH string
	CreatedBy string
}

// Active reports whether the window runs at now.
func (m *Maintenance) Active(now time.Time) bool {
	return !now.Before(m.StartsAt) && now.Before(m.EndsAt)
}

// Message is the window's message in a language.
func (m *Maintenance) Message(lang string) string {
	if lang == "zh-CN" && m.MessageZH != "" {
		return m.MessageZH
	}
	return m.MessageEN
}

// MaintenanceStore keeps maintenance windows.
type MaintenanceStore interface {
	// NextMaintenance returns the window that runs at now or starts within ahead; nil when none.
	NextMaintenance(ctx context.Context, now time.Time, ahead time.Duration) (*Maintenance, error)
	ScheduleMaintenance(ctx context.Context, m Maintenance, actor Actor, now time.Time) error
	Maintenances(ctx context.Context, now time.Time) ([]Maintenance, error)
	CancelMaintenance(ctx context.Context, id int64, actor Actor, now time.Time) error
}

// MaintenanceNotice is how far ahead pages announce a window.
const MaintenanceNotice = 72 * time.Hour

// CurrentMaintenance returns the window running now or announced (starting within the notice).
func (s *MaintenanceWindows) CurrentMaintenance(ctx context.Context) (*Maintenance, error) {
	return s.maintenance.NextMaintenance(ctx, s.now(), MaintenanceNotice)
}

// ScheduleMaintenance plans a window; it ends by itself.
func (s *MaintenanceWindows) ScheduleMaintenance(ctx context.Context, m Maintenance, actor Actor) error {
	m.MessageEN, m.MessageZH = strings.TrimSpace(m.MessageEN), strings.TrimSpace(m.MessageZH)
	switch {
	case !m.EndsAt.After(m.StartsAt):
		return Fail(EINVALID, "err_maintenance_order", nil, "the end must come after the start")
	case !m.EndsAt.After(s.now()):
		return Fail(EINVALID, "err_maintenance_over", nil, "the window is already over")
	case m.EndsAt.Sub(m.StartsAt) > 7*24*time.Hour:
		return Fail(EINVALID, "err_maintenance_too_long", map[string]any{"Count": 7}, "a window may last at most 7 days")
	case m.MessageEN == "" || m.MessageZH == "":
		return Fail(EINVALID, "err_maintenance_messages", nil, "write the message in both English and Chinese")
	case utf8.RuneCountInString(m.MessageEN) > 500 || utf8.RuneCountInString(m.MessageZH) > 500:
		return Fail(EINVALID, "err_maintenance_message_long", map[string]any{"Count": 500}, "the messages may have at most 500 characters")
	}
	return s.maintenance.ScheduleMaintenance(ctx, m, actor, s.now())
}

// Maintenances lists windows not yet over.
func (s *MaintenanceWindows) Maintenances(ctx context.Context) ([]Maintenance, error) {
	return s.maintenance.Maintenances(ctx, s.now())
}

// CancelMaintenance ends or cancels a window.
func (s *MaintenanceWindows) CancelMaintenance(ctx context.Context, id int64, actor Actor) error {
	return s.maintenance.CancelMaintenance(ctx, id, actor, s.now())
}
