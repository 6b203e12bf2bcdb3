package server

import (
	"net/http"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

type accountData struct {
	State       account.State
	LastSignIn  *time.Time
	Factors     account.FactorStatus
	Overview    *account.AccountOverview
	ThisSession string
	// OrganisationZone is the zone times are shown in unless the person chooses one; TimeZones are
	// the choices offered (any IANA name is accepted).
	OrganisationZone string
	TimeZones        []string
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
	data.Factors, data.Overview, data.ThisSession = overview.Factors, overview, s.thisSession(r)
	p := s.site.NewPage(r, "account_title", data)
	p.Flash = s.site.PopFlash(r)
	s.site.Render(w, r, http.StatusOK, "account", p)
	return nil
}
