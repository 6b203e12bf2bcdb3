package site

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
)

// contentSecurityPolicy allows nothing inline and nothing from elsewhere.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// SecurityHeaders sets the headers every response carries (SECURITY.md 19).
func SecurityHeaders(secure bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
			if secure {
				h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// StatusRecorder remembers the status for the request log.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
}

func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// LogRequests writes one line per request and turns a panic into a clean 500 page.
func (s *Site) LogRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &StatusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "path", LoggedPath(r), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if rec.Status == 0 {
					s.RenderError(rec, r, fmt.Errorf("panic: %v", v))
				}
			}
			if r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/static/") {
				return
			}
			s.log.Info("request", "method", r.Method, "path", LoggedPath(r), "status", rec.Status,
				"duration_ms", time.Since(start).Milliseconds(), "client_ip", s.ClientIP(r))
		}()
		next.ServeHTTP(rec, r)
	})
}

// LoggedPath is a request's path as logs may hold it: a reset link's token is a secret
// (SECURITY.md 22), so it is left out.
func LoggedPath(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/reset/") {
		return "/reset/(token)"
	}
	return r.URL.Path
}

// LimitBody bounds request bodies: no form of unlockd needs more than 64 KiB.
func LimitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		next.ServeHTTP(w, r)
	})
}

type ctxKey int

const (
	ctxLang ctxKey = iota
	ctxAccount
)

const langCookie = "unlockd_lang"

// Language picks the page language: a ?lang= link (remembered in a cookie), then the cookie, then
// the browser's Accept-Language.
func (s *Site) Language(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := ""
		if q := r.URL.Query().Get("lang"); q != "" {
			if l, ok := i18n.Supported(q); ok {
				lang = l
				http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/", MaxAge: 365 * 24 * 3600,
					HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode})
			}
		}
		if lang == "" {
			if c, err := r.Cookie(langCookie); err == nil {
				if l, ok := i18n.Supported(c.Value); ok {
					lang = l
				}
			}
		}
		if lang == "" {
			lang = i18n.Match(r.Header.Get("Accept-Language"))
		}
		w.Header().Add("Vary", "Accept-Language, Cookie")
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxLang, lang)))
	})
}

// Localizer speaks the request's language, and writes times in the reader's zone (zoneOf).
func (s *Site) Localizer(r *http.Request) *i18n.Localizer {
	lang, _ := r.Context().Value(ctxLang).(string)
	return s.bundle.Localizer(lang).In(s.zoneOf(r)).Now(s.accounts.Now)
}

// zoneOf is the zone times are shown and read in for this request: the one the signed-in person
// chose on /account, else the configured one (UNLOCKD_TIMEZONE, UTC by default).
func (s *Site) zoneOf(r *http.Request) *time.Location {
	if a := CurrentAccount(r); a != nil {
		if zone, ok := account.TimeZone(a.TimeZone); ok {
			return zone
		}
	}
	if s.cfg.Timezone == nil {
		return time.UTC
	}
	return s.cfg.Timezone
}

// ParseLocalTime reads a date and time typed into a form (2006-01-02T15:04, or RFC 3339) in the
// reader's zone, the one the form names.
func (s *Site) ParseLocalTime(r *http.Request, v string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02T15:04", v, s.zoneOf(r))
	if err != nil {
		t, err = time.Parse(time.RFC3339, v)
	}
	return t, err
}

// Session keys.
const (
	SessAccountID = "account_id" // postgres.SessionAccountKey: the store indexes it
	SessEpoch     = "epoch"      // the account's session epoch at sign-in
	SessAuthAt    = "auth_at"    // when the password was last proven (unix seconds)
	SessSeenAt    = "seen_at"    // last request, to the minute (unix seconds; see keepAlive)
	sessFlash     = "flash"
	// SessPreviousSignIn is the sign-in before this session's (unix seconds), shown on /account.
	SessPreviousSignIn = "previous_sign_in"
)

