package server_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// Every route is registered in routes.go with its whole path written out, so that searching for a
// path finds where it is routed: no path is built at registration, none is routed elsewhere.
func TestEveryRouteIsWrittenOutInRoutesGo(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	n := 0
	err = chi.Walk(h.srv.Routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		n++
		registered := "." + method[:1] + strings.ToLower(method[1:]) + `("` + route + `"`
		if !strings.Contains(string(src), registered) && !strings.Contains(string(src), `.Handle("`+route+`"`) {
			t.Errorf("%s %s: no %s in routes.go", method, route, registered)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 60 {
		t.Fatalf("walked %d routes; the table has more", n)
	}
}

// The table keeps the answers the nested routers gave: the API's errors are JSON under /api/v1
// only, and the dashboard's overview answers at /admin/ too.
func TestRouteEdgesKeepTheirAnswers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, tc := range []struct {
		method, path string
		status       int
		contentType  string
	}{
		{"GET", "/api/v1", http.StatusNotFound, "application/json"},
		{"GET", "/api/v1/", http.StatusNotFound, "application/json"},
		{"GET", "/api/v1/nothing", http.StatusNotFound, "application/json"},
		{"DELETE", "/api/v1/accounts/alice", http.StatusMethodNotAllowed, "application/json"},
		{"POST", "/api/v1/openapi.json", http.StatusMethodNotAllowed, "application/json"},
		{"GET", "/api/v1x", http.StatusNotFound, "text/html; charset=utf-8"},
		{"GET", "/nothing", http.StatusNotFound, "text/html; charset=utf-8"},
		{"PUT", "/unlock", http.StatusMethodNotAllowed, "text/html; charset=utf-8"},
		{"GET", "/admin/nothing", http.StatusNotFound, "text/html; charset=utf-8"},
		{"GET", "/admin", http.StatusSeeOther, ""},
		{"GET", "/admin/", http.StatusSeeOther, ""},
	} {
		res := h.do(h.client(), tc.method, tc.path, nil)
		if res.status != tc.status || (tc.contentType != "" && res.header.Get("Content-Type") != tc.contentType) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, res.status, res.header.Get("Content-Type"), tc.status, tc.contentType)
		}
		if tc.status == http.StatusSeeOther && res.header.Get("Location") != "/login" {
			t.Errorf("%s %s: to %q, want the sign-in page", tc.method, tc.path, res.header.Get("Location"))
		}
	}
}
