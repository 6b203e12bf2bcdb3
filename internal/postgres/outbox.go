package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/notify"
)

// enqueue queues messages inside tx, so that they are sent if and only if the caller's transaction
// commits: the change that causes a message and the message are one unit. Messages are checked with
// notify.Validate first; an invalid one is an error and nothing is queued.
func enqueue(ctx context.Context, tx pgx.Tx, msgs []notify.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, m := range msgs {
		if err := notify.Validate(m); err != nil {
			return err
		}
		data := m.Data
		if data == nil {
			data = map[string]string{}
		}
		b.Queue(`INSERT INTO outbox (channel, recipient, template, lang, time_zone, data) VALUES ($1, $2, $3, $4, $5, $6)`,
			m.Channel, m.To, m.Template, notify.NormalizeLang(m.Lang), m.Zone, data)
	}
	return tx.SendBatch(ctx, &b).Close()
}

// Enqueue queues messages in a transaction of their own, for messages no other change goes with.
func (db *DB) Enqueue(ctx context.Context, msgs ...notify.Message) error {
	return unavailable("outbox enqueue", db.Transact(ctx, func(tx pgx.Tx) error {
		return enqueue(ctx, tx, msgs)
	}))
}

// Outbox is the delivery side of the queue; it implements notify.OutboxQueue.
type Outbox struct {
	db *DB
	// unsure holds the leases of claims whose answer was lost (the connection broke): they may
	// have committed, leasing messages that nobody sends until the lease runs out. The next Claim
	// hands them back first. Each claim's lease end is unique to it (see leaseEnd), so it names
	// that claim's messages.
	mu     sync.Mutex
	unsure []time.Time
}

// NewOutbox returns the queue of db.
func NewOutbox(db *DB) *Outbox { return &Outbox{db: db} }

var _ notify.OutboxQueue = (*Outbox)(nil)

// Claim takes up to limit due messages, oldest due first, and leases them to the caller until now +
// lease; each claim counts as an attempt. One statement selects and leases, skipping rows another
// transaction has locked, so concurrent claimers (in any number of processes) never get the same
// message; a message whose lease has run out without being settled is due again. Messages that a
// claim whose answer was lost may have leased are handed back first, so that a failover does not
// hold them for a whole lease.
func (o *Outbox) Claim(ctx context.Context, limit int, lease time.Duration) ([]notify.Queued, error) {
	if limit <= 0 {
		return nil, nil
	}
	if err := o.releaseUnsure(ctx); err != nil {
		return nil, err
	}
	now := o.db.now()
	until := leaseEnd(now, lease)
	out, err := o.claim(ctx, now, until, limit)
	if err != nil && isUnavailable(err) {
		o.remember(until)
	}
	return out, err
}

// leaseEnd is now + lease, plus a random part of a second to the microsecond (what PostgreSQL
// keeps), so that no two claims share it: it names the claim's messages.
func leaseEnd(now time.Time, lease time.Duration) time.Time {
	return now.Add(lease + rand.N(time.Second)).Truncate(time.Microsecond)
}

