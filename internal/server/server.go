// Package server is unlockd's HTTP face: the chi router (routes.go), middleware, one file per flow,
// template rendering, and the one place that turns errors into pages. It talks to the domain through
// account.Service and never to the database directly.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/server/api"
	"github.com/unlockd/unlockd/internal/server/dashboard"
	"github.com/unlockd/unlockd/internal/server/site"
)

// Readiness reports whether the service can do its work (database reachable, schema current).
type Readiness func(ctx context.Context) error

// Deps is what the server needs; the CLI wires it.
type Deps struct {
	Config   *config.Config
	Accounts *account.Service
	Sessions scs.Store
	Ready    Readiness
	Log      *slog.Logger
	Metrics  *Metrics // served at /metrics unless UNLOCKD_METRICS_LISTEN moves it
}

// Server serves unlockd's pages.
type Server struct {
	cfg       *config.Config
	accounts  *account.Service
	site      *site.Site
	api       *api.API
	dashboard *dashboard.Dashboard
	sessions  *scs.SessionManager
	ready     Readiness
	log       *slog.Logger
	metrics   *Metrics
	router    chi.Routes
	handler   http.Handler
}

// New builds the server: it parses every template and loads every translation now, so a missing
// one stops start-up instead of failing on a page.
func New(d Deps) (*Server, error) {
	s := &Server{cfg: d.Config, accounts: d.Accounts, ready: d.Ready, log: d.Log, metrics: d.Metrics}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	st, err := site.New(site.Deps{Config: d.Config, Accounts: d.Accounts, Sessions: d.Sessions, Log: s.log})
	if err != nil {
		return nil, err
	}
	s.site, s.sessions = st, st.Sessions()
	s.api = api.New(d.Config, d.Accounts, st, s.log)
	s.dashboard = dashboard.New(d.Accounts, st, s.log)
	s.handler = s.routes()
	return s, nil
}

// SessionCodec is the codec the session store must use to read the account id out of session data.
func SessionCodec() scs.Codec { return site.SessionCodec() }

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
