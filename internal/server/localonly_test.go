package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serveFrom answers a GET of path as if it came from the peer remoteAddr, with X-Forwarded-For
// xff when not empty.
func (h *harness) serveFrom(remoteAddr, xff, path string) response {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.RemoteAddr = remoteAddr
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	rec := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// isPrometheus reports whether res is a Prometheus scrape.
func isPrometheus(res response) bool {
	return res.status == http.StatusOK && strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") &&
		strings.Contains(res.body, "# TYPE go_goroutines gauge")
}

// Without UNLOCKD_METRICS_LISTEN, /metrics is on the public listener and answers this machine
// only: its counters would tell a stranger whether a username exists (SECURITY.md 8, 9).
func TestMetricsOnThePublicListenerAnswerOnlyThisMachine(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.signIn(h.client(), "nobody", "Winter2026!") // a counter that moves for an unknown username

	if res := h.get(h.client(), "/metrics"); !isPrometheus(res) {
		t.Errorf("loopback scrape: status %d, type %q", res.status, res.header.Get("Content-Type"))
	}
	for _, peer := range []string{"127.0.0.1:5555", "[::1]:5555", "[::ffff:127.0.0.1]:5555"} {
		if res := h.serveFrom(peer, "", "/metrics"); !isPrometheus(res) {
			t.Errorf("scrape from %s: status %d", peer, res.status)
		}
	}

	for _, c := range []struct{ peer, xff string }{
		{"203.0.113.7:5555", ""},
		{"10.1.2.3:5555", ""},
		{"[2001:db8::7]:5555", ""},
		// X-Forwarded-For from a peer that is no trusted proxy is not believed.
		{"203.0.113.7:5555", "127.0.0.1"},
	} {
		unknown := h.serveFrom(c.peer, c.xff, "/no-such-page")
		if !strings.Contains(unknown.body, "</html>") {
			t.Fatalf("an unknown path from %s is not a page: %q", c.peer, unknown.body)
		}
		res := h.serveFrom(c.peer, c.xff, "/metrics")
		if res.status != http.StatusNotFound || res.body != unknown.body || unknown.status != http.StatusNotFound {
			t.Errorf("/metrics from %s (X-Forwarded-For %q): status %d, want 404 with an unknown path's body", c.peer, c.xff, res.status)
		}
		if strings.Contains(res.body, "unlockd_") {
			t.Errorf("/metrics from %s shows the counters", c.peer)
		}
	}
}

// Behind a trusted proxy the client is the one the proxy names: an outside client relayed from
// the proxy on this machine gets no metrics, a client the proxy says is local does.
func TestMetricsBehindATrustedProxyAnswerOnlyThisMachine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv("UNLOCKD_TRUSTED_PROXIES", "127.0.0.0/8"))

	unknown := h.get(h.client(), "/no-such-page", "X-Forwarded-For", "203.0.113.7")
	res := h.get(h.client(), "/metrics", "X-Forwarded-For", "203.0.113.7")
	if res.status != http.StatusNotFound || unknown.status != http.StatusNotFound || res.body != unknown.body {
		t.Errorf("/metrics relayed for 203.0.113.7: status %d, want 404 with an unknown path's body", res.status)
	}
	if res := h.get(h.client(), "/metrics", "X-Forwarded-For", "203.0.113.7, 127.0.0.1"); res.status != http.StatusNotFound {
		t.Errorf("/metrics relayed for 203.0.113.7 through two proxies: status %d, want 404", res.status)
	}
	if res := h.get(h.client(), "/metrics", "X-Forwarded-For", "127.0.0.1"); !isPrometheus(res) {
		t.Errorf("/metrics relayed for 127.0.0.1: status %d", res.status)
	}
	if res := h.get(h.client(), "/metrics"); !isPrometheus(res) {
		t.Errorf("/metrics straight from this machine: status %d", res.status)
	}
}
