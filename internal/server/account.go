package server

import (
	"net/http"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/internal/server/site"
)

type accountData struct {
	State      account.State
	LastSignIn *time.Time
	Factors    account.FactorStatus
	Overview   *account.AccountOverview
	// OrganisationZone is the zone times are shown in unless the person chooses one; TimeZones are
	// the choices offered (any IANA name is accepted).
	OrganisationZone string
	TimeZones        []string
	// Devices and Sessions are the overview's two long lists ready to print: a long-used account
	// has 50 of each, and a template works out each value of each row far more slowly than Go.
	Devices  []deviceRow
	Sessions []sessionRow
}

// shownTime is a moment as a page shows it: the words, and the datetime attribute of its <time>.
type shownTime struct{ Datetime, Text string }

func showTime(l *i18n.Localizer, t time.Time) shownTime {
	return shownTime{Datetime: t.Format(time.RFC3339), Text: l.Time(t)}
}

// deviceRow is a known device: what browser on what system, and when it was last seen.
type deviceRow struct {
	ID       int64
	Name     string
	LastSeen shownTime
}

// sessionRow is a signed-in browser; This is the one asking.
type sessionRow struct {
	ID    string
	Since shownTime
	This  bool
}

// commonTimeZones are offered as choices on the account page, roughly east to west.
var commonTimeZones = []string{"Pacific/Auckland", "Australia/Sydney", "Asia/Tokyo", "Asia/Seoul", "Asia/Shanghai",
	"Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Kolkata", "Asia/Dubai", "Europe/Moscow", "Africa/Johannesburg",
	"Europe/Berlin", "Europe/Paris", "Europe/London", "UTC", "America/Sao_Paulo", "America/New_York", "America/Chicago",
	"America/Denver", "America/Los_Angeles"}

// accountPage shows the signed-in user's account and what its state means.
func (s *accountPages) accountPage(w http.ResponseWriter, r *http.Request) error {
	a := site.CurrentAccount(r)
	data := accountData{State: a.EffectiveState(s.accounts.Now()), OrganisationZone: "UTC", TimeZones: commonTimeZones}
	if s.cfg.Timezone != nil {
		data.OrganisationZone = s.cfg.Timezone.String()
	}
	if prev := s.sessions.GetInt64(r.Context(), site.SessPreviousSignIn); prev > 0 {
		t := time.Unix(prev, 0)
		data.LastSignIn = &t
	}
	overview, err := s.accounts.OwnAccount.Overview(r.Context(), a)
	if err != nil {
		return err
	}
	data.Factors, data.Overview = overview.Factors, overview
	l := s.site.Localizer(r)
	for _, d := range overview.Devices {
		name := l.T("account_unknown_device")
		if d.UserAgent != "" {
			name = l.Device(d.UserAgent)
		}
		data.Devices = append(data.Devices, deviceRow{ID: d.ID, Name: name, LastSeen: showTime(l, d.LastSeenAt)})
	}
	this := s.thisSession(r)
	for _, x := range overview.Sessions {
		data.Sessions = append(data.Sessions, sessionRow{ID: x.ID, Since: showTime(l, x.CreatedAt), This: x.ID == this})
	}
	p := s.site.NewPage(r, "account_title", data)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "account", p)
	return nil
}
