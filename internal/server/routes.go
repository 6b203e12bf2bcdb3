package server

import (
	_ "embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/web"
)

//go:embed openapi.json
var openAPI []byte

// routes is every URL unlockd answers, readable top to bottom: each path is written out whole, so
// that searching for a path finds where it is routed. A form's page and its submission are two
// handlers, fooForm and fooSubmit.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	s.router = r
	r.Use(s.logRequests, securityHeaders(s.cfg.CookieSecure), limitBody)
	// Error pages speak the visitor's language and know who is signed in, like every other page;
	// under /api/v1 they are the API's JSON.
	page := func(h http.Handler) http.Handler { return s.language(s.sessions.LoadAndSave(s.loadAccount(h))) }
	notFound := page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderStatus(w, r, http.StatusNotFound)
	}))
	methodNotAllowed := page(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderStatus(w, r, http.StatusMethodNotAllowed)
	}))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			apiError(w, http.StatusNotFound, "not_found", "No such route.")
			return
		}
		notFound.ServeHTTP(w, r)
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			apiError(w, http.StatusMethodNotAllowed, "invalid", "Method not allowed.")
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
	r.Get("/api/v1/openapi.json", apiOpenAPI)
	r.Group(func(r chi.Router) {
		r.Use(s.apiAuth)
		r.With(apiRoles(allStaff...)).Get("/api/v1/accounts/{username}", s.apiGetAccount)
		r.With(apiRoles(account.RoleService, account.RoleAdmin)).Put("/api/v1/accounts/{username}", s.apiPutAccount)
		r.With(apiRoles(account.RoleHelpdesk, account.RoleAdmin)).Post("/api/v1/accounts/{username}/unlock", s.apiUnlock)
		r.With(apiRoles(account.RoleAdmin)).Post("/api/v1/accounts/{username}/lock", s.apiLock)
		r.With(apiRoles(account.RoleService), s.apiDuringMaintenance).Post("/api/v1/authenticate", s.apiAuthenticate)
		r.With(apiRoles(account.RoleAuditor, account.RoleAdmin)).Get("/api/v1/audit", s.apiAudit)
	})

	// Pages: a session, a language, the signed-in account if any. Submissions of sign-in and
	// unlock pause while a maintenance window runs.
	r.Group(func(r chi.Router) {
		r.Use(page)
		r.Get("/", s.handle(s.home))
		r.Get("/help", s.handle(s.help))

		r.Get("/login", s.handle(s.loginForm))
		r.With(s.duringMaintenance).Post("/login", s.handle(s.loginSubmit))
		r.Get("/login/totp", s.handle(s.loginTOTPForm))
		r.With(s.duringMaintenance).Post("/login/totp", s.handle(s.loginTOTPSubmit))
		r.Post("/logout", s.handle(s.logout))

		// Self-service: each answers the same whatever the username (SECURITY.md 9).
		r.Get("/login/code", s.handle(s.codeStartForm(loginCodeFlow)))
		r.With(s.duringMaintenance).Post("/login/code", s.handle(s.codeStartSubmit(loginCodeFlow)))
		r.Get("/login/code/verify", s.handle(s.codeVerifyForm(loginCodeFlow)))
		r.With(s.duringMaintenance).Post("/login/code/verify", s.handle(s.loginCodeVerify))

		r.Get("/unlock", s.handle(s.codeStartForm(unlockFlow)))
		r.With(s.duringMaintenance).Post("/unlock", s.handle(s.codeStartSubmit(unlockFlow)))
		r.Get("/unlock/verify", s.handle(s.codeVerifyForm(unlockFlow)))
		r.With(s.duringMaintenance).Post("/unlock/verify", s.handle(s.unlockVerify))

		r.Get("/status", s.handle(s.codeStartForm(statusFlow)))
		r.Post("/status", s.handle(s.codeStartSubmit(statusFlow)))
		r.Get("/status/verify", s.handle(s.codeVerifyForm(statusFlow)))
		r.Post("/status/verify", s.handle(s.statusVerify))

		r.Get("/reset", s.handle(s.resetStartForm))
		r.Post("/reset", s.handle(s.resetStartSubmit))
		r.Get("/reset/{token}", s.handle(s.resetForm))
		r.Post("/reset/{token}", s.handle(s.resetSubmit))

		r.Get("/verify", s.handle(s.codeStartForm(verifyFlow)))
		r.Post("/verify", s.handle(s.codeStartSubmit(verifyFlow)))
		r.Get("/verify/verify", s.handle(s.codeVerifyForm(verifyFlow)))
		r.Post("/verify/verify", s.handle(s.verifyVerify))

		r.Get("/help/request", s.handle(s.helpRequestForm))
		r.Post("/help/request", s.handle(s.helpRequestSubmit))

		// The signed-in user's own account.
		r.Group(func(r chi.Router) {
			r.Use(s.requireAccount)
			r.Get("/account", s.handle(s.accountPage))
			r.Get("/account/totp/qr.png", s.handle(s.accountTOTPQR))
			r.Post("/account/recovery-codes/download", s.handle(s.accountRecoveryDownload))
			r.Post("/account/devices/{id}/forget", s.handle(s.accountForgetDevice))
			r.Post("/account/sessions/{id}/end", s.handle(s.accountEndSession))
			r.Post("/account/contact/verify", s.handle(s.accountContactVerify))
			r.Get("/account/password", s.handle(s.accountPasswordForm))
			r.Post("/account/password", s.handle(s.accountPasswordSubmit))

			// Sensitive changes: a recent proof of the password too (SECURITY.md 14).
			r.Group(func(r chi.Router) {
				r.Use(s.requireFreshAuth)
				r.Get("/account/totp", s.handle(s.accountTOTPForm))
				r.Post("/account/totp", s.handle(s.accountTOTPSubmit))
				r.Post("/account/recovery-codes", s.handle(s.accountRecoveryCodes))
				r.Get("/account/contact", s.handle(s.accountContactForm))
				r.Post("/account/contact", s.handle(s.accountContactSubmit))
			})
		})

		// The dashboard: signed-in staff with a second factor, grouped by the roles that may use each
		// route (SECURITY.md 20). Changes also need a recent sign-in (staffForm).
		r.Group(func(r chi.Router) {
			r.Use(s.requireStaff(allStaff...))
			r.Get("/admin", s.handle(s.adminOverview))
			r.Get("/admin/", s.handle(s.adminOverview)) // as it always has, for old bookmarks
			r.Get("/admin/accounts", s.handle(s.adminAccounts))
			r.Get("/admin/accounts/{username}", s.handle(s.adminAccount))
			// Who may take which action is actionRoles.
			r.Post("/admin/accounts/{username}/{action}", s.handle(s.adminAction))
			r.Get("/admin/requests", s.handle(s.adminRequests))
			r.Get("/admin/policy", s.handle(s.adminPolicyForm))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.requireStaff(helpdeskPlus...))
			r.Post("/admin/bulk-unlock", s.handle(s.adminBulkUnlock))
			r.Post("/admin/requests/{id}/{decision}", s.handle(s.adminDecide))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.requireStaff(auditorPlus...))
			r.Get("/admin/audit", s.handle(s.adminAudit))
			r.Get("/admin/audit.csv", s.handle(s.adminAuditCSV))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.requireStaff(adminOnly...))
			r.Get("/admin/unlock-all", s.handle(s.adminUnlockAllForm))
			r.Post("/admin/unlock-all", s.handle(s.adminUnlockAllSubmit))
			r.Get("/admin/staff", s.handle(s.adminStaffList))
			r.Post("/admin/staff", s.handle(s.adminStaffSubmit))
			r.Get("/admin/tokens", s.handle(s.adminTokensList))
			r.Post("/admin/tokens", s.handle(s.adminTokensSubmit))
			r.Get("/admin/maintenance", s.handle(s.adminMaintenanceList))
			r.Post("/admin/maintenance", s.handle(s.adminMaintenanceSubmit))
			r.Post("/admin/policy", s.handle(s.adminPolicySubmit))
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

// isAPI reports whether a request is for the JSON API, whose errors are JSON too.
func isAPI(r *http.Request) bool {
	return r.URL.Path == "/api/v1" || strings.HasPrefix(r.URL.Path, "/api/v1/")
}

func apiOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}
