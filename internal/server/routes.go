package server

import (
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/web"
)

// routes is every URL unlockd answers, readable top to bottom.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	s.router = r
	r.Use(s.logRequests, securityHeaders(s.cfg.CookieSecure), limitBody)
	// Error pages speak the visitor's language and know who is signed in, like every other page.
	page := func(h http.Handler) http.Handler { return s.language(s.sessions.LoadAndSave(s.loadAccount(h))) }
	r.NotFound(page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderStatus(w, r, http.StatusNotFound)
	})).ServeHTTP)
	r.MethodNotAllowed(page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderStatus(w, r, http.StatusMethodNotAllowed)
	})).ServeHTTP)

	// Operations: no session, no language.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if s.cfg.MetricsListen == "" {
		r.Handle("/metrics", s.metrics.Handler())
	}
	static, _ := fs.Sub(web.Static, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))

	// The JSON API: bearer tokens, no session, no cookies.
	r.Route("/api/v1", s.apiRoutes)

	// Pages.
	r.Group(func(r chi.Router) {
		r.Use(page)
		r.Get("/", s.handle(s.home))
		r.Get("/help", s.handle(s.help))

		r.Get("/login", s.handle(s.loginForm))
		r.With(s.duringMaintenance).Post("/login", s.handle(s.loginSubmit))
		r.Post("/logout", s.handle(s.logout))
		form(r.With(s.duringMaintenance), "/login/totp", s.handle(s.loginTOTP))

		// Self-service: each answers the same whatever the username (SECURITY.md 9).
		s.codeRoutes(r.With(s.duringMaintenance), loginCodeFlow, s.loginCodeVerify)
		s.codeRoutes(r.With(s.duringMaintenance), unlockFlow, s.unlockVerify)
		s.codeRoutes(r, statusFlow, s.statusVerify)
		form(r, "/reset", s.handle(s.resetStart))
		r.Get("/reset/{token}", s.handle(s.resetForm))
		r.Post("/reset/{token}", s.handle(s.resetSubmit))
		s.codeRoutes(r, verifyFlow, s.verifyVerify)
		form(r, "/help/request", s.handle(s.helpRequest))

		r.Route("/admin", s.adminRoutes)

		r.Group(func(r chi.Router) {
			r.Use(s.requireAccount)
			r.Get("/account", s.handle(s.accountPage))
			form(r, "/account/totp", s.handle(s.accountTOTP))
			r.Get("/account/totp/qr.png", s.handle(s.accountTOTPQR))
			r.Post("/account/recovery-codes", s.handle(s.accountRecoveryCodes))
			r.Post("/account/recovery-codes/download", s.handle(s.accountRecoveryDownload))
			r.Post("/account/devices/{id}/forget", s.handle(s.accountForgetDevice))
			r.Post("/account/sessions/{id}/end", s.handle(s.accountEndSession))
			form(r, "/account/contact", s.handle(s.accountContact))
			r.Post("/account/contact/verify", s.handle(s.accountContactVerify))
			form(r, "/account/password", s.handle(s.accountPassword))
		})
	})

	// Every POST must come from our own pages (SECURITY.md 18).
	cop := http.NewCrossOriginProtection()
	_ = cop.AddTrustedOrigin(s.cfg.BaseURL.Scheme + "://" + s.cfg.BaseURL.Host)
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.log.Warn("cross-origin request refused", "method", req.Method, "path", loggedPath(req),
			"origin", req.Header.Get("Origin"), "client_ip", s.clientIP(req))
		securityHeaders(s.cfg.CookieSecure)(s.language(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			s.renderStatus(w, req, http.StatusForbidden)
		}))).ServeHTTP(w, req)
	}))
	return cop.Handler(r)
}

// codeRoutes routes a code flow: its start form at flow.path and its code form at path/verify.
func (s *Server) codeRoutes(r chi.Router, flow codeFlow, verify handlerFunc) {
	form(r, flow.path, s.handle(s.codeStart(flow)))
	r.Get(flow.path+"/verify", s.handle(s.codeVerifyForm(flow)))
	r.Post(flow.path+"/verify", s.handle(verify))
}

// form routes a page whose GET shows a form and whose POST handles it.
func form(r chi.Router, path string, h http.HandlerFunc) {
	r.Get(path, h)
	r.Post(path, h)
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}
