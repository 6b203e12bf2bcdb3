package notify

import (
	"context"
	"crypto/tls"
	"slices"
	"time"
)

// Knobs that only tests turn: production runs with the defaults.

// WithClock sets the clock that retry times are computed from (tests move it forward).
func WithClock(now func() time.Time) WorkerOption { return func(w *Worker) { w.now = now } }

// WithPollInterval sets how long Run waits when the queue had nothing more to do.
func WithPollInterval(d time.Duration) WorkerOption { return func(w *Worker) { w.poll = d } }

// WithBatchSize sets how many messages one claim takes.
func WithBatchSize(n int) WorkerOption { return func(w *Worker) { w.batch = n } }

// WithMaxAttempts sets after how many failed attempts a message is given up (marked dead).
func WithMaxAttempts(n int) WorkerOption { return func(w *Worker) { w.maxAttempts = n } }

// WithTLSConfig replaces the TLS configuration (by default: the system's roots, the URL's host as the
// server name, TLS 1.2 or newer), so that a test trusts its own certificate.
func WithTLSConfig(c *tls.Config) SMTPOption { return func(o *smtpOptions) { o.tlsConfig = c } }

// WithSMTPTimeout replaces SMTPTimeout.
func WithSMTPTimeout(d time.Duration) SMTPOption { return func(o *smtpOptions) { o.timeout = d } }

// RunOnce claims one batch and delivers it. It returns how many messages were delivered and an
// error when the claim or any delivery failed; failed messages are already rescheduled.
func (w *Worker) RunOnce(ctx context.Context) (delivered int, err error) {
	_, delivered, err = w.runBatch(ctx)
	return delivered, err
}

// TemplateKeys returns the data keys a template takes: required first, then optional.
func TemplateKeys(name string) (required, optional []string) {
	s := templateSpecs[name]
	return slices.Clone(s.required), slices.Clone(s.optional)
}
