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
	// History is the latest sign-ins ready to print, as the lists of browsers are.
	History []signInRow
	// Browsers are the latest devices and sessions; the rest are on /account/devices.
	Browsers browserLists
}

// signInRow is one sign-in of the history: when, whether it succeeded, where from, on what.
type signInRow struct {
	At        shownTime
	Succeeded bool
	Place     string
	Device    string
}

// shownTime is a moment as a page shows it: the words, and the datetime attribute of its <time>.
type shownTime struct{ Datetime, Text string }

func showTime(l *i18n.Localizer, t time.Time) shownTime {
	return shownTime{Datetime: t.Format(time.RFC3339), Text: l.Time(t)}
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
	this := s.thisSession(r)
	overview, err := s.accounts.OwnAccount.Overview(r.Context(), a, this)
	if err != nil {
		return err
	}
	data.Factors, data.Overview = overview.Factors, overview
	data.Browsers = s.browserLists(r, overview, this, false)
	l := s.site.Localizer(r)
	for _, e := range overview.History {
		data.History = append(data.History, signInRow{At: showTime(l, e.At), Succeeded: e.Succeeded, Place: l.Place(e.ClientIP), Device: l.Device(e.UserAgent)})
	}
	p := s.site.NewPage(r, "account_title", data)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "account", p)
	return nil
}
