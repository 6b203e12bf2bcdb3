package site

import (
	"errors"
	"net/http"
	"strings"
	"time"
)

// freshAuth is how recent the last proof must be for a sensitive change (SECURITY.md 14).
const freshAuth = 10 * time.Minute

// RecentlyAuthenticated reports whether the session proved the password (or a code) lately.
func (s *Site) RecentlyAuthenticated(r *http.Request) bool {
	at := time.Unix(s.sessions.GetInt64(r.Context(), SessAuthAt), 0)
	return s.accounts.Now().Sub(at) <= freshAuth
}

// NeedFreshAuth asks for the password again before a sensitive change. A submission ends the
// session and goes to the sign-in page. A page asked for (GET) only says so, with a button that
// does it (POST /login/again): a link or a redirect from another site, which the session cookie
// follows, must not sign anyone out (no GET changes state).
func (s *Site) NeedFreshAuth(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		w.Header().Set("Cache-Control", "no-store")
		s.Render(w, r, http.StatusOK, "reauth", s.NewPage(r, "reauth_title", nil))
		return
	}
	s.EndSession(w, r)
	s.Flashes.Put(r, "info", "reauth_needed")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// FormErrorStatus tells a body that is too large from one that cannot be parsed.
func FormErrorStatus(err error) int {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// ClipForm keeps a re-shown field valid and bounded.
func ClipForm(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
