// Package dashboard is the staff's pages under /admin: who may enter (RequireStaff), the work on
// accounts (Accounts) and the settings (Settings). It renders and answers errors through package
// site, as the self-service pages do; its routes are registered in package server's routes.go.
package dashboard

import (
	"log/slog"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

// Dashboard is the staff's pages: RequireStaff, which admits staff by role, and the handlers by
// capability. Every handler is reached through RequireStaff with the roles that may use it
// (SECURITY.md 20); a refusal is audited.
type Dashboard struct {
	base
	Accounts *Accounts // the overview, accounts and their actions, unlock requests, the audit log
	Settings *Settings // the policy, staff roles, API tokens, maintenance windows
}

// Accounts is the dashboard's work on accounts: the overview, the search, one account's page and
// its actions, bulk and emergency unlocks, the unlock requests and the audit log.
type Accounts struct{ base }

// Settings is the dashboard's settings: the policy, staff roles, API tokens and maintenance windows.
type Settings struct{ base }

// base is what every dashboard handler holds.
type base struct {
	accounts *account.Services
	site     *site.Site
	log      *slog.Logger
}

// New makes the dashboard's handlers over the shared site.
func New(accounts *account.Services, st *site.Site, log *slog.Logger) *Dashboard {
	b := base{accounts: accounts, site: st, log: log}
	return &Dashboard{base: b, Accounts: &Accounts{b}, Settings: &Settings{b}}
}

// staffActor names the signed-in staff member in the audit log.
func (s *base) staffActor(r *http.Request) account.Actor {
	a := site.CurrentAccount(r)
	return account.Actor{Name: string(a.Role) + ":" + a.Username, Client: s.site.ClientIP(r), Role: a.Role}
}

// RequireStaff admits signed-in staff of the given roles who have a second factor.
func (s *Dashboard) RequireStaff(roles ...account.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := site.CurrentAccount(r)
			if a == nil {
				s.site.Flashes.Put(r, "info", "login_required")
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			w.Header().Set("Cache-Control", "no-store")
			if !a.Role.IsStaff() || !slices.Contains(roles, a.Role) {
				if err := s.accounts.Audit.RecordRefused(r.Context(), s.staffActor(r), r.Method+" "+r.URL.Path, chi.URLParam(r, "username")); err != nil {
					s.log.Error("audit refused action", "err", err)
				}
				s.site.RenderStatus(w, r, http.StatusForbidden)
				return
			}
			second, err := s.accounts.Gate.HasSecondFactor(r.Context(), a.ID)
			if err != nil {
				s.site.RenderError(w, r, err)
				return
			}
			if !second {
				// Staff must have a second factor before they act on anyone's account.
				s.site.Flashes.Put(r, "info", "staff_need_totp")
				http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// staffForm checks that a dashboard change comes from a recent sign-in and reads its form; when it
// returns false it has answered.
func (s *base) staffForm(w http.ResponseWriter, r *http.Request) bool {
	if !s.site.RecentlyAuthenticated(r) {
		s.site.NeedFreshAuth(w, r)
		return false
	}
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return false
	}
	return true
}
