package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/notify"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/server"
)

// serveFlags maps serve's flags onto the variables they override.
var serveFlags = []struct{ flag, env, help string }{
	{"listen", "UNLOCKD_LISTEN", "listen address"},
	{"base-url", "UNLOCKD_BASE_URL", "public origin"},
	{"database-url", "UNLOCKD_DATABASE_URL", "PostgreSQL connection string"},
	{"smtp-url", "UNLOCKD_SMTP_URL", "smtp://[user:pass@]host:port[?tls=none|starttls|tls]"},
	{"mail-from", "UNLOCKD_MAIL_FROM", "sender address"},
	{"sms-webhook-url", "UNLOCKD_SMS_WEBHOOK_URL", "SMS webhook URL"},
	{"trusted-proxies", "UNLOCKD_TRUSTED_PROXIES", "CIDRs whose X-Forwarded-For is believed"},
	{"cookie-secure", "UNLOCKD_COOKIE_SECURE", "Secure cookies"},
	{"log-format", "UNLOCKD_LOG_FORMAT", "text or json"},
	{"log-level", "UNLOCKD_LOG_LEVEL", "debug, info, warn or error"},
	{"metrics-listen", "UNLOCKD_METRICS_LISTEN", "separate listener for /metrics"},
	{"dev", "UNLOCKD_DEV", "development mode"},
}

func cmdServe(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("serve", stdio)
	noMigrate := fs.Bool("no-migrate", false, "do not apply migrations at start")
	values := map[string]*string{}
	for _, f := range serveFlags {
		values[f.env] = fs.String(f.flag, "", f.help)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments")
	}
	overrides := map[string]string{}
	for env, v := range values {
		if *v != "" {
			overrides[env] = *v
		}
	}
	a, err := open(ctx, getenv, overrides, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	tuneGC(a.hasher, a.log)
	if !*noMigrate {
		if err := a.migrateUp(ctx); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return &config.Error{Var: "UNLOCKD_LISTEN", Msg: err.Error()}
	}
	return a.serve(ctx, ln, nil)
}

// serve runs the HTTP server on ln until ctx ends. ready, if not nil, is told the address.
func (a *app) serve(ctx context.Context, ln net.Listener, ready func(addr string)) error {
	sessions := postgres.NewSessionStore(a.db, server.SessionCodec(), a.cfg.SecretKey)
	m, err := postgres.NewMigrator(a.db, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	metrics := a.metrics
	a.hasher.SetWaitObserver(metrics.HashWait)
	srv, err := server.New(server.Deps{
		Config:   a.cfg,
		Accounts: a.accounts,
		Sessions: sessions,
		Log:      a.log,
		Metrics:  metrics,
		Ready: func(ctx context.Context) error {
			if err := a.db.Ping(ctx); err != nil {
				return fmt.Errorf("database: %w", err)
			}
			current, err := m.Current(ctx)
			if err != nil {
				return fmt.Errorf("migrations: %w", err)
			}
			if !current {
				return errors.New("migrations: schema is behind this binary")
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	go sweep(ctx, a, sessions)
	go func() {
		// The dashboard's search ranks trigrams from a sample of the accounts; take it now
		// rather than in the first search. Searches work without it, and take it themselves.
		if err := a.stores.Admin.PrepareSearch(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("sampling accounts for search", "err", err)
		}
	}()
	delivered, err := a.startDelivery(ctx, metrics)
	if err != nil {
		return err
	}
	// Messages being sent when the server stops are finished before the process exits.
	defer delivered()
	if a.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", a.cfg.MetricsListen)
		if err != nil {
			return &config.Error{Var: "UNLOCKD_METRICS_LISTEN", Msg: err.Error()}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler())
		go func() {
			if err := srv.Serve(ctx, mln, mux); err != nil {
				a.log.Error("metrics listener", "err", err)
			}
		}()
	}
	if a.cfg.Directory != nil {
		sync, err := a.directorySync()
		if err != nil {
			return err
		}
		syncCtx, stopSync := context.WithCancel(ctx)
		synced := make(chan struct{})
		go func() {
			defer close(synced)
			a.runDirectorySync(syncCtx, sync, a.directory.dir.SyncInterval())
		}()
		// The sync stops with the server, and a round in progress ends before serve returns.
		defer func() { stopSync(); <-synced }()
	}
	a.log.Info("serving", "addr", ln.Addr().String(), "base_url", a.cfg.BaseURL.String(), "dev", a.cfg.Dev)
	if ready != nil {
		ready(ln.Addr().String())
	}
	err = srv.Serve(ctx, ln, srv.Handler())
	a.log.Info("stopped")
	return err
}

// sweep deletes expired sessions and forgets old throttle counts every few minutes.
func sweep(ctx context.Context, a *app, store *postgres.SessionStore) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := store.DeleteExpired(ctx); err != nil {
				a.log.Warn("session sweep", "err", err)
			} else if n > 0 {
				a.log.Debug("session sweep", "deleted", n)
			}
			if err := a.stores.Lockout.PruneClientFailures(ctx, time.Now().Add(-account.ClientWindow)); err != nil {
				a.log.Warn("throttle sweep", "err", err)
			}
			// Delivered and given-up messages are kept a week for support questions, then dropped.
			if _, err := postgres.NewOutbox(a.db).Purge(ctx, time.Now().Add(-7*24*time.Hour)); err != nil {
				a.log.Warn("outbox sweep", "err", err)
			}
		}
	}
}

// startDelivery runs the worker that sends queued mail and SMS. The SMTP server is checked now, so
// a wrong address shows at start-up; an unreachable one is only a warning, since messages wait in
// the queue until it answers.
func (a *app) startDelivery(ctx context.Context, metrics *server.Metrics) (wait func(), err error) {
	tmpl, err := notify.LoadTemplates()
	if err != nil {
		return nil, err
	}
	tmpl = tmpl.In(a.cfg.Timezone)
	var mailer notify.Mailer
	if a.cfg.SMTPURL != nil {
		m, err := notify.NewSMTPMailer(a.cfg.SMTPURL, a.cfg.MailFrom)
		if err != nil {
			return nil, &config.Error{Var: "UNLOCKD_SMTP_URL", Msg: err.Error()}
		}
		checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := m.Check(checkCtx); err != nil {
			a.log.Warn("mail server not reachable yet; mail waits in the queue", "err", err)
		}
		cancel()
		mailer = m
	} else {
		a.log.Warn("UNLOCKD_SMTP_URL is not set: mail is queued but not sent")
	}
	var sms notify.SMSSender
	if a.cfg.SMSWebhookURL != nil {
		sms = notify.NewWebhookSMS(a.cfg.SMSWebhookURL, a.cfg.SMSWebhookToken, nil)
	}
	opts := []notify.WorkerOption{notify.WithMetrics(metrics.Message)}
	if len(a.cfg.WebhookURLs) > 0 {
		opts = append(opts, notify.WithWebhooks(notify.NewWebhookPoster(a.cfg.WebhookSecret, nil)))
	}
	w := notify.NewWorker(postgres.NewOutbox(a.db), tmpl, mailer, sms, a.log, opts...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("delivery worker", "err", err)
		}
	}()
	return func() { <-done }, nil
}
