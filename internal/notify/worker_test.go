package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/mailpit"
	"github.com/unlockd/unlockd/internal/notify"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/servetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type fixture struct {
	url   string
	db    *postgres.DB
	clock *accounttest.Clock
	tmpl  *notify.Templates
	logs  *servetest.SyncBuffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{url: pgtest.NewDatabase(t, pgtest.Migrate), clock: accounttest.NewClock(time.Now().UTC()), logs: &servetest.SyncBuffer{}}
	f.db = f.open(t)
	var err error
	if f.tmpl, err = notify.LoadTemplates(); err != nil {
		t.Fatal(err)
	}
	return f
}

// open connects another pool to the test database, as another process would.
func (f *fixture) open(t *testing.T) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), f.url, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

func (f *fixture) worker(db *postgres.DB, mail notify.Mailer, sms notify.SMSSender, opts ...notify.WorkerOption) *notify.Worker {
	log := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]notify.WorkerOption{notify.WithClock(f.clock.Now)}, opts...)
	return notify.NewWorker(postgres.NewOutbox(db), f.tmpl, mail, sms, log, opts...)
}

func (f *fixture) pending(t *testing.T) int {
	t.Helper()
	n, err := postgres.NewOutbox(f.db).Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type outboxRow struct {
	Attempts  int
	LastError string
	Sent      bool
	Dead      bool
	DueIn     time.Duration // next_attempt_at - the test clock
}

func (f *fixture) row(t *testing.T, to string) outboxRow {
	t.Helper()
	var r outboxRow
	var next time.Time
	err := f.db.Pool.QueryRow(context.Background(), `SELECT attempts, last_error, sent_at IS NOT NULL, dead_at IS NOT NULL,
		greatest(next_attempt_at, '1970-01-01') FROM outbox WHERE recipient = $1`, to).Scan(&r.Attempts, &r.LastError, &r.Sent, &r.Dead, &next)
	if err != nil {
		t.Fatal(err)
	}
	r.DueIn = next.Sub(f.clock.Now())
	return r
}

func mailer(t *testing.T, u *url.URL) *notify.SMTPMailer {
	t.Helper()
	m, err := notify.NewSMTPMailer(u, "unlockd@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// closedSMTP is an SMTP URL where nothing listens.
func closedSMTP(t *testing.T) *url.URL {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return &url.URL{Scheme: "smtp", Host: addr, RawQuery: "tls=none"}
}

func code(to, lang, digits string) notify.Message {
	return notify.Message{Channel: notify.ChannelEmail, To: to, Template: notify.TemplateCode, Lang: lang,
		Data: map[string]string{"Name": "Alice", "Code": digits, "Purpose": "signin", "Minutes": "10"}}
}

var onlyDigitsLine = regexp.MustCompile(`(?m)^[0-9]+\r?$`)

// A queued message arrives once, in its language, with the code alone on its line and an HTML part.
// (That a message queued in a transaction that rolls back is never queued at all is the outbox's
// own test, in internal/postgres.)
func TestQueuedMessageDeliveredOnce(t *testing.T) {
	f := newFixture(t)
	mp := mailpit.Start(t)
	ctx := context.Background()

	if err := f.db.Enqueue(ctx, code("alice@example.com", "zh-CN", "482915")); err != nil {
		t.Fatal(err)
	}

	w := f.worker(f.db, mailer(t, mp.SMTPURL()), nil)
	if n, err := w.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if n, err := w.RunOnce(ctx); n != 0 || err != nil {
		t.Fatalf("second RunOnce = %d, %v", n, err)
	}

	m := mp.WaitFor(t, "alice@example.com", 5*time.Second)
	if all := mp.Messages(t); len(all) != 1 {
		t.Fatalf("mailpit has %d messages, want 1: %+v", len(all), all)
	}
	if m.Subject != "登录验证码" {
		t.Errorf("subject %q, want the Chinese one", m.Subject)
	}
	if got := onlyDigitsLine.FindAllString(m.Text, -1); len(got) != 1 || strings.TrimSpace(got[0]) != "482915" {
		t.Errorf("lines of only digits: %q in\n%s", got, m.Text)
	}
	if !strings.Contains(m.HTML, `lang="zh-CN"`) || !strings.Contains(m.HTML, "482915") {
		t.Errorf("HTML part missing or wrong:\n%s", m.HTML)
	}
	if m.From == nil || m.From.Address != "unlockd@example.com" {
		t.Errorf("from %+v", m.From)
	}
	if f.pending(t) != 0 {
		t.Error("message still pending after delivery")
	}
	// The log tells what happened, never the code.
	if logs := f.logs.String(); !strings.Contains(logs, `"message_id"`) || strings.Contains(logs, "482915") {
		t.Errorf("log:\n%s", logs)
	}
}

// With the mail server down the message stays queued, rescheduled with backoff; when the server is
// back and the retry time has come, it arrives exactly once.
func TestDeliverySurvivesAnSMTPOutage(t *testing.T) {
	f := newFixture(t)
	mp := mailpit.Start(t)
	ctx := context.Background()
	var results []string
	var mu sync.Mutex
	metrics := notify.WithMetrics(func(channel, result string) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, channel+":"+result)
	})
	w := f.worker(f.db, mailer(t, mp.SMTPURL()), nil, metrics)

	mp.Stop()
	if err := f.db.Enqueue(ctx, code("bob@example.com", "en", "735102")); err != nil {
		t.Fatal(err)
	}
	n, err := w.RunOnce(ctx)
	if n != 0 || err == nil {
		t.Fatalf("RunOnce with SMTP down = %d, %v; want an error", n, err)
	}
	r := f.row(t, "bob@example.com")
	if r.Attempts != 1 || r.Sent || r.Dead || r.LastError == "" || r.DueIn < 3*time.Second || r.DueIn > 7*time.Second {
		t.Fatalf("after the failure: %+v; want attempts 1, an error and a retry ~5s ahead", r)
	}
	if strings.Contains(r.LastError, "735102") {
		t.Fatal("the error stored holds the code")
	}

	mp.Restart(t)
	if n, err := w.RunOnce(ctx); n != 0 || err != nil {
		t.Fatalf("RunOnce before the retry time = %d, %v; want nothing due", n, err)
	}
	f.clock.Advance(10 * time.Second)
	if n, err := w.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce after the retry time = %d, %v", n, err)
	}
	f.clock.Advance(time.Hour)
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Fatalf("delivered again: %d", n)
	}
	got := mp.To(t, "bob@example.com")
	if len(got) != 1 {
		t.Fatalf("bob got %d messages, want exactly 1", len(got))
	}
	if got[0].Subject != "Your sign-in code" || !onlyDigitsLine.MatchString(got[0].Text) {
		t.Errorf("message %q:\n%s", got[0].Subject, got[0].Text)
	}
	if r := f.row(t, "bob@example.com"); !r.Sent || r.Attempts != 2 {
		t.Errorf("after delivery: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(results, ",") != "email:retry,email:sent" {
		t.Errorf("metrics: %v", results)
	}
}

