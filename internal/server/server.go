// Package server is unlockd's HTTP face: the one route table (routes.go), the self-service pages
// (one file per flow) and the wiring of the rest. The dashboard (package dashboard) and the JSON
// API (package api) are routed here too; rendering, the one error table, sessions and the other
// shared helpers are package site. It talks to the domain through account.Service and never to the
// database directly.
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
	Accounts *account.Services
	Sessions scs.CtxStore
	Ready    Readiness
	Log      *slog.Logger
	Metrics  *Metrics // served at /metrics unless UNLOCKD_METRICS_LISTEN moves it
}

// Server serves unlockd: it wires the shared site, the self-service pages, the dashboard and the
// API, and routes every request (routes.go). It answers the operations endpoints and the landing
// pages itself.
type Server struct {
	pages
	ready        Readiness
	metrics      *Metrics
	router       chi.Routes
	handler      http.Handler
	signIn       *signInPages
	recovery     *recoveryPages
	reset        *resetPages
	helpRequests *helpRequestPages
	accountPages *accountPages
	factorPages  *factorPages
	dashboard    *dashboard.Dashboard
	api          *api.API
}

// pages is what every self-service handler holds.
type pages struct {
	cfg      *config.Config
	accounts *account.Services
	site     *site.Site
	sessions *scs.SessionManager
	log      *slog.Logger
}

// signOut ends the browser's session on the server and sends it to the sign-in page, which says
// messageID (a flash of kind).
func (p *pages) signOut(w http.ResponseWriter, r *http.Request, kind, messageID string) error {
	if err := p.sessions.Destroy(r.Context()); err != nil {
		return err
	}
	p.site.Flashes.Put(r, kind, messageID)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// signInPages signs browsers in and out: the password, the second step, a sign-in code.
type signInPages struct {
	pages
	flows *recoveryPages // a sign-in code is a code flow
}

// recoveryPages are the ways back in for a visitor who is not signed in that prove who they are
// with a code: unlock, status, sign-in code and verification.
type recoveryPages struct{ pages }

// resetPages are the other way back in: a new password through a link to the address on file.
type resetPages struct{ pages }

// helpRequestPages send an unlock request to the administrators and follow it, when self-service
// cannot help.
type helpRequestPages struct{ pages }

// accountPages are the signed-in user's own account: its page, the password, the contact,
// devices and sessions.
type accountPages struct{ pages }

// factorPages are the signed-in user's second factors: the authenticator app and recovery codes.
type factorPages struct{ pages }

// New builds the server: it parses every template and loads every translation now, so a missing
// one stops start-up instead of failing on a page.
func New(d Deps) (*Server, error) {
	s := &Server{pages: pages{cfg: d.Config, accounts: d.Accounts, log: d.Log}, ready: d.Ready, metrics: d.Metrics}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	st, err := site.New(site.Deps{Config: d.Config, Accounts: d.Accounts, Sessions: d.Sessions, Log: s.log,
		Unavailable: s.metrics.UnavailableAnswer})
	if err != nil {
		return nil, err
	}
	s.site, s.sessions = st, st.Sessions()
	s.recovery = &recoveryPages{s.pages}
	s.reset = &resetPages{s.pages}
	s.helpRequests = &helpRequestPages{s.pages}
	s.signIn = &signInPages{pages: s.pages, flows: s.recovery}
	s.accountPages = &accountPages{s.pages}
	s.factorPages = &factorPages{s.pages}
	s.dashboard = dashboard.New(d.Accounts, st, s.log)
	s.api = api.New(d.Config, d.Accounts, st, s.log)
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
