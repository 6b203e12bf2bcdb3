package server

import (
	"net/http"
)

// duringMaintenance answers the submissions of sign-in and unlock with the maintenance page (503,
// Retry-After) while a window runs; their forms still show.
func (s *Server) duringMaintenance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, retryAfter := s.site.Maintenance.Active(r)
		if m == nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", retryAfter)
		w.Header().Set("Cache-Control", "no-store")
		s.site.Render(w, r, http.StatusServiceUnavailable, "maintenance", s.site.NewPage(r, "maintenance_title", m))
	})
}
