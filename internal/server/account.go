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
}

// accountPage shows the signed-in user's account and what its state means.
func (s *accountPages) accountPage(w http.ResponseWriter, r *http.Request) error {
	a := site.CurrentAccount(r)
	data := accountData{State: a.EffectiveState(s.accounts.Now())}
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
