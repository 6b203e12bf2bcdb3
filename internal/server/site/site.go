// Package site is what every part of unlockd's HTTP face shares: rendering a page in the visitor's
// language, the handle wrapper and the one error table, the session and its helpers, the signed-in
// account in the request's context, form helpers, the client's address and the maintenance window.
// The self-service pages (package server), the dashboard and the API build on it; it knows none of
// them.
package site

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/i18n"
)

// Deps is what the shared part of the site needs.
type Deps struct {
	Config   *config.Config
	Accounts *account.Services
	Sessions scs.Store
	Log      *slog.Logger
}

// Site holds what the handlers share: the session manager, the translations, the parsed templates,
// the client address resolver and the maintenance window's cache.
type Site struct {
	cfg      *config.Config
	accounts *account.Services
	sessions *scs.SessionManager
	log      *slog.Logger
	bundle   *i18n.Bundle
	views    *views
	proxies  *clientIPResolver
	maint    *maintenanceCache
}

// Session lifetimes (SECURITY.md 17): users 30 min idle / 12 h absolute; staff 15 min / 8 h.
const (
	userIdleTimeout      = 30 * time.Minute
	userAbsoluteTimeout  = 12 * time.Hour
	staffIdleTimeout     = 15 * time.Minute
	staffAbsoluteTimeout = 8 * time.Hour
)

// New parses every template and loads every translation now, so a missing one stops start-up
// instead of failing on a page.
func New(d Deps) (*Site, error) {
	bundle, err := loadBundle()
	if err != nil {
		return nil, err
	}
	v, err := parseViews()
	if err != nil {
		return nil, err
	}
	s := &Site{cfg: d.Config, accounts: d.Accounts, log: d.Log, bundle: bundle, views: v,
		proxies: newClientIPResolver(d.Config.TrustedProxies)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.maint = newMaintenanceCache(s.accounts.Maintenance.CurrentMaintenance, s.accounts.Now, s.log)
	s.sessions = scs.New()
	s.sessions.Store = d.Sessions
	s.sessions.Lifetime = userAbsoluteTimeout
	s.sessions.IdleTimeout = userIdleTimeout
	s.sessions.Cookie.Name = "unlockd_session"
	if d.Config.CookieSecure {
		// __Host- binds the cookie to this exact origin: Secure, Path=/ and no Domain.
		s.sessions.Cookie.Name = "__Host-unlockd_session"
	}
	s.sessions.Cookie.HttpOnly = true
	s.sessions.Cookie.Secure = d.Config.CookieSecure
	s.sessions.Cookie.SameSite = http.SameSiteLaxMode
	s.sessions.Cookie.Path = "/"
	s.sessions.Cookie.Persist = false
	s.sessions.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		s.RenderError(w, r, fmt.Errorf("session: %w", err))
	}
	return s, nil
}

// SessionCodec is the codec the session store must use to read the account id out of session data.
func SessionCodec() scs.Codec { return scs.GobCodec{} }

// Sessions is the session manager: its LoadAndSave middleware, and the values a handler keeps.
func (s *Site) Sessions() *scs.SessionManager { return s.sessions }

// The roles that may use a group of routes (SECURITY.md 20), for the dashboard and the API alike.
var (
	AllStaff     = []account.Role{account.RoleHelpdesk, account.RoleAuditor, account.RoleAdmin}
	HelpdeskPlus = []account.Role{account.RoleHelpdesk, account.RoleAdmin}
	AuditorPlus  = []account.Role{account.RoleAuditor, account.RoleAdmin}
	AdminOnly    = []account.Role{account.RoleAdmin}
)
