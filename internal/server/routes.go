package server

import (
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
	h := s.site.Handle // a handler that returns its error, rendered from the one error table
	r.Use(s.site.LogRequests, site.SecurityHeaders(s.cfg.CookieSecure), site.LimitBody)
	// Error pages speak the visitor's language and know who is signed in, like every other page;
	// under /api/v1 they are the API's JSON.
	page := func(next http.Handler) http.Handler {
		return s.site.Language(s.sessions.LoadAndSave(s.site.LoadAccount(next)))
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
		// Only for this machine: the counters would tell a stranger who exists (localOnly).
		r.Handle("/metrics", s.localOnly(s.metrics.Handler(), r.NotFoundHandler()))
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
		r.Get("/", h(s.home))
		r.Get("/help", h(s.help))

		r.Get("/login", h(s.signIn.loginForm))
		r.With(s.duringMaintenance).Post("/login", h(s.signIn.loginSubmit))
		r.Get("/login/totp", h(s.signIn.loginTOTPForm))
		r.With(s.duringMaintenance).Post("/login/totp", h(s.signIn.loginTOTPSubmit))
		r.Post("/logout", h(s.signIn.logout))
		r.Post("/login/again", h(s.signIn.signInAgain))

		// Self-service: each answers the same whatever the username (SECURITY.md 9).
		r.Get("/login/code", h(s.recovery.codeStartForm(loginCodeFlow)))
		r.With(s.duringMaintenance).Post("/login/code", h(s.recovery.codeStartSubmit(loginCodeFlow)))
		r.Get("/login/code/verify", h(s.recovery.codeVerifyForm(loginCodeFlow)))
		r.With(s.duringMaintenance).Post("/login/code/verify", h(s.signIn.loginCodeVerify))

		r.Get("/unlock", h(s.recovery.codeStartForm(unlockFlow)))
		r.With(s.duringMaintenance).Post("/unlock", h(s.recovery.codeStartSubmit(unlockFlow)))
		r.Get("/unlock/verify", h(s.recovery.codeVerifyForm(unlockFlow)))
		r.With(s.duringMaintenance).Post("/unlock/verify", h(s.recovery.unlockVerify))

		r.Get("/status", h(s.recovery.codeStartForm(statusFlow)))
		r.Post("/status", h(s.recovery.codeStartSubmit(statusFlow)))
		r.Get("/status/verify", h(s.recovery.codeVerifyForm(statusFlow)))
		r.Post("/status/verify", h(s.recovery.statusVerify))
		// The owner who has just proven themselves at /status unlocks without a second code.
		r.With(s.duringMaintenance).Post("/status/unlock", h(s.recovery.statusUnlock))

		r.Get("/reset", h(s.reset.resetStartForm))
		r.Post("/reset", h(s.reset.resetStartSubmit))
		r.Get("/reset/{token}", h(s.reset.resetForm))
		r.Post("/reset/{token}", h(s.reset.resetSubmit))

		r.Get("/verify", h(s.recovery.codeStartForm(verifyFlow)))
		r.Post("/verify", h(s.recovery.codeStartSubmit(verifyFlow)))
		r.Get("/verify/verify", h(s.recovery.codeVerifyForm(verifyFlow)))
		r.Post("/verify/verify", h(s.recovery.verifyVerify))

		r.Get("/help/request", h(s.helpRequests.helpRequestForm))
		r.Post("/help/request", h(s.helpRequests.helpRequestSubmit))
		// Following a request: the reference and the username it was filed for, every lookup counted.
		r.Get("/help/request/status", h(s.helpRequests.helpRequestStatusForm))
		r.Post("/help/request/status", h(s.helpRequests.helpRequestStatusSubmit))

		// The signed-in user's own account.
		r.Group(func(r chi.Router) {
			r.Use(s.requireAccount)
			r.Get("/account", h(s.accountPages.accountPage))
			r.Get("/account/totp/qr.png", h(s.factorPages.accountTOTPQR))
			r.Post("/account/recovery-codes/download", h(s.factorPages.accountRecoveryDownload))
			r.Get("/account/devices", h(s.accountPages.accountBrowsers))
			r.Post("/account/devices/{id}/forget", h(s.accountPages.accountForgetDevice))
			r.Post("/account/sessions/{id}/end", h(s.accountPages.accountEndSession))
			r.Post("/account/sessions/end-others", h(s.accountPages.accountEndOtherSessions))
			r.Post("/account/contact/verify", h(s.accountPages.accountContactVerify))
			r.Post("/account/language", h(s.accountPages.accountLanguage))
			r.Post("/account/time-zone", h(s.accountPages.accountTimeZone))
			r.Get("/account/password", h(s.accountPages.accountPasswordForm))
			r.Post("/account/password", h(s.accountPages.accountPasswordSubmit))

			// Sensitive changes: a recent proof of the password too (SECURITY.md 14).
			r.Group(func(r chi.Router) {
				r.Use(s.requireFreshAuth)
				r.Get("/account/totp", h(s.factorPages.accountTOTPForm))
				r.Post("/account/totp", h(s.factorPages.accountTOTPSubmit))
				r.Post("/account/totp/new", h(s.factorPages.accountTOTPNew))
				r.Post("/account/recovery-codes", h(s.factorPages.accountRecoveryCodes))
				r.Get("/account/contact", h(s.accountPages.accountContactForm))
				r.Post("/account/contact", h(s.accountPages.accountContactSubmit))
			})
		})

		// The dashboard: signed-in staff with a second factor, grouped by the roles that may use each
		// route (SECURITY.md 20). Changes also need a recent sign-in (the dashboard's staffForm).
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.AllStaff...))
			r.Get("/admin", h(s.dashboard.Accounts.Overview))
			r.Get("/admin/", h(s.dashboard.Accounts.Overview)) // as it always has, for old bookmarks
			r.Get("/admin/accounts", h(s.dashboard.Accounts.List))
			r.Get("/admin/accounts/{username}", h(s.dashboard.Accounts.Account))
			// Which actions a role may take on an account in its state is account.StaffActions.
			r.Post("/admin/accounts/{username}/{action}", h(s.dashboard.Accounts.Action))
			r.Get("/admin/requests", h(s.dashboard.Accounts.Requests))
			r.Get("/admin/policy", h(s.dashboard.Settings.PolicyForm))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.HelpdeskPlus...))
			r.Post("/admin/bulk-unlock", h(s.dashboard.Accounts.BulkUnlock))
			r.Post("/admin/requests/{id}/{decision}", h(s.dashboard.Accounts.Decide))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.AuditorPlus...))
			r.Get("/admin/audit", h(s.dashboard.Accounts.Audit))
			r.Get("/admin/audit.csv", h(s.dashboard.Accounts.AuditCSV))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.dashboard.RequireStaff(site.AdminOnly...))
			r.Get("/admin/unlock-all", h(s.dashboard.Accounts.UnlockAllForm))
			r.Post("/admin/unlock-all", h(s.dashboard.Accounts.UnlockAllSubmit))
			r.Get("/admin/staff", h(s.dashboard.Settings.StaffList))
			r.Post("/admin/staff", h(s.dashboard.Settings.StaffSubmit))
			r.Get("/admin/tokens", h(s.dashboard.Settings.TokensList))
			r.Post("/admin/tokens", h(s.dashboard.Settings.TokensSubmit))
			r.Get("/admin/maintenance", h(s.dashboard.Settings.MaintenanceList))
			r.Post("/admin/maintenance", h(s.dashboard.Settings.MaintenanceSubmit))
			r.Post("/admin/policy", h(s.dashboard.Settings.PolicySubmit))
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
