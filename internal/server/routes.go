package server

import (
	_ "embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/api"
	"github.com/unlockd/unlockd/internal/server/site"
	"github.com/unlockd/unlockd/web"
)

// routes is every URL unlockd answers, readable top to bottom: each path is written out whole, so
// that searching for a path finds where it is routed. A form's page and its submission are two
// handlers, fooForm and fooSubmit.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	s.router = r
	r.Use(s.site.LogRequests, site.SecurityHeaders(s.cfg.CookieSecure), site.LimitBody)
	// Error pages speak the visitor's language and know who is signed in, like every other page;
	// under /api/v1 they are the API's JSON.
	page := func(h http.Handler) http.Handler {
		return s.site.Language(s.sessions.LoadAndSave(s.site.LoadAccount(h)))
	}
	notFound := page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.site.RenderStatus(w, r, http.StatusNotFound)
	}))
	methodNotAllowed := page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.site.RenderStatus(w, r, http.StatusMethodNotAllowed)
	}))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			api.Error(w, http.StatusNotFound, "not_found", "No such route.")
			return
		}
		notFound.ServeHTTP(w, r)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			api.Error(w, http.StatusMethodNotAllowed, "invalid", "Method not allowed.")
			return
		}
		methodNotAllowed.ServeHTTP(w, r)
	})

	// Operations: no session, no language.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if s.cfg.MetricsListen == "" {
		r.Handle("/metrics", s.metrics.Handler())
	}
	static, _ := fs.Sub(web.Static, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))

	// The JSON API: bearer tokens, no session, no cookies. Each route names the roles that may call
	// it (SECURITY.md 20).
	r.Get("/api/v1/openapi.json", api.OpenAPI)
	r.Group(func(r chi.Router) {
		r.Use(s.api.Auth)
		r.With(api.Roles(site.AllStaff...)).Get("/api/v1/accounts/{username}", s.api.GetAccount)
		r.With(api.Roles(account.RoleService, account.RoleAdmin)).Put("/api/v1/accounts/{username}", s.api.PutAccount)
		r.With(api.Roles(account.RoleHelpdesk, account.RoleAdmin)).Post("/api/v1/accounts/{username}/unlock", s.api.Unlock)
		r.With(api.Roles(account.RoleAdmin)).Post("/api/v1/accounts/{username}/lock", s.api.Lock)
		r.With(api.Roles(account.RoleService), s.api.DuringMaintenance).Post("/api/v1/authenticate", s.api.Authenticate)
		r.With(api.Roles(account.RoleAuditor, account.RoleAdmin)).Get("/api/v1/audit", s.api.Audit)
	})

	// Pages: a session, a language, the signed-in account if any. Submissions of sign-in and
	// unlock pause while a maintenance window runs.
	r.Group(func(r chi.Router) {
		r.Use(page)
		r.Get("/", s.site.Handle(s.home))
		r.Get("/help", s.site.Handle(s.help))

		r.Get("/login", s.site.Handle(s.loginForm))
		r.With(s.duringMaintenance).Post("/login", s.site.Handle(s.loginSubmit))
		r.Get("/login/totp", s.site.Handle(s.loginTOTPForm))
		r.With(s.duringMaintenance).Post("/login/totp", s.site.Handle(s.loginTOTPSubmit))
		r.Post("/logout", s.site.Handle(s.logout))

		// Self-service: each answers the same whatever the username (SECURITY.md 9).
		r.Get("/login/code", s.site.Handle(s.codeStartForm(loginCodeFlow)))
		r.With(s.duringMaintenance).Post("/login/code", s.site.Handle(s.codeStartSubmit(loginCodeFlow)))
		r.Get("/login/code/verify", s.site.Handle(s.codeVerifyForm(loginCodeFlow)))
		r.With(s.duringMaintenance).Post("/login/code/verify", s.site.Handle(s.loginCodeVerify))

		r.Get("/unlock", s.site.Handle(s.codeStartForm(unlockFlow)))
		r.With(s.duringMaintenance).Post("/unlock", s.site.Handle(s.codeStartSubmit(unlockFlow)))
		r.Get("/unlock/verify", s.site.Handle(s.codeVerifyForm(unlockFlow)))
		r.With(s.duringMaintenance).Post("/unlock/verify", s.site.Handle(s.unlockVerify))

		r.Get("/status", s.site.Handle(s.codeStartForm(statusFlow)))
		r.Post("/status", s.site.Handle(s.codeStartSubmit(statusFlow)))
		r.Get("/status/verify", s.site.Handle(s.codeVerifyForm(statusFlow)))
		r.Post("/status/verify", s.site.Handle(s.statusVerify))

		r.Get("/reset", s.site.Handle(s.resetStartForm))
		r.Post("/reset", s.site.Handle(s.resetStartSubmit))
		r.Get("/reset/{token}", s.site.Handle(s.resetForm))
		r.Post("/reset/{token}", s.site.Handle(s.resetSubmit))

		r.Get("/verify", s.site.Handle(s.codeStartForm(verifyFlow)))
		r.Post("/verify", s.site.Handle(s.codeStartSubmit(verifyFlow)))
		r.Get("/verify/verify", s.site.Handle(s.codeVerifyForm(verifyFlow)))
		r.Post("/verify/verify", s.site.Handle(s.verifyVerify))

		r.Get("/help/request", s.site.Handle(s.helpRequestForm))
		r.Post("/help/request", s.site.Handle(s.helpRequestSubmit))

		// The signed-in user's own account.
		r.Group(func(r chi.Router) {
			r.Use(s.requireAccount)
			r.Get("/account", s.site.Handle(s.accountPage))
			r.Get("/account/totp/qr.png", s.site.Handle(s.accountTOTPQR))
			r.Post("/account/recovery-codes/download", s.site.Handle(s.accountRecoveryDownload))
			r.Post("/account/devices/{id}/forget", s.site.Handle(s.accountForgetDevice))
			r.Post("/account/sessions/{id}/end", s.site.Handle(s.accountEndSession))
			r.Post("/account/contact/verify", s.site.Handle(s.accountContactVerify))
			r.Get("/account/password", s.site.Handle(s.accountPasswordForm))
			r.Post("/account/password", s.site.Handle(s.accountPasswordSubmit))

			// Sensitive changes: a recent proof of the password too (SECURITY.md 14).
			r.Group(func(r chi.Router) {
				r.Use(s.requireFreshAuth)
				r.Get("/account/totp", s.site.Handle(s.accountTOTPForm))
				r.Post("/account/totp", s.site.Handle(s.accountTOTPSubmit))
				r.Post("/account/recovery-codes", s.site.Handle(s.accountRecoveryCodes))
				r.Get("/account/contact", s.site.Handle(s.accountContactForm))
				r.Post("/account/contact", s.site.Handle(s.accountContactSubmit))
			})
		})

		// The dashboard: signed-in staff with a second factor, grouped by the roles that may use each
		// route (SECURITY.md 20). Changes also need a recent sign-in (staffForm).
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.AllStaff...))
			r.Get("/admin", s.site.Handle(s.dashboard.Accounts.Overview))
			r.Get("/admin/", s.site.Handle(s.dashboard.Accounts.Overview)) // as it always has, for old bookmarks
			r.Get("/admin/accounts", s.site.Handle(s.dashboard.Accounts.List))
			r.Get("/admin/accounts/{username}", s.site.Handle(s.dashboard.Accounts.Account))
			// Who may take which action is actionRoles.
			r.Post("/admin/accounts/{username}/{action}", s.site.Handle(s.dashboard.Accounts.Action))
			r.Get("/admin/requests", s.site.Handle(s.dashboard.Accounts.Requests))
			r.Get("/admin/policy", s.site.Handle(s.dashboard.Settings.PolicyForm))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.HelpdeskPlus...))
			r.Post("/admin/bulk-unlock", s.site.Handle(s.dashboard.Accounts.BulkUnlock))
			r.Post("/admin/requests/{id}/{decision}", s.site.Handle(s.dashboard.Accounts.Decide))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.AuditorPlus...))
			r.Get("/admin/audit", s.site.Handle(s.dashboard.Accounts.Audit))
			r.Get("/admin/audit.csv", s.site.Handle(s.dashboard.Accounts.AuditCSV))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.AdminOnly...))
			r.Get("/admin/unlock-all", s.site.Handle(s.dashboard.Accounts.UnlockAllForm))
			r.Post("/admin/unlock-all", s.site.Handle(s.dashboard.Accounts.UnlockAllSubmit))
			r.Get("/admin/staff", s.site.Handle(s.dashboard.Settings.StaffList))
			r.Post("/admin/staff", s.site.Handle(s.dashboard.Settings.StaffSubmit))
			r.Get("/admin/tokens", s.site.Handle(s.dashboard.Settings.TokensList))
			r.Post("/admin/tokens", s.site.Handle(s.dashboard.Settings.TokensSubmit))
			r.Get("/admin/maintenance", s.site.Handle(s.dashboard.Settings.MaintenanceList))
			r.Post("/admin/maintenance", s.site.Handle(s.dashboard.Settings.MaintenanceSubmit))
			r.Post("/admin/policy", s.site.Handle(s.dashboard.Settings.PolicySubmit))
		})
	})

	// Every POST must come from our own pages (SECURITY.md 18).
	cop := http.NewCrossOriginProtection()
	_ = cop.AddTrustedOrigin(s.cfg.BaseURL.Scheme + "://" + s.cfg.BaseURL.Host)
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.log.Warn("cross-origin request refused", "method", req.Method, "path", site.LoggedPath(req),
			"origin", req.Header.Get("Origin"), "client_ip", s.site.ClientIP(req))
		site.SecurityHeaders(s.cfg.CookieSecure)(s.site.Language(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			s.site.RenderStatus(w, req, http.StatusForbidden)
		}))).ServeHTTP(w, req)
	}))
	return cop.Handler(r)
}

// isAPI reports whether a request is for the JSON API, whose errors are JSON too.
func isAPI(r *http.Request) bool {
	return r.URL.Path == "/api/v1" || strings.HasPrefix(r.URL.Path, "/api/v1/")
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}
