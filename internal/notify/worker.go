package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// OutboxQueue is the queue the Worker delivers from; *postgres.Outbox implements it.
//
// Claim takes up to limit due messages for this caller alone until lease has passed (a message whose
// lease runs out is due again: its worker died) and counts the attempt. MarkSent and MarkFailed
// settle a claimed message: delivered; or failed, to be tried again at retryAt, or never (dead, kept
// with its error).
type OutboxQueue interface {
	Claim(ctx context.Context, limit int, lease time.Duration) ([]Queued, error)
	MarkSent(ctx context.Context, id int64) error
	MarkFailed(ctx context.Context, id int64, errText string, retryAt time.Time, dead bool) error
}

// ErrNotConfigured is the failure of a message for a channel this process has no sender for. Such a
// message stays queued and is tried again every MaxBackoff; it is never given up.
var ErrNotConfigured = errors.New("channel not configured")

// Defaults of a Worker.
const (
	DefaultPollInterval = 500 * time.Millisecond
	DefaultBatchSize    = 10
	DefaultConcurrency  = 4
	DefaultSendTimeout  = 30 * time.Second
	DefaultMaxAttempts  = 20
	DefaultMinBackoff   = 5 * time.Second
	DefaultMaxBackoff   = 10 * time.Minute
)

// WithWebhooks sets the poster of outgoing webhook events.
func WithWebhooks(p *WebhookPoster) WorkerOption { return func(w *Worker) { w.hooks = p } }

// Worker delivers queued messages: it claims a batch, renders and sends each message, and records
// the outcome. Several workers, in one process or many, can share a queue: a message is claimed by
// one of them at a time. Delivery is at least once: a worker that dies after sending and before
// recording it leaves the message to be sent again when its lease runs out.
type Worker struct {
	queue OutboxQueue
	tmpl  *Templates
	mail  Mailer
	sms   SMSSender
	log   *slog.Logger

	now         func() time.Time
	poll        time.Duration
	batch       int
	concurrency int
	sendTimeout time.Duration
	maxAttempts int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	metrics     func(channel, result string)
	hooks       *WebhookPoster
}

// WorkerOption adjusts a Worker.
type WorkerOption func(*Worker)

// WithMetrics sets a function told the outcome of every delivery attempt: channel is email or sms,
// result is sent, retry or dead. It must be quick and safe for concurrent use.
func WithMetrics(fn func(channel, result string)) WorkerOption {
	return func(w *Worker) { w.metrics = fn }
}