// Two workers, on two connection pools as two processes would be, deliver 50 messages exactly once
// each: one through Run's polling loop, one through RunOnce in a loop.
func TestTwoWorkersDeliverEachMessageExactlyOnce(t *testing.T) {
	f := newFixture(t)
	mp := mailpit.Start(t)
	ctx := context.Background()
	const total = 50
	msgs := make([]notify.Message, total)
	for i := range msgs {
		msgs[i] = code(fmt.Sprintf("user%02d@example.com", i), "en", fmt.Sprintf("%06d", 100000+i))
	}
	if err := f.db.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	var delivered atomic.Int64
	count := notify.WithMetrics(func(_, result string) {
		if result == "sent" {
			delivered.Add(1)
		}
	})
	small := notify.WithBatchSize(4)
	a := f.worker(f.open(t), mailer(t, mp.SMTPURL()), nil, small, count, notify.WithPollInterval(20*time.Millisecond))
	b := f.worker(f.open(t), mailer(t, mp.SMTPURL()), nil, small, count)

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(runCtx) }()
	var byB int
	go func() {
		defer wg.Done()
		for runCtx.Err() == nil {
			n, err := b.RunOnce(runCtx)
			if err != nil && runCtx.Err() == nil {
				t.Errorf("worker b: %v", err)
			}
			byB += n
			if n == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for f.pending(t) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if n := f.pending(t); n != 0 {
		t.Fatalf("%d messages still pending", n)
	}

	list := mp.Messages(t)
	perRecipient := map[string]int{}
	for _, m := range list {
		for _, to := range m.Recipients() {
			perRecipient[to]++
		}
	}
	if len(list) != total || len(perRecipient) != total || delivered.Load() != total {
		t.Fatalf("mailpit has %d messages for %d recipients, metrics say %d; want %d each", len(list), len(perRecipient), delivered.Load(), total)
	}
	for to, n := range perRecipient {
		if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
	t.Logf("worker b delivered %d of %d", byB, total)
	if byB == 0 || byB == total {
		t.Logf("one worker did all the work (timing); exactly-once still holds")
	}
}

// smsGateway is an SMS webhook that fails its first answers with 500.
type smsGateway struct {
	*httptest.Server
	mu       sync.Mutex
	failures int
	got      []smsRequest
}

type smsRequest struct {
	Auth, ContentType, Method string
	Body                      map[string]any
}

func newSMSGateway(t *testing.T, failures int) *smsGateway {
	g := &smsGateway{failures: failures}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := smsRequest{Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Method: r.Method}
		_ = json.Unmarshal(b, &req.Body)
		g.mu.Lock()
		defer g.mu.Unlock()
		g.got = append(g.got, req)
		if g.failures > 0 {
			g.failures--
			http.Error(w, "gateway trouble, your text was "+string(b), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *smsGateway) requests() []smsRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]smsRequest(nil), g.got...)
}

// An SMS goes to the webhook as JSON with the bearer token; a 500 is retried, a 2xx settles it.
func TestSMSWebhookRetriesUntilAccepted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	gw := newSMSGateway(t, 1)
	u, _ := url.Parse(gw.URL + "/send?key=s3cret")
	w := f.worker(f.db, nil, notify.NewWebhookSMS(u, "tok-123", nil))

	msg := notify.Message{Channel: notify.ChannelSMS, To: "+8613800000000", Template: notify.TemplateCode, Lang: "zh-CN",
		Data: map[string]string{"Code": "590247", "Purpose": "unlock", "Minutes": "10"}}
	if err := f.db.Enqueue(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if n, err := w.RunOnce(ctx); n != 0 || err == nil {
		t.Fatalf("RunOnce against a failing gateway = %d, %v", n, err)
	}
	r := f.row(t, "+8613800000000")
	if r.Attempts != 1 || r.Sent || !strings.Contains(r.LastError, "500") {
		t.Fatalf("after the 500: %+v", r)
	}
	if strings.Contains(r.LastError, "590247") || strings.Contains(r.LastError, "s3cret") {
		t.Fatalf("the stored error leaks the text or the URL's key: %q", r.LastError)
	}
	f.clock.Advance(10 * time.Second)
	if n, err := w.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce after the retry time = %d, %v", n, err)
	}
	if r := f.row(t, "+8613800000000"); !r.Sent {
		t.Fatalf("not marked sent: %+v", r)
	}

	reqs := gw.requests()
	if len(reqs) != 2 {
		t.Fatalf("gateway saw %d requests, want 2", len(reqs))
	}
	for _, req := range reqs {
		if req.Method != http.MethodPost || req.Auth != "Bearer tok-123" || req.ContentType != "application/json" || len(req.Body) != 2 {
			t.Fatalf("request %+v", req)
		}
		text, _ := req.Body["text"].(string)
		if req.Body["to"] != "+8613800000000" || !regexp.MustCompile(`(?m)^590247$`).MatchString(text) || !strings.Contains(text, "解锁账号") {
			t.Fatalf("body %+v", req.Body)
		}
	}
}