// LoadAccount puts the signed-in account, if any, into the request context. A session whose
// account is gone or may no longer sign in is ended; staff sessions get the shorter timeouts.
func (s *Site) LoadAccount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		id := s.sessions.GetInt64(ctx, SessAccountID)
		if id == 0 {
			s.keepAlive(ctx, s.accounts.Now())
			next.ServeHTTP(w, r)
			return
		}
		a, err := s.accounts.Accounts.AccountByID(ctx, id)
		if account.ErrorCode(err) == account.ENOTFOUND {
			s.EndSession(w, r)
			next.ServeHTTP(w, r)
			return
		} else if err != nil {
			s.RenderError(w, r, err)
			return
		}
		now := s.accounts.Now()
		if !sessionStillValid(a, now, s.sessions.GetInt64(ctx, SessAuthAt), s.sessions.GetInt64(ctx, SessSeenAt)) ||
			!account.SessionCurrent(a.SessionEpoch, s.sessions.GetInt64(ctx, SessEpoch)) {
			s.EndSession(w, r)
			next.ServeHTTP(w, r)
			return
		}
		s.keepAlive(ctx, now)
		next.ServeHTTP(w, r.WithContext(WithAccount(ctx, a)))
	})
}

// keepAliveStep is how stale SessSeenAt may be before a request writes it again.
const keepAliveStep = time.Minute

// keepAlive notes a request in a stored session when the last one noted is a minute old or more.
// Noting it saves the session, which moves its idle deadline (idleExpiry); in between the session
// is saved only when a handler changes it. So a session expires between the idle timeout less a
// minute and the idle timeout after its last request, and a staff session is held to its idle
// timeout a minute early at most: never later.
func (s *Site) keepAlive(ctx context.Context, now time.Time) {
	if s.sessions.Token(ctx) == "" {
		return // a new session: it is saved only if a handler puts something in it
	}
	if now.Sub(time.Unix(s.sessions.GetInt64(ctx, SessSeenAt), 0)) >= keepAliveStep {
		s.sessions.Put(ctx, SessSeenAt, now.Unix())
	}
}

// sessionStillValid applies the rules a session must keep meeting after sign-in: the one rule of
// who may sign in (account.SessionAllowed), and the staff timeouts.
func sessionStillValid(a *account.Account, now time.Time, authAt, seenAt int64) bool {
	if !account.SessionAllowed(a, now) {
		return false
	}
	if a.Role.IsStaff() {
		if now.Sub(time.Unix(authAt, 0)) > staffAbsoluteTimeout || now.Sub(time.Unix(seenAt, 0)) > staffIdleTimeout {
			return false
		}
	}
	return true
}

// EndSession ends the browser's session on the server.
func (s *Site) EndSession(w http.ResponseWriter, r *http.Request) {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		s.log.Warn("end session", "err", err)
	}
}

// CurrentAccount is the signed-in account, or nil.
func CurrentAccount(r *http.Request) *account.Account {
	a, _ := r.Context().Value(ctxAccount).(*account.Account)
	return a
}

// WithAccount is ctx with a as the signed-in account (nil: none).
func WithAccount(ctx context.Context, a *account.Account) context.Context {
	return context.WithValue(ctx, ctxAccount, a)
}

// clientIPResolver finds the client's address: the peer, or, when the peer is a trusted proxy, the
// nearest untrusted address in X-Forwarded-For.
type clientIPResolver struct{ trusted []netip.Prefix }

func newClientIPResolver(trusted []netip.Prefix) *clientIPResolver {
	return &clientIPResolver{trusted: trusted}
}

func (c *clientIPResolver) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *clientIPResolver) resolve(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !c.isTrusted(peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer.String()
		}
		a = a.Unmap()
		if !c.isTrusted(a) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

// ClientIP is the client's address (see clientIPResolver).
func (s *Site) ClientIP(r *http.Request) string { return s.proxies.resolve(r) }