// NewWorker returns a worker delivering from queue. mail or sms may be nil when that channel is not
// configured; its messages then wait in the queue (see ErrNotConfigured). log may be nil.
func NewWorker(queue OutboxQueue, tmpl *Templates, mail Mailer, sms SMSSender, log *slog.Logger, opts ...WorkerOption) *Worker {
	// A nil *SMTPMailer or *WebhookSMS in the interface is "not configured", not a crash later.
	if m, ok := mail.(*SMTPMailer); ok && m == nil {
		mail = nil
	}
	if s, ok := sms.(*WebhookSMS); ok && s == nil {
		sms = nil
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w := &Worker{
		queue: queue, tmpl: tmpl, mail: mail, sms: sms, log: log,
		now:         time.Now,
		poll:        DefaultPollInterval,
		batch:       DefaultBatchSize,
		concurrency: DefaultConcurrency,
		sendTimeout: DefaultSendTimeout,
		maxAttempts: DefaultMaxAttempts,
		minBackoff:  DefaultMinBackoff,
		maxBackoff:  DefaultMaxBackoff,
	}
	for _, opt := range opts {
		opt(w)
	}
	w.batch = max(w.batch, 1)
	w.maxAttempts = max(w.maxAttempts, 1)
	return w
}

// maxErrWait caps the wait between two tries to read a queue that could not be read: a failover
// takes seconds, and delivery should resume within seconds of it.
const maxErrWait = 5 * time.Second

// lease is how long a claimed batch stays this worker's: long enough to send all of it one
// concurrency-wide slice after another, each slice taking at most the send timeout, plus a margin.
func (w *Worker) lease() time.Duration {
	rounds := (w.batch + w.concurrency - 1) / w.concurrency
	return time.Duration(rounds+1) * w.sendTimeout
}

// Run delivers until ctx is cancelled, then finishes the messages it is sending and returns nil. It
// polls every poll interval, and at once again after a full batch. When the queue cannot be read
// (the database is away, or failing over) it waits longer each time, up to maxErrWait, and
// carries on when it is back.
func (w *Worker) Run(ctx context.Context) error {
	w.log.Info("delivery worker started", "email", w.mail != nil, "sms", w.sms != nil)
	defer w.log.Info("delivery worker stopped")
	errWait := w.poll
	for {
		claimed, _, err := w.runBatch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := w.poll
		switch {
		case err != nil && claimed == 0:
			w.log.Warn("delivery worker cannot read the queue", "err", err)
			errWait = min(errWait*2, maxErrWait)
			wait = errWait
		case claimed == w.batch:
			wait = 0
			errWait = w.poll
		default:
			errWait = w.poll
		}
		if wait == 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (w *Worker) runBatch(ctx context.Context) (claimed, delivered int, err error) {
	// The batch is ours until the lease ends: until then an outcome that cannot be recorded (the
	// database is away) is tried again, since after it another worker sends the message again.
	leaseEnd := time.Now().Add(w.lease())
	batch, err := w.queue.Claim(ctx, w.batch, w.lease())
	if err != nil {
		return 0, 0, fmt.Errorf("notify: claim messages: %w", err)
	}
	results := make([]error, len(batch))
	sem := make(chan struct{}, w.concurrency)
	var wg sync.WaitGroup
	for i, q := range batch {
		if ctx.Err() == nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			// Stopping: hand back what was claimed and not started, so it need not wait for the lease.
			results[i] = w.settle(ctx, q, fmt.Errorf("not attempted: the worker stopped: %w", ctx.Err()), leaseEnd)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			sendCtx, cancel := context.WithTimeout(ctx, w.sendTimeout)
			err := w.deliver(sendCtx, q)
			cancel()
			results[i] = w.settle(ctx, q, err, leaseEnd)
		}()
	}
	wg.Wait()
	var errs []error
	for _, err := range results {
		if err == nil {
			delivered++
		} else {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return len(batch), delivered, fmt.Errorf("notify: %d of %d messages not delivered: %w", len(errs), len(batch), errors.Join(errs...))
	}
	return len(batch), delivered, nil
}

// deliver renders and sends one message. Rendering happens here, not when queuing, so the
// queue holds data rather than finished text and a template fix applies to what is still waiting.
func (w *Worker) deliver(ctx context.Context, q Queued) error {
	switch q.Channel {
	case ChannelEmail:
		if w.mail == nil {
			return fmt.Errorf("email: %w", ErrNotConfigured)
		}
		subject, text, html, err := w.tmpl.Render(q.Message)
		if err != nil {
			return err
		}
		return w.mail.Send(ctx, q.To, subject, text, html)
	case ChannelSMS:
		if w.sms == nil {
			return fmt.Errorf("sms: %w", ErrNotConfigured)
		}
		text, err := w.tmpl.RenderSMS(q.Message)
		if err != nil {
			return err
		}
		return w.sms.Send(ctx, q.To, text)
	case ChannelWebhook:
		if w.hooks == nil {
			return fmt.Errorf("webhook: %w", ErrNotConfigured)
		}
		return w.hooks.Post(ctx, q.To, q.Data)
	default:
		return fmt.Errorf("%s: %w", q.Channel, ErrNotConfigured)
	}
}

// settle records the outcome of one attempt. It runs even when ctx is cancelled, so that a worker
// that stops still writes down what it did. A record that fails (the database is away) is tried
// again until shortly before leaseEnd (for markWait at least, and at most when the worker stops):
// a delivery not recorded would be sent again once the lease runs out.
func (w *Worker) settle(ctx context.Context, q Queued, sendErr error, leaseEnd time.Time) error {
	stopping := ctx.Err() != nil
	deadline := time.Now().Add(markWait)
	if untilLease := leaseEnd.Add(-leaseMargin); !stopping && untilLease.After(deadline) {
		deadline = untilLease
	}
	stop := ctx.Done()
	ctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	log := w.log.With("message_id", q.ID, "channel", q.Channel, "template", q.Template, "attempt", q.Attempts)
	if IsDelivered(sendErr) {
		log.Warn("message delivered, then the session failed", "err", sendErr)
		sendErr = nil
	}
	if sendErr == nil {
		if err := untilRecorded(ctx, stop, func() error { return w.queue.MarkSent(ctx, q.ID) }); err != nil {
			log.Error("message delivered but not marked sent: it will be delivered again", "err", err)
			return fmt.Errorf("message %d: mark sent: %w", q.ID, err)
		}
		w.metric(q.Channel, "sent")
		log.Info("message delivered")
		return nil
	}

	now := w.now()
	retryAt := now.Add(w.backoff(q.Attempts))
	dead := false
	switch {
	case stopping && !IsPermanent(sendErr):
		retryAt = now // interrupted by a shutdown: not the message's fault, try again at once
	case errors.Is(sendErr, ErrNotConfigured):
		retryAt = now.Add(w.maxBackoff)
	case IsPermanent(sendErr), q.Attempts >= w.maxAttempts:
		dead = true
	}
	errText := sendErr.Error()
	if len(errText) > 2000 {
		errText = errText[:2000]
	}
	if err := untilRecorded(ctx, stop, func() error { return w.queue.MarkFailed(ctx, q.ID, errText, retryAt, dead) }); err != nil {
		log.Error("message failed and could not be rescheduled", "err", sendErr, "mark_err", err)
		return fmt.Errorf("message %d: %w (and mark failed: %w)", q.ID, sendErr, err)
	}
	if dead {
		w.metric(q.Channel, "dead")
		log.Error("message given up", "err", sendErr)
	} else {
		w.metric(q.Channel, "retry")
		log.Warn("message not delivered, will retry", "err", sendErr, "retry_at", retryAt.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("message %d: %w", q.ID, sendErr)
}

// leaseMargin is kept between the last try to record an outcome and the end of the lease, so that
// a record does not race another worker's claim; markWait is how long the tries may take when the
// lease is shorter, or the worker stops.
const (
	leaseMargin = 5 * time.Second
	markWait    = 10 * time.Second
)

// untilRecorded runs record until it succeeds or ctx ends, waiting a little longer after each
// failure; once stop closes (the worker stops) it tries for markWait more at most, so that a
// stopping process is not held for a whole lease. Recording an outcome is idempotent (a settled
// message is left alone), so a try whose answer was lost may be made again.
func untilRecorded(ctx context.Context, stop <-chan struct{}, record func() error) error {
	wait := 100 * time.Millisecond
	var giveUp <-chan time.Time
	for {
		err := record()
		if err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-giveUp:
			t.Stop()
			return err
		case <-stop:
			t.Stop()
			stop, giveUp = nil, time.After(markWait)
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Second)
	}
}

func (w *Worker) metric(channel, result string) {
	if w.metrics != nil {
		w.metrics(channel, result)
	}
}

// backoff is the wait before attempt+1: the first wait doubled per failed attempt, capped, then
// spread by ±20% so that messages that failed together (an outage) do not all retry together.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.minBackoff
	for i := 1; i < attempt && d < w.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.maxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