// Without a token no Authorization header is sent.
func TestSMSWebhookWithoutToken(t *testing.T) {
	gw := newSMSGateway(t, 0)
	u, _ := url.Parse(gw.URL)
	if err := notify.NewWebhookSMS(u, "", nil).Send(context.Background(), "+8613800000000", "hi"); err != nil {
		t.Fatal(err)
	}
	if reqs := gw.requests(); len(reqs) != 1 || reqs[0].Auth != "" {
		t.Fatalf("requests %+v", reqs)
	}
}

// A message for a channel this process cannot send stays queued with the reason, is retried every
// MaxBackoff, and is never given up however often it is tried.
func TestUnconfiguredChannelKeepsTheMessage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	w := f.worker(f.db, nil, nil, notify.WithMaxAttempts(2))
	if err := f.db.Enqueue(ctx, code("carol@example.com", "en", "246810")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := w.RunOnce(ctx); !errors.Is(err, notify.ErrNotConfigured) {
			t.Fatalf("attempt %d: err = %v", i, err)
		}
		r := f.row(t, "carol@example.com")
		if r.Dead || r.Sent || r.Attempts != i || !strings.Contains(r.LastError, "not configured") || r.DueIn < 7*time.Minute {
			t.Fatalf("attempt %d: %+v", i, r)
		}
		f.clock.Advance(13 * time.Minute)
	}
	if f.pending(t) != 1 {
		t.Fatal("the message left the queue")
	}
}

