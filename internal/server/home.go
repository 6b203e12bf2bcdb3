package server

import "net/http"

// home is the landing page: the ways forward for someone who is locked out.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	p := s.site.NewPage(r, "home_title", nil)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "home", p)
	return nil
}

// help explains why accounts lock and how to avoid it.
func (s *Server) help(w http.ResponseWriter, r *http.Request) error {
	s.site.Render(w, r, http.StatusOK, "help", s.site.NewPage(r, "help_title", nil))
	return nil
}
