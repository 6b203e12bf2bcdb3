// Package site is what every part of unlockd's HTTP face shares: rendering a page in the visitor's
// language, the handle wrapper and the one error table, the session and its helpers, the signed-in
// account in the request's context, form helpers, the client's address and the maintenance window.
// The self-service pages (package server), the dashboard and the API build on it; it knows none of
// them.
package site

import (
	"context"
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
	Sessions scs.CtxStore
	Log      *slog.Logger
	// Unavailable, when not nil, is told of each request answered 503 because a dependency (the
	// database, the directory) was unavailable, with where it was answered: "page" or "api".
	Unavailable func(where string)
}

// Site holds what the handlers share: the session manager, the translations, the parsed templates,
// the client address resolver and the maintenance window's cache.
type Site struct {
	cfg      *config.Config
	accounts *account.Services
	sessions *scs.SessionManager
	log      *slog.Logger
	bundle   *i18n.Bundle
	views    views
	proxies  *clientIPResolver
	// unavailable counts answers that a dependency was unavailable (Deps.Unavailable).
	unavailable func(where string)
	// Maintenance is the current maintenance window, cached; Flashes carry a message to the next page.
	Maintenance *MaintenanceCache
	Flashes     *Flashes
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
	v, err := parseViews(bundle)
	if err != nil {
		return nil, err
	}
	s := &Site{cfg: d.Config, accounts: d.Accounts, log: d.Log, bundle: bundle, views: v,
		proxies: newClientIPResolver(d.Config.TrustedProxies), unavailable: d.Unavailable}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.Maintenance = newMaintenanceCache(s.accounts.Maintenance.CurrentMaintenance, s.accounts.Now, s.log)
	s.sessions = scs.New()
	s.Flashes = &Flashes{sessions: s.sessions, localizer: s.Localizer}
	// No scs IdleTimeout: with one, scs saves every session at every request only to move its idle
	// deadline. idleExpiry gives every save that deadline instead, and LoadAccount saves a session
	// again once its deadline would move by a minute or more (keepAlive).
	s.sessions.Store = idleExpiry{CtxStore: d.Sessions, idle: userIdleTimeout}
	s.sessions.Lifetime = userAbsoluteTimeout
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

// idleExpiry is the session store, saving each session to expire after the idle timeout unless
// its absolute deadline comes first, as scs's IdleTimeout would.
type idleExpiry struct {
	scs.CtxStore
	idle time.Duration
}

func (s idleExpiry) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if idle := time.Now().Add(s.idle).UTC(); idle.Before(expiry) {
		expiry = idle
	}
	return s.CtxStore.CommitCtx(ctx, token, b, expiry)
}

func (s idleExpiry) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
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
