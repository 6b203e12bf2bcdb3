package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/notify"
	"github.com/unlockd/unlockd/internal/postgres"
)

// mustOutboxDB returns a fresh, migrated database whose clock the test moves.
func mustOutboxDB(t *testing.T) (*postgres.DB, *accounttest.Clock) {
	t.Helper()
	c := accounttest.NewClock(time.Now().UTC().Truncate(time.Second))
	db := mustDBAt(t, c.Now)
	return db, c
}

func codeMessage(to string) notify.Message {
	return notify.Message{Channel: notify.ChannelEmail, To: to, Template: notify.TemplateCode, Lang: "zh-CN",
		Data: map[string]string{"Code": "123456", "Purpose": "signin", "Minutes": "10"}}
}

func pending(t *testing.T, o *postgres.Outbox) int {
	t.Helper()
	n, err := o.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A message is queued with the transaction that causes it: a rollback queues nothing.
func TestEnqueueBelongsToTheCallersTransaction(t *testing.T) {
	db, _ := mustOutboxDB(t)
	ctx := context.Background()
	o := postgres.NewOutbox(db)

	boom := errors.New("the change failed")
	err := db.Transact(ctx, func(tx pgx.Tx) error {
		if err := postgres.Enqueue(ctx, tx, codeMessage("a@example.com")); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if n := pending(t, o); n != 0 {
		t.Fatalf("pending after rollback = %d", n)
	}

	err = db.Transact(ctx, func(tx pgx.Tx) error {
		return postgres.Enqueue(ctx, tx, codeMessage("a@example.com"), codeMessage("b@example.com"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enqueue(ctx, codeMessage("c@example.com")); err != nil {
		t.Fatal(err)
	}
	if n := pending(t, o); n != 3 {
		t.Fatalf("pending after commit = %d, want 3", n)
	}
	got, err := o.Claim(ctx, 10, time.Minute)
	if err != nil || len(got) != 3 {
		t.Fatalf("claim = %d, %v", len(got), err)
	}
	q := got[0]
	if q.To != "a@example.com" || q.Lang != "zh-CN" || q.Template != "code" || q.Attempts != 1 || q.Data["Code"] != "123456" {
		t.Fatalf("claimed %+v", q)
	}
}

// An invalid message is refused before anything is written, with a reason.
func TestEnqueueRefusesInvalidMessages(t *testing.T) {
	db, _ := mustOutboxDB(t)
	ctx := context.Background()
	bad := codeMessage("a@example.com")
	bad.Data = map[string]string{"Code": "123456", "Username": "alice"}
	err := db.Enqueue(ctx, codeMessage("ok@example.com"), bad)
	if err == nil {
		t.Fatal("accepted a message with a key its template does not take")
	}
	if n := pending(t, postgres.NewOutbox(db)); n != 0 {
		t.Fatalf("pending = %d, want 0: nothing of the batch may be queued", n)
	}
}

// Claims lease messages: no one else gets them until the lease runs out; a worker that died leaves
// its messages to be claimed again, with the attempt counted.
func TestClaimLeasesMessages(t *testing.T) {
	db, clock := mustOutboxDB(t)
	ctx := context.Background()
	o := postgres.NewOutbox(db)
	for i := range 5 {
		if err := db.Enqueue(ctx, codeMessage(fmt.Sprintf("u%d@example.com", i))); err != nil {
			t.Fatal(err)
		}
	}
	first, err := o.Claim(ctx, 3, time.Minute)
	if err != nil || len(first) != 3 {
		t.Fatalf("first claim = %d, %v", len(first), err)
	}
	if first[0].To != "u0@example.com" || first[2].To != "u2@example.com" {
		t.Fatalf("not oldest first: %v, %v", first[0].To, first[2].To)
	}
	rest, _ := o.Claim(ctx, 10, time.Minute)
	if len(rest) != 2 {
		t.Fatalf("second claim = %d, want the 2 unclaimed", len(rest))
	}
	if none, _ := o.Claim(ctx, 10, time.Minute); len(none) != 0 {
		t.Fatalf("claimed %d leased messages", len(none))
	}
	clock.Advance(time.Minute + time.Second)
	again, _ := o.Claim(ctx, 10, time.Minute)
	if len(again) != 5 || again[0].Attempts != 2 {
		t.Fatalf("after the lease: %d messages, attempts %d", len(again), again[0].Attempts)
	}
	if n := pending(t, o); n != 5 {
		t.Fatalf("pending = %d; leased messages are still pending", n)
	}
}

// A failed message waits for its retry time; a dead one is kept, with its error, without its data,
// and never claimed again; a sent one is not claimed again and loses its data.
func TestMarkSentAndMarkFailed(t *testing.T) {
	db, clock := mustOutboxDB(t)
	ctx := context.Background()
	o := postgres.NewOutbox(db)
	for _, to := range []string{"sent@example.com", "retry@example.com", "dead@example.com"} {
		if err := db.Enqueue(ctx, codeMessage(to)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := o.Claim(ctx, 10, time.Minute)
	if len(got) != 3 {
		t.Fatalf("claimed %d", len(got))
	}
	if err := o.MarkSent(ctx, got[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkFailed(ctx, got[1].ID, "dial tcp: connection refused", clock.Now().Add(30*time.Second), false); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkFailed(ctx, got[2].ID, "550 no such user", clock.Now(), true); err != nil {
		t.Fatal(err)
	}
	// Settling twice changes nothing: a late worker cannot revive a sent or dead message.
	if err := o.MarkFailed(ctx, got[0].ID, "late", clock.Now(), false); err != nil {
		t.Fatal(err)
	}

	if n := pending(t, o); n != 1 {
		t.Fatalf("pending = %d, want 1 (the retry)", n)
	}
	if n, _ := o.Dead(ctx); n != 1 {
		t.Fatalf("dead = %d", n)
	}
	if none, _ := o.Claim(ctx, 10, time.Minute); len(none) != 0 {
		t.Fatalf("claimed %d before the retry time", len(none))
	}
	clock.Advance(31 * time.Second)
	retry, _ := o.Claim(ctx, 10, time.Minute)
	if len(retry) != 1 || retry[0].To != "retry@example.com" || retry[0].Attempts != 2 {
		t.Fatalf("after the retry time: %+v", retry)
	}

	type row struct {
		data, lastError string
		sent, dead      bool
	}
	read := func(id int64) row {
		var r row
		if err := db.Pool.QueryRow(ctx, `SELECT data::text, last_error, sent_at IS NOT NULL, dead_at IS NOT NULL
			FROM outbox WHERE id = $1`, id).Scan(&r.data, &r.lastError, &r.sent, &r.dead); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := read(got[0].ID); !r.sent || r.dead || r.data != "{}" {
		t.Errorf("sent message: %+v (its code must be gone)", r)
	}
	if r := read(got[2].ID); r.sent || !r.dead || r.data != "{}" || r.lastError != "550 no such user" {
		t.Errorf("dead message: %+v", r)
	}
	if r := read(got[1].ID); r.data == "{}" || r.lastError != "dial tcp: connection refused" {
		t.Errorf("retried message: %+v", r)
	}

	if n, err := o.Purge(ctx, clock.Now().Add(-24*time.Hour)); err != nil || n != 0 {
		t.Fatalf("purge of recent messages = %d, %v", n, err)
	}
	clock.Advance(48 * time.Hour)
	if n, err := o.Purge(ctx, clock.Now().Add(-24*time.Hour)); err != nil || n != 2 {
		t.Fatalf("purge = %d, %v; want the sent and the dead message", n, err)
	}
}

// Many claimers at once, as several workers in several processes would be, never share a message.
func TestConcurrentClaimsNeverShareAMessage(t *testing.T) {
	db, _ := mustOutboxDB(t)
	ctx := context.Background()
	const total = 300
	msgs := make([]notify.Message, total)
	for i := range msgs {
		msgs[i] = codeMessage(fmt.Sprintf("u%d@example.com", i))
	}
	if err := db.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for range 8 {
		o := postgres.NewOutbox(db)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				got, err := o.Claim(ctx, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, q := range got {
					seen[q.ID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != total {
		t.Fatalf("claimed %d distinct messages, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %d claimed %d times", id, n)
		}
	}
}

// The outbox table refuses what no worker could deliver, whoever writes it.
func TestOutboxTableChecks(t *testing.T) {
	db, _ := mustOutboxDB(t)
	ctx := context.Background()
	for name, sql := range map[string]string{
		"channel":  `INSERT INTO outbox (channel, recipient, template) VALUES ('fax', 'a', 'code')`,
		"data":     `INSERT INTO outbox (channel, recipient, template, data) VALUES ('email', 'a', 'code', '[1]')`,
		"template": `INSERT INTO outbox (channel, recipient, template) VALUES ('email', 'a', '../x')`,
		"settled":  `INSERT INTO outbox (channel, recipient, template, sent_at, dead_at) VALUES ('email', 'a', 'code', now(), now())`,
	} {
		if _, err := db.Pool.Exec(ctx, sql); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
