package server

import "net/http"

// home is the landing page: the ways forward for someone who is locked out.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	p := s.newPage(r, "home_title", nil)
	p.Flash = s.popFlash(r)
	s.render(w, r, http.StatusOK, "home", p)
	return nil
}

// help explains why accounts lock and how to avoid it.
func (s *Server) help(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "help", s.newPage(r, "help_title", nil))
	return nil
}
