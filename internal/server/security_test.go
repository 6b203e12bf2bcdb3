package server_test

import (
	"context"

	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	for _, path := range []string{"/", "/login", "/help", "/no-such-page", "/static/css/unlockd.css", "/healthz", "/account"} {
		res := h.get(c, path)
		csp := res.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: weak or missing CSP %q", path, csp)
		}
		if res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", path, res.header.Get("X-Content-Type-Options"))
		}
		if res.header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: no Referrer-Policy", path)
		}
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	form := url.Values{"username": {"alice"}, "password": {goodPassword}}
	for _, hdrs := range [][]string{
		{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-site", "Origin", "https://sub.127.0.0.1.example"},
		{"Origin", "https://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i < len(hdrs); i += 2 {
			req.Header.Set(hdrs[i], hdrs[i+1])
		}
		res, err := h.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("POST with %v: status %d, want 403", hdrs, res.StatusCode)
		}
		if strings.Contains(strings.Join(res.Header.Values("Set-Cookie"), ";"), "unlockd_session") {
			t.Errorf("POST with %v: a session cookie was set", hdrs)
		}
	}
}

func TestLanguageFollowsBrowserAndSwitchIsRemembered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	if res := h.get(c, "/login", "Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5"); !strings.Contains(res.body, `<html lang="zh-CN">`) || !strings.Contains(res.body, "登录") {
		t.Fatalf("Accept-Language zh-CN did not give Chinese")
	}
	if res := h.get(c, "/login", "Accept-Language", "en-US"); !strings.Contains(res.body, `<html lang="en">`) {
		t.Fatalf("Accept-Language en-US did not give English")
	}
	if res := h.get(c, "/help?lang=zh-CN", "Accept-Language", "en-US"); !strings.Contains(res.body, `<html lang="zh-CN">`) {
		t.Fatalf("?lang=zh-CN did not switch")
	}
	if res := h.get(c, "/", "Accept-Language", "en-US"); !strings.Contains(res.body, `<html lang="zh-CN">`) {
		t.Fatalf("the language switch was not remembered")
	}
	if res := h.get(h.client(), "/?lang=<script>", "Accept-Language", "en"); !strings.Contains(res.body, `<html lang="en">`) {
		t.Fatalf("an unknown ?lang was not ignored")
	}
}

// No input may produce a 5xx other than 503, or a panic (SECURITY.md 24).
func TestHostileInputNeverFailsTheServer(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	bodies := []string{
		"username=" + strings.Repeat("a", 70000) + "&password=x",
		"username=%ff%fe%00&password=%00%00",
		"username=alice&username=bob&password=a&password=b",
		"username[]=alice&password[]=x",
		"username=alice%0d%0aX-Injected:%201&password=" + strings.Repeat("%e4%bd%a0", 400),
		"%zz=bad-escape",
		"",
	}
	for _, b := range bodies {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/login", strings.NewReader(b))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := h.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("body %.60q: status %d", b, res.StatusCode)
		}
	}
	for _, path := range []string{"/login?lang=%ff", "/%00", "/static/../../etc/passwd", "/account?x=" + strings.Repeat("y", 4000)} {
		if res := h.get(h.client(), path); res.status >= 500 {
			t.Errorf("GET %s: status %d", path, res.status)
		}
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if res := h.get(h.client(), "/healthz"); res.status != http.StatusOK {
		t.Errorf("/healthz: %d", res.status)
	}
	if res := h.get(h.client(), "/readyz"); res.status != http.StatusOK {
		t.Errorf("/readyz: %d", res.status)
	}
}

// With the database gone, sign-in fails closed: 503, a plain page, no session.
func TestDatabaseOutageFailsClosed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	dbname := strings.TrimPrefix(strings.SplitN(h.dbURL, "?", 2)[0], "postgres://postgres@/")
	admin, err := pgx.Connect(context.Background(), strings.Replace(h.dbURL, "/"+dbname+"?", "/postgres?", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// Refuse new connections and cut the open ones, as an outage would.
	for _, sql := range []string{
		`ALTER DATABASE "` + dbname + `" WITH ALLOW_CONNECTIONS false`,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '` + dbname + `'`,
	} {
		if _, err := admin.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), `ALTER DATABASE "`+dbname+`" WITH ALLOW_CONNECTIONS true`)
	})

	res := h.signIn(h.client(), "alice", goodPassword)
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Fatalf("sign-in during an outage: status %d, want 503 with Retry-After", res.status)
	}
	if strings.Contains(strings.Join(res.header.Values("Set-Cookie"), ";"), "unlockd_session") {
		t.Fatal("a session cookie was issued during an outage")
	}
	if res := h.get(h.client(), "/readyz"); res.status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during an outage: %d", res.status)
	}
	// The outage shows in the metrics: the answer, and what the pool met.
	metrics := h.get(h.client(), "/metrics").body
	for _, series := range []string{`unlockd_unavailable_answers_total{where="page"} 1`,
		`unlockd_database_unavailable_total{kind="connect",pool="primary"}`} {
		if !strings.Contains(metrics, series) {
			t.Errorf("/metrics during an outage lacks %s", series)
		}
	}

	// When the database returns, so does the service, without a restart.
	if _, err := admin.Exec(context.Background(), `ALTER DATABASE "`+dbname+`" WITH ALLOW_CONNECTIONS true`); err != nil {
		t.Fatal(err)
	}
	if res := h.signIn(h.client(), "alice", goodPassword); res.status != http.StatusSeeOther {
		t.Fatalf("sign-in after the outage: status %d, want 303", res.status)
	}
}
