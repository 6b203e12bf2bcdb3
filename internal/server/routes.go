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

	// Pages.
	r.Group(func(r chi.Router) {
		r.Use(page)
		r.Get("/", s.handle(s.home))
		r.Get("/help", s.handle(s.help))

		r.Get("/login", s.handle(s.loginForm))
		r.Post("/login", s.handle(s.loginSubmit))
		r.Post("/logout", s.handle(s.logout))
		r.Get("/login/totp", s.handle(s.loginTOTP))
		r.Post("/login/totp", s.handle(s.loginTOTP))

		// Self-service: each answers the same whatever the username (SECURITY.md 9).
		r.Get("/login/code", s.handle(s.codeStart(loginCodeFlow)))
		r.Post("/login/code", s.handle(s.codeStart(loginCodeFlow)))
		r.Get("/login/code/verify", s.handle(s.codeVerifyForm(loginCodeFlow)))
		r.Post("/login/code/verify", s.handle(s.loginCodeVerify))
		r.Get("/unlock", s.handle(s.codeStart(unlockFlow)))
		r.Post("/unlock", s.handle(s.codeStart(unlockFlow)))
		r.Get("/unlock/verify", s.handle(s.codeVerifyForm(unlockFlow)))
		r.Post("/unlock/verify", s.handle(s.unlockVerify))
		r.Get("/status", s.handle(s.codeStart(statusFlow)))
		r.Post("/status", s.handle(s.codeStart(statusFlow)))
		r.Get("/status/verify", s.handle(s.codeVerifyForm(statusFlow)))
		r.Post("/status/verify", s.handle(s.statusVerify))
		r.Get("/reset", s.handle(s.resetStart))
		r.Post("/reset", s.handle(s.resetStart))
		r.Get("/reset/{token}", s.handle(s.resetForm))
		r.Post("/reset/{token}", s.handle(s.resetSubmit))
		r.Get("/verify", s.handle(s.codeStart(verifyFlow)))
		r.Post("/verify", s.handle(s.codeStart(verifyFlow)))
		r.Get("/verify/verify", s.handle(s.codeVerifyForm(verifyFlow)))
		r.Post("/verify/verify", s.handle(s.verifyVerify))
		r.Get("/help/request", s.handle(s.helpRequest))
		r.Post("/help/request", s.handle(s.helpRequest))

		r.Group(func(r chi.Router) {
			r.Use(s.requireAccount)
			r.Get("/account", s.handle(s.accountPage))
			r.Get("/account/totp", s.handle(s.accountTOTP))
			r.Post("/account/totp", s.handle(s.accountTOTP))
			r.Get("/account/totp/qr.png", s.handle(s.accountTOTPQR))
			r.Post("/account/recovery-codes", s.handle(s.accountRecoveryCodes))
			r.Post("/account/recovery-codes/download", s.handle(s.accountRecoveryDownload))
			r.Post("/account/devices/{id}/forget", s.handle(s.accountForgetDevice))
			r.Post("/account/sessions/{id}/end", s.handle(s.accountEndSession))
			r.Get("/account/contact", s.handle(s.accountContact))
			r.Post("/account/contact", s.handle(s.accountContact))
			r.Post("/account/contact/verify", s.handle(s.accountContactVerify))
			r.Get("/account/password", s.handle(s.accountPassword))
			r.Post("/account/password", s.handle(s.accountPassword))
		})
	})

	// Every POST must come from our own pages (SECURITY.md 18).
	cop := http.NewCrossOriginProtection()
	_ = cop.AddTrustedOrigin(s.cfg.BaseURL.Scheme + "://" + s.cfg.BaseURL.Host)
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.log.Warn("cross-origin request refused", "method", req.Method, "path", req.URL.Path,
			"origin", req.Header.Get("Origin"), "client_ip", s.clientIP(req))
		securityHeaders(s.cfg.CookieSecure)(s.language(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			s.renderStatus(w, req, http.StatusForbidden)
		}))).ServeHTTP(w, req)
	}))
	return cop.Handler(r)
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}
