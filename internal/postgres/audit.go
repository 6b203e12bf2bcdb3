package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/audit"
)

// auditLockID serialises appends to the audit chain. It is taken as the last step of a transaction,
// so it is held only for the few statements that append.
const auditLockID = 0x61756469745f6c67 // "audit_lg"

// appendAudit adds events to the chain inside tx. Call it last in a transaction.
func appendAudit(ctx context.Context, tx pgx.Tx, events ...*audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	// The lock, then the head, sent together: they are two statements, so the head is read with a
	// snapshot taken once the lock is held (read committed), and sees the last append committed.
	var lastID int64
	prev := audit.GenesisHash
	var b pgx.Batch
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, int64(auditLockID))
	b.Queue(`SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1`).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&lastID, &prev); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	for _, e := range events {
		if e.Details == "" {
			e.Details = "{}"
		}
		lastID++
		e.Seal(lastID, prev)
		prev = e.Hash
		if _, err := tx.Exec(ctx, `INSERT INTO audit_events
			(id, at, actor, action, account_id, username, client_ip, details, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			e.ID, e.At, e.Actor, e.Action, e.AccountID, e.Username, e.ClientIP, e.Details, e.PrevHash, e.Hash); err != nil {
			return fmt.Errorf("audit append: %w", err)
		}
	}
	return nil
}

// AuditStore reads the audit log.
type AuditStore struct{ db *DB }

// NewAuditStore returns the audit log reader.
func NewAuditStore(db *DB) *AuditStore { return &AuditStore{db: db} }

// AuditFilter selects events. Zero fields do not filter.
type AuditFilter struct {
	AccountID *int64
	Action    string
	Actor     string
	Since     time.Time
	BeforeID  int64 // keyset pagination: events older than this id
	Limit     int
}

const auditColumns = `id, at, actor, action, account_id, username, client_ip, details, prev_hash, hash`

func scanEvent(row pgx.Row) (*audit.Event, error) {
	var e audit.Event
	if err := row.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.AccountID, &e.Username, &e.ClientIP, &e.Details, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.At = e.At.UTC()
	return &e, nil
}

// Events returns matching events, newest first.
func (s *AuditStore) Events(ctx context.Context, f AuditFilter) ([]*audit.Event, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.AccountID != nil {
		add("account_id = $%d", *f.AccountID)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Actor != "" {
		add("actor = $%d", f.Actor)
	}
	if !f.Since.IsZero() {
		add("at >= $%d", f.Since)
	}
	if f.BeforeID > 0 {
		add("id < $%d", f.BeforeID)
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	q := `SELECT ` + auditColumns + ` FROM audit_events`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", f.Limit)
	rows, err := s.db.conn(ctx).Query(ctx, q, args...)
	if err != nil {
		return nil, unavailable("audit events", err)
	}
	defer rows.Close()
	var out []*audit.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("audit events: %w", err)
		}
		out = append(out, e)
	}
	return out, unavailable("audit events", rows.Err())
}

// Each calls fn for every event from since on, oldest first, reading in pages so that a long log
// does not sit in memory.
func (s *AuditStore) Each(ctx context.Context, since time.Time, fn func(*audit.Event) error) error {
	var after int64
	for {
		rows, err := s.db.conn(ctx).Query(ctx, `SELECT `+auditColumns+` FROM audit_events
			WHERE id > $1 AND at >= $2 ORDER BY id LIMIT 5000`, after, since)
		if err != nil {
			return unavailable("audit read", err)
		}
		n := 0
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("audit read: %w", err)
			}
			n++
			after = e.ID
			if err := fn(e); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return unavailable("audit read", err)
		}
		if n == 0 {
			return nil
		}
	}
}

// Verify walks the whole chain. It returns the number of events checked and, when the chain is
// broken, an *audit.Problem naming the first bad event.
func (s *AuditStore) Verify(ctx context.Context) (int64, error) {
	v := audit.NewVerifier()
	err := s.Each(ctx, time.Time{}, v.Check)
	return v.Count(), err
}
