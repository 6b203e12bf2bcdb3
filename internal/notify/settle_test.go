package notify_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/notify"
	"github.com/unlockd/unlockd/internal/postgres"
)

// countingMailer accepts every message and counts them by recipient.
type countingMailer struct {
	mu   sync.Mutex
	sent map[string]int
}

func (m *countingMailer) Send(_ context.Context, to, _, _, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent[to]++
	return nil
}

// unrecordedQueue is the outbox while the database fails over: the first marks are lost.
type unrecordedQueue struct {
	*postgres.Outbox
	mu     sync.Mutex
	losses int
}

func (q *unrecordedQueue) MarkSent(ctx context.Context, id int64) error {
	q.mu.Lock()
	if q.losses > 0 {
		q.losses--
		q.mu.Unlock()
		return errors.New("outbox mark sent: the database is unavailable")
	}
	q.mu.Unlock()
	return q.Outbox.MarkSent(ctx, id)
}

// A message sent while the database goes away is recorded as sent once it is back, within the
// lease, so that no worker sends it a second time.
func TestADeliveryIsRecordedWhenTheDatabaseReturns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.db.Enqueue(ctx, code("alice@example.com", "en", "482915")); err != nil {
		t.Fatal(err)
	}
	mail := &countingMailer{sent: map[string]int{}}
	queue := &unrecordedQueue{Outbox: postgres.NewOutbox(f.db), losses: 3}
	w := notify.NewWorker(queue, f.tmpl, mail, nil, nil, notify.WithClock(f.clock.Now))
	start := time.Now()
	if n, err := w.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if f.pending(t) != 0 || !f.row(t, "alice@example.com").Sent {
		t.Fatal("the delivery was not recorded once the database answered again")
	}
	// Long after the lease, no worker finds it due again.
	f.clock.Advance(time.Hour)
	if n, err := notify.NewWorker(postgres.NewOutbox(f.db), f.tmpl, mail, nil, nil, notify.WithClock(f.clock.Now)).RunOnce(ctx); n != 0 || err != nil {
		t.Fatalf("a second worker claimed %d messages (%v)", n, err)
	}
	if mail.sent["alice@example.com"] != 1 {
		t.Fatalf("sent %d times, want once", mail.sent["alice@example.com"])
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("recording took %s", waited)
	}
}

// sentSignal is a mailer that says when it has sent.
type sentSignal struct{ sent chan struct{} }

func (m *sentSignal) Send(context.Context, string, string, string, string) error {
	select {
	case m.sent <- struct{}{}:
	default:
	}
	return nil
}

// A worker that stops while the database is away does not wait for its whole lease (two minutes)
// to record what it sent: it tries for a few seconds more and stops.
func TestAStoppingWorkerIsNotHeldByADatabaseThatIsAway(t *testing.T) {
	f := newFixture(t)
	if err := f.db.Enqueue(context.Background(), code("alice@example.com", "en", "482915")); err != nil {
		t.Fatal(err)
	}
	mail := &sentSignal{sent: make(chan struct{}, 1)}
	queue := &unrecordedQueue{Outbox: postgres.NewOutbox(f.db), losses: 1 << 30}
	w := notify.NewWorker(queue, f.tmpl, mail, nil, nil, notify.WithClock(f.clock.Now))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	<-mail.sent
	time.Sleep(500 * time.Millisecond) // the worker now retries the record
	cancel()
	stopped := time.Now()
	select {
	case <-done:
		t.Logf("stopped %s after being told", time.Since(stopped).Round(time.Millisecond))
	case <-time.After(30 * time.Second):
		t.Fatal("the worker still runs 30 s after being stopped")
	}
}

// deliveredThenFailed is a mailer whose server takes each message and then drops the session.
type deliveredThenFailed struct{ countingMailer }

func (m *deliveredThenFailed) Send(ctx context.Context, to, subject, text, html string) error {
	_ = m.countingMailer.Send(ctx, to, subject, text, html)
	return notify.Delivered(errors.New("smtp: QUIT: connection reset by peer"))
}

// A message the server took before its session failed is recorded as sent, and never sent again.
func TestAMessageDeliveredBeforeTheSessionFailedIsNotSentAgain(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.db.Enqueue(ctx, code("alice@example.com", "en", "482915")); err != nil {
		t.Fatal(err)
	}
	mail := &deliveredThenFailed{countingMailer{sent: map[string]int{}}}
	w := notify.NewWorker(postgres.NewOutbox(f.db), f.tmpl, mail, nil, nil, notify.WithClock(f.clock.Now))
	if n, err := w.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if !f.row(t, "alice@example.com").Sent {
		t.Fatal("the delivered message is not recorded as sent")
	}
	f.clock.Advance(time.Hour)
	if n, err := w.RunOnce(ctx); n != 0 || err != nil {
		t.Fatalf("a later round claimed %d messages (%v)", n, err)
	}
	if n := mail.sent["alice@example.com"]; n != 1 {
		t.Errorf("sent %d times, want once", n)
	}
}