func (o *Outbox) claim(ctx context.Context, now, until time.Time, limit int) ([]notify.Queued, error) {
	// MATERIALIZED: the locking subquery runs once, so LIMIT bounds the batch.
	rows, err := o.db.conn(ctx).Query(ctx, `WITH due AS MATERIALIZED (
			SELECT id FROM outbox
			WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1
			  AND (leased_until IS NULL OR leased_until <= $1)
			ORDER BY next_attempt_at, id
			LIMIT $3
			FOR UPDATE SKIP LOCKED)
		UPDATE outbox o SET attempts = o.attempts + 1, leased_until = $2
		FROM due WHERE o.id = due.id
		RETURNING o.id, o.attempts, o.channel, o.recipient, o.template, o.lang, o.time_zone, o.data`,
		now, until, limit)
	if err != nil {
		return nil, unavailable("outbox claim", err)
	}
	defer rows.Close()
	var out []notify.Queued
	for rows.Next() {
		var q notify.Queued
		if err := rows.Scan(&q.ID, &q.Attempts, &q.Channel, &q.To, &q.Template, &q.Lang, &q.Zone, &q.Data); err != nil {
			return nil, fmt.Errorf("outbox claim: %w", err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("outbox claim", err)
	}
	slices.SortFunc(out, func(a, b notify.Queued) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// maxUnsure bounds the leases remembered; older ones simply run out.
const maxUnsure = 100

func (o *Outbox) remember(until time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unsure = append(o.unsure, until)
	if len(o.unsure) > maxUnsure {
		o.unsure = o.unsure[len(o.unsure)-maxUnsure:]
	}
}

// releaseUnsure hands back the messages of claims whose answer was lost: unsent, they are due
// again at once. The attempt those claims counted stays counted.
func (o *Outbox) releaseUnsure(ctx context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(o.unsure) > 0 {
		if _, err := o.db.conn(ctx).Exec(ctx, `UPDATE outbox SET leased_until = NULL
			WHERE leased_until = $1 AND sent_at IS NULL AND dead_at IS NULL`, o.unsure[0]); err != nil {
			return unavailable("outbox release lost claim", err)
		}
		o.unsure = o.unsure[1:]
	}
	return nil
}

// MarkSent records a delivery and empties the message's data (it may hold a code or a link). A
// message already settled (sent by another worker after this one's lease ran out) is left alone.
func (o *Outbox) MarkSent(ctx context.Context, id int64) error {
	_, err := o.db.conn(ctx).Exec(ctx, `UPDATE outbox SET sent_at = $2, leased_until = NULL, data = '{}'
		WHERE id = $1 AND sent_at IS NULL AND dead_at IS NULL`, id, o.db.now())
	return unavailable("outbox mark sent", err)
}

// MarkFailed records a failed attempt: the message is due again at retryAt, or, when dead, never; a
// dead message is kept, with its error and without its data.
func (o *Outbox) MarkFailed(ctx context.Context, id int64, errText string, retryAt time.Time, dead bool) error {
	_, err := o.db.conn(ctx).Exec(ctx, `UPDATE outbox SET leased_until = NULL, last_error = $2, next_attempt_at = $3,
			dead_at = CASE WHEN $4::boolean THEN $5::timestamptz END,
			data = CASE WHEN $4::boolean THEN '{}'::jsonb ELSE data END
		WHERE id = $1 AND sent_at IS NULL AND dead_at IS NULL`, id, errText, retryAt, dead, o.db.now())
	return unavailable("outbox mark failed", err)
}

// Pending counts messages not yet sent nor given up, whether due or waiting for a retry.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	var n int
	err := o.db.conn(ctx).QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL`).Scan(&n)
	return n, unavailable("outbox pending", err)
}

// Dead counts messages given up.
func (o *Outbox) Dead(ctx context.Context) (int, error) {
	var n int
	err := o.db.conn(ctx).QueryRow(ctx, `SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL`).Scan(&n)
	return n, unavailable("outbox dead", err)
}

// Purge deletes messages sent or given up before before; run it now and then.
func (o *Outbox) Purge(ctx context.Context, before time.Time) (int64, error) {
	tag, err := o.db.conn(ctx).Exec(ctx, `DELETE FROM outbox WHERE sent_at < $1 OR dead_at < $1`, before)
	if err != nil {
		return 0, unavailable("outbox purge", err)
	}
	return tag.RowsAffected(), nil
}

// queue puts the domain's messages into the outbox inside tx; empty messages are skipped.
func queue(ctx context.Context, tx pgx.Tx, msgs ...account.Message) error {
	// The caller's transaction reports the error: enqueue, not Enqueue, which would wrap it again.
	return enqueue(ctx, tx, slices.DeleteFunc(slices.Clone(msgs), func(m account.Message) bool { return m.To == "" || m.Template == "" }))
}
