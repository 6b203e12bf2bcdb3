// Package server is unlockd's HTTP face: the chi router (routes.go), middleware, one file per flow,
// template rendering, and the one place that turns errors into pages. It talks to the domain through
// account.Service and never to the database directly.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/i18n"
)

// Readiness reports whether the service can do its work (database reachable, schema current).
type Readiness func(ctx context.Context) error

// Deps is what the server needs; the CLI wires it.
type Deps struct {
	Config   *config.Config
	Accounts *account.Services
	Sessions scs.Store
	Ready    Readiness
	Log      *slog.Logger
	Metrics  *Metrics // served at /metrics unless UNLOCKD_METRICS_LISTEN moves it
}

// Server serves unlockd's pages.
type Server struct {
	cfg      *config.Config
	accounts *account.Services
	sessions *scs.SessionManager
	ready    Readiness
	log      *slog.Logger
	bundle   *i18n.Bundle
	views    *views
	proxies  *clientIPResolver
	metrics  *Metrics
	router   chi.Routes
	handler  http.Handler
	maint    *maintenanceCache
}

// Session lifetimes (SECURITY.md 17): users 30 min idle / 12 h absolute; staff 15 min / 8 h.
const (
	userIdleTimeout      = 30 * time.Minute
	userAbsoluteTimeout  = 12 * time.Hour
	staffIdleTimeout     = 15 * time.Minute
	staffAbsoluteTimeout = 8 * time.Hour
)

// New builds the server: it parses every template and loads every translation now, so a missing
// one stops start-up instead of failing on a page.
func New(d Deps) (*Server, error) {
	bundle, err := loadBundle()
	if err != nil {
		return nil, err
	}
	v, err := parseViews()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: d.Config, accounts: d.Accounts, ready: d.Ready, log: d.Log, bundle: bundle, views: v,
		proxies: newClientIPResolver(d.Config.TrustedProxies), metrics: d.Metrics}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.maint = newMaintenanceCache(s.accounts.Maintenance.CurrentMaintenance, s.log)
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
		s.renderError(w, r, fmt.Errorf("session: %w", err))
	}
	s.handler = s.routes()
	return s, nil
}

// SessionCodec is the codec the session store must use to read the account id out of session data.
func SessionCodec() scs.Codec { return scs.GobCodec{} }

// Handler is the whole site.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve answers on ln until ctx ends, then stops accepting and lets in-flight requests finish
// (up to the configured shutdown timeout).
func (s *Server) Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	timeout := time.Duration(s.cfg.ShutdownTimeoutS) * time.Second
	shutdownCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return err
}
