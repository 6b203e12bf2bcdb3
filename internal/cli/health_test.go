package cli

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runHealth runs `unlockd health args...` with only env as its environment.
func runHealth(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"health"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
		func(k string) string { return env[k] })
	return code, out.String(), errOut.String()
}

// listenOf is the port of a test server, as UNLOCKD_LISTEN would name it with host.
func listenOf(t *testing.T, srv *httptest.Server, host string) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return host + ":" + u.Port()
}

func TestHealthAsksReadyzOnTheListenAddress(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	var ready atomic.Bool
	ready.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/readyz" && r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path == "/readyz" && !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	}))
	defer srv.Close()

	// A server listening on every address is asked on this machine.
	for _, host := range []string{"127.0.0.1", "0.0.0.0", "[::]", ""} {
		env := map[string]string{"UNLOCKD_LISTEN": listenOf(t, srv, host)}
		code, out, stderr := runHealth(t, env)
		if code != 0 || !strings.Contains(out, "/readyz: 200 ready") {
			t.Errorf("UNLOCKD_LISTEN=%s: exit %d, out %q, err %q; want 0 and the answer", env["UNLOCKD_LISTEN"], code, out, stderr)
		}
	}
	mu.Lock()
	if len(paths) != 4 || paths[0] != "GET /readyz" || paths[3] != "GET /readyz" {
		t.Fatalf("requests: %v; want four GET /readyz", paths)
	}
	mu.Unlock()

	ready.Store(false)
	env := map[string]string{"UNLOCKD_LISTEN": listenOf(t, srv, "0.0.0.0")}
	code, out, stderr := runHealth(t, env)
	if code != 1 || out != "" || !strings.Contains(stderr, "503 Service Unavailable: not ready") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("not ready: exit %d, out %q, err %q; want 1 and one line with the status", code, out, stderr)
	}
	// --url asks elsewhere: the process is up although the database is not.
	if code, out, stderr := runHealth(t, env, "--url", srv.URL+"/healthz"); code != 0 || !strings.Contains(out, "200") {
		t.Fatalf("--url .../healthz: exit %d, out %q, err %q", code, out, stderr)
	}
	if code, _, stderr := runHealth(t, env, "--url", srv.URL+"/elsewhere"); code != 1 || !strings.Contains(stderr, "404") {
		t.Fatalf("a 404: exit %d, err %q; want 1", code, stderr)
	}
}

func TestHealthFailsWithoutAnAnswer(t *testing.T) {
	// Nothing listens any more.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	if code, _, stderr := runHealth(t, map[string]string{"UNLOCKD_LISTEN": listenOf(t, gone, "127.0.0.1")}); code != 1 || !strings.Contains(stderr, "/readyz") {
		t.Errorf("nothing listening: exit %d, err %q; want 1 naming the URL", code, stderr)
	}

	// A server that does not answer in time.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	start := time.Now()
	code, _, stderr := runHealth(t, nil, "--url", slow.URL+"/readyz", "--timeout", "300ms")
	if code != 1 || time.Since(start) > 5*time.Second || !strings.Contains(stderr, "no answer within 300ms") {
		t.Errorf("a server that hangs: exit %d after %v, err %q; want 1 after the timeout", code, time.Since(start), stderr)
	}

	// A redirect is not health: it is not followed.
	moved := httptest.NewServer(http.RedirectHandler("/readyz", http.StatusFound))
	defer moved.Close()
	if code, _, stderr := runHealth(t, nil, "--url", moved.URL+"/x"); code != 1 || !strings.Contains(stderr, "302") {
		t.Errorf("a redirect: exit %d, err %q; want 1 naming 302", code, stderr)
	}
}

func TestHealthUsage(t *testing.T) {
	code, _, stderr := runHealth(t, map[string]string{"UNLOCKD_LISTEN": "no port"})
	if code != 1 || !strings.Contains(stderr, "UNLOCKD_LISTEN") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("bad UNLOCKD_LISTEN: exit %d, err %q; want 1 naming the variable", code, stderr)
	}
	for _, args := range [][]string{{"--url", "127.0.0.1:8080/readyz"}, {"--url", "ftp://x/"}, {"--timeout", "0s"}, {"extra"}, {"--bogus"}} {
		if code, _, stderr := runHealth(t, nil, args...); code != 2 || !strings.Contains(stderr, "unlockd health") {
			t.Errorf("health %v: exit %d, err %q; want 2 and the usage", args, code, stderr)
		}
	}
}
