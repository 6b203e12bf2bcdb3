package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// RenderErrorForTest and APIFailForTest are the two writers that answer by the error table.
func (s *Server) RenderErrorForTest(w http.ResponseWriter, r *http.Request, err error) {
	s.site.RenderError(w, r, err)
}

func (s *Server) APIFailForTest(w http.ResponseWriter, r *http.Request, err error) {
	s.api.Fail(w, r, err)
}

// Routes lists every route, for tests that hold the routes and their documentation together.
func (s *Server) Routes() chi.Routes { return s.router }
