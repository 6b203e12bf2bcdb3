package server

import (
	_ "embed"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
)

//go:embed openapi.json
var openAPI []byte

// apiRoutes is /api/v1. Each route names the roles that may call it (SECURITY.md 20).
func (s *Server) apiRoutes(r chi.Router) {
	r.Get("/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.apiAuth)
		r.With(apiRoles(allStaff...)).Get("/accounts/{username}", s.apiGetAccount)
		r.With(apiRoles(account.RoleService, account.RoleAdmin)).Put("/accounts/{username}", s.apiPutAccount)
		r.With(apiRoles(account.RoleHelpdesk, account.RoleAdmin)).Post("/accounts/{username}/unlock", s.apiUnlock)
		r.With(apiRoles(account.RoleAdmin)).Post("/accounts/{username}/lock", s.apiLock)
		r.With(apiRoles(account.RoleService), s.apiDuringMaintenance).Post("/authenticate", s.apiAuthenticate)
		r.With(apiRoles(account.RoleAuditor, account.RoleAdmin)).Get("/audit", s.apiAudit)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusNotFound, "not_found", "No such route.")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusMethodNotAllowed, "invalid", "Method not allowed.")
	})
}
