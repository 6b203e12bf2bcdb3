// Package postgres stores unlockd's data in PostgreSQL with pgx: it implements the domain's stores
// and the session store, applies the embedded migrations, and owns transactions (Transact).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unlockd/unlockd/internal/account"
)

// DB is the connection pool and the clock that timestamps what it writes.
type DB struct {
	Pool *pgxpool.Pool
	now  func() time.Time
}

// Open connects to url and checks the connection.
func Open(ctx context.Context, url string, now func() time.Time) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the connection string, password included: say less.
		return nil, errors.New("parse database url: the connection string is malformed")
	}
	if cfg.MaxConns < 20 {
		cfg.MaxConns = 20
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.RuntimeParams["application_name"] = "unlockd"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &DB{Pool: pool, now: now}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

// txKey carries a unit of work's transaction in a context.
type txKey struct{}

// Atomic runs fn as one unit of work: every store call made with the context fn is given joins one
// transaction, committed when fn returns nil and rolled back otherwise, so a use case that spans
// several steps (approve a request and unlock, unlock and issue a reset link, create an account and
// send its first code) commits all of them, their audit events and their queued messages, or none.
// Like Transact, fn may run again after a serialization failure. fn must not do slow work (hashing,
// network) while it holds the transaction.
func (db *DB) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return fn(ctx)
	}
	return unavailable("unit of work", db.Transact(ctx, func(tx pgx.Tx) error {
		return fn(context.WithValue(ctx, txKey{}, tx))
	}))
}

// conn is what a statement runs on: the unit of work's transaction when ctx carries one, else the
// pool.
func (db *DB) conn(ctx context.Context) interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
} {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return tx
	}
	return db.Pool
}

// Transact runs fn in a transaction, committing when it returns nil and rolling back on an error or
// a panic; inside a unit of work (Atomic) it joins the unit's transaction. Serialization failures and
// deadlocks are retried a few times, so fn may run more than once: it sets whatever it reports afresh
// each time, or a rolled-back attempt's result survives.
func (db *DB) Transact(ctx context.Context, fn func(pgx.Tx) error) error {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return fn(tx)
	}
	const attempts = 3
	var err error
	for i := 0; i < attempts; i++ {
		err = pgx.BeginFunc(ctx, db.Pool, fn)
		if !isRetryable(err) {
			return err
		}
	}
	return err
}

func isRetryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

func isUniqueViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// unavailable wraps failures to reach the database as account.EUNAVAILABLE, so the server answers
// 503 and nothing is half done; other errors are wrapped with the operation's name. A directory
// that cannot be reached inside a unit of work is the directory's outage (account.EDIRECTORY), not
// the database's, though its error holds a network error too.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	if isUnavailable(err) && account.ErrorCode(err) != account.EDIRECTORY {
		return fmt.Errorf("%s: %w: %w", op, account.Errorf(account.EUNAVAILABLE, "The database is unavailable."), err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isUnavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Connection exceptions, operator intervention (shutdown, restart), insufficient resources.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "53")
	}
	// Acquiring from a pool whose server is gone, or a dial that times out.
	return pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || isNetError(err)
}
