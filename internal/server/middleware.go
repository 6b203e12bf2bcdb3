package server

import (
	"net/http"

	"github.com/unlockd/unlockd/internal/server/site"
)

// requireAccount sends visitors who are not signed in to the sign-in page.
func (s *Server) requireAccount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if site.CurrentAccount(r) == nil {
			s.site.Flashes.Put(r, "info", "login_required")
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// requireFreshAuth guards the pages of sensitive changes: without a recent proof the password is
// asked for again (site.NeedFreshAuth: a submission ends the session, a page offers a button that
// does).
func (s *Server) requireFreshAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.site.RecentlyAuthenticated(r) {
			s.site.NeedFreshAuth(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