// A message that cannot be rendered is given up at once; one that keeps failing is given up after
// MaxAttempts. Both are kept with their error.
func TestMessagesAreGivenUpButKept(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var dead atomic.Int64
	w := f.worker(f.db, mailer(t, closedSMTP(t)), nil, notify.WithMaxAttempts(3), notify.WithMetrics(func(_, result string) {
		if result == "dead" {
			dead.Add(1)
		}
	}))

	// Written around Enqueue's checks, as an older release or a hand might have.
	if _, err := f.db.Pool.Exec(ctx, `INSERT INTO outbox (channel, recipient, template) VALUES ('email', 'old@example.com', 'welcome')`); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Enqueue(ctx, code("dave@example.com", "en", "135790")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.RunOnce(ctx); err == nil {
		t.Fatal("no error")
	}
	if r := f.row(t, "old@example.com"); !r.Dead || r.Attempts != 1 || !strings.Contains(r.LastError, "unknown template") {
		t.Fatalf("unrenderable message: %+v", r)
	}
	for i := 2; i <= 3; i++ {
		f.clock.Advance(time.Hour)
		if _, err := w.RunOnce(ctx); err == nil {
			t.Fatal("no error")
		}
	}
	if r := f.row(t, "dave@example.com"); !r.Dead || r.Attempts != 3 || !strings.Contains(r.LastError, "refused") {
		t.Fatalf("after 3 failures: %+v", r)
	}
	f.clock.Advance(time.Hour)
	if n, err := w.RunOnce(ctx); n != 0 || err != nil {
		t.Fatalf("dead messages were claimed again: %d, %v", n, err)
	}
	if dead.Load() != 2 || f.pending(t) != 0 {
		t.Fatalf("dead metric %d, pending %d", dead.Load(), f.pending(t))
	}
	if n, _ := postgres.NewOutbox(f.db).Dead(ctx); n != 2 {
		t.Fatalf("dead rows %d", n)
	}
}

// Run stops when its context ends, and a worker that stops leaves nothing claimed behind.
func TestRunStopsWithItsContext(t *testing.T) {
	f := newFixture(t)
	mp := mailpit.Start(t)
	w := f.worker(f.db, mailer(t, mp.SMTPURL()), nil, notify.WithPollInterval(10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	if err := f.db.Enqueue(context.Background(), code("erin@example.com", "en", "975310")); err != nil {
		t.Fatal(err)
	}
	mp.WaitFor(t, "erin@example.com", 5*time.Second)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}
