package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/cli"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testParams keep hashing cheap in tests that are not about hashing cost.
var testParams = secret.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

type harness struct {
	srv      *server.Server
	t        *testing.T
	url      string
	dbURL    string
	db       *postgres.DB
	store    *postgres.Stores
	accounts *account.Services
	hasher   *secret.Hasher
	cfg      *config.Config
	sessions *postgres.SessionStore
}

type harnessOption func(*harnessOptions)

type harnessOptions struct {
	hasher *secret.Hasher
	env    map[string]string
	clock  func() time.Time
	log    io.Writer
}

func withClock(now func() time.Time) harnessOption { return func(o *harnessOptions) { o.clock = now } }

func withHasher(h *secret.Hasher) harnessOption { return func(o *harnessOptions) { o.hasher = h } }

func withLog(w io.Writer) harnessOption { return func(o *harnessOptions) { o.log = w } }

func withEnv(k, v string) harnessOption { return func(o *harnessOptions) { o.env[k] = v } }

// newHarness runs the real server on a real listener over a fresh database.
func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessOn(t, pgtest.NewDatabase(t, pgtest.Migrate), opts...)
}

// newHarnessOn runs another server over an existing database, as a second process would.
func newHarnessOn(t *testing.T, dbURL string, opts ...harnessOption) *harness {
	t.Helper()
	o := harnessOptions{env: map[string]string{}}
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, dbURL, o.clock) // one clock, for the domain and storage alike
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)

	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	env := map[string]string{
		"UNLOCKD_DATABASE_URL": dbURL,
		"UNLOCKD_BASE_URL":     base,
		"UNLOCKD_SECRET_KEY":   strings.Repeat("k", 32),
	}
	for k, v := range o.env {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	hasher := o.hasher
	if hasher == nil {
		hasher = secret.NewHasher(testParams, 4, 64, 5*time.Second)
	}
	store := postgres.NewStores(db)
	metrics := server.NewMetrics()
	db.Watch("primary", metrics, nil)
	svc := account.New(cli.ServiceDeps(cfg, store, hasher, o.clock, metrics))
	if o.log == nil {
		o.log = io.Discard
	}
	sessions := postgres.NewSessionStore(db, server.SessionCodec(), cfg.SecretKey)
	hasher.SetWaitObserver(metrics.HashWait)
	srv, err := server.New(server.Deps{
		Metrics:  metrics,
		Config:   cfg,
		Accounts: svc,
		Sessions: sessions,
		Log:      slog.New(slog.NewTextHandler(o.log, nil)),
		Ready:    func(ctx context.Context) error { return db.Ping(ctx) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv.Handler()
	h := &harness{srv: srv, sessions: sessions}
	ts.Start()
	t.Cleanup(ts.Close)
	h.t, h.url, h.dbURL, h.db, h.store, h.accounts, h.hasher, h.cfg = t, ts.URL, dbURL, db, store, svc, hasher, cfg
	return h
}

const goodPassword = "correct horse battery staple"

var testActor = account.Actor{Name: "test"}

// addAccount creates an active account with goodPassword.
func (h *harness) addAccount(username string) *account.Account {
	h.t.Helper()
	a, err := h.accounts.Accounts.AddAccount(context.Background(), account.NewAccount{
		Username: username, Email: username + "@example.com", DisplayName: strings.ToUpper(username[:1]) + username[1:],
		Password: goodPassword,
	}, account.Actor{Name: "test"})
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// client is a browser-like client: a cookie jar, no automatic redirects, same-origin headers on POST.
func (h *harness) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (h *harness) do(c *http.Client, method, path string, form url.Values, headers ...string) response {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.url+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.url)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

func (h *harness) get(c *http.Client, path string, headers ...string) response {
	h.t.Helper()
	return h.do(c, http.MethodGet, path, nil, headers...)
}

func (h *harness) post(c *http.Client, path string, form url.Values, headers ...string) response {
	h.t.Helper()
	return h.do(c, http.MethodPost, path, form, headers...)
}

func (h *harness) signIn(c *http.Client, username, password string) response {
	h.t.Helper()
	return h.post(c, "/login", url.Values{"username": {username}, "password": {password}})
}

func sessionCookie(c *http.Client, base string) string {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if strings.HasSuffix(ck.Name, "unlockd_session") {
			return ck.Value
		}
	}
	return ""
}
