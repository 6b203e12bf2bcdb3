package server

import "github.com/go-chi/chi/v5"

// Routes lists every route, for tests that hold the routes and their documentation together.
func (s *Server) Routes() chi.Routes { return s.router }
