package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// RenderErrorForTest and APIFailForTest are the two writers that answer by the error table.
func (s *Server) RenderErrorForTest(w http.ResponseWriter, r *http.Request, err error) {
	s.site.RenderError(w, r, err)
}

func (s *Server) APIFailForTest(w http.ResponseWriter, r *http.Request, err error) {
	s.api.Fail(w, r, err)
}

// DomainErrorCodes reads every error code (the E* constants) that internal/account/errors.go
// declares, so that a code added there is a code the tests ask about.
func DomainErrorCodes(tb testing.TB) []string {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../account/errors.go", nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var codes []string
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			for i, name := range v.Names {
				lit, ok := v.Values[i].(*ast.BasicLit)
				if !strings.HasPrefix(name.Name, "E") || !ok || lit.Kind != token.STRING {
					continue
				}
				code, err := strconv.Unquote(lit.Value)
				if err != nil {
					tb.Fatal(err)
				}
				codes = append(codes, code)
			}
		}
	}
	if len(codes) == 0 {
		tb.Fatal("no error codes in internal/account/errors.go")
	}
	return codes
}

// Routes lists every route, for tests that hold the routes and their documentation together.
func (s *Server) Routes() chi.Routes { return s.router }
