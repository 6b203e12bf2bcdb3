// Package postgres stores unlockd's data in PostgreSQL with pgx: it implements the domain's stores
// and the session store, applies the embedded migrations, and owns transactions (Transact).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	// servers follows which server the pool's connections reach, to see a failover (servers.go).
	servers *serverWatch
}

// Timeouts of the pool, so that a dead or unreachable host costs a request seconds, not minutes.
const (
	// connectTimeout bounds one host's connection attempt (each host of a multi-host string has its
	// own).
	connectTimeout = 3 * time.Second
	// healthCheckPeriod is how often idle connections are checked and dead ones dropped.
	healthCheckPeriod = 5 * time.Second
	// pingTimeout bounds the liveness ping of a connection idle for more than a second, before it
	// is handed out.
	pingTimeout = 2 * time.Second
	// keepAlive probes an idle TCP connection, so that a host that vanished without closing it
	// (power loss, a network cut) is noticed in about keepAliveIdle + 3 * keepAliveInterval.
	keepAliveIdle     = 10 * time.Second
	keepAliveInterval = 5 * time.Second
)

// Open connects to url and checks the connection. url may name several hosts
// (postgres://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write); with several hosts and no
// target_session_attrs, read-write is assumed, so that writes never go to a standby.
func Open(ctx context.Context, url string, now func() time.Time) (*DB, error) {
	db, err := newDB(ctx, url, now, true)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Pool.Ping(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return db, nil
}

// OpenReads makes the pool of a read-only copy (UNLOCKD_DATABASE_READ_URL) without connecting:
// it connects when first used, so a copy that is down makes the reads it serves unavailable, not
// the start-up fail. Several hosts are taken as they are written (target_session_attrs=any,
// prefer-standby...).
func OpenReads(ctx context.Context, url string, now func() time.Time) (*DB, error) {
	return newDB(ctx, url, now, false)
}

// newDB makes a pool for url; primary pools look for a writable server among several hosts.
func newDB(ctx context.Context, url string, now func() time.Time, primary bool) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the connection string, password included: say less.
		return nil, errors.New("parse database url: the connection string is malformed")
	}
	if now == nil {
		now = time.Now
	}
	db := &DB{now: now, servers: &serverWatch{resetOnReadOnly: primary}}
	configurePool(cfg, db.servers, primary)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.Pool = pool
	db.servers.pool.Store(pool)
	return db, nil
}

// configurePool sets the pool's size, timeouts and health checks, and lets watch see every
// connection made and every statement that finds the database unavailable.
func configurePool(cfg *pgxpool.Config, watch *serverWatch, primary bool) {
	if cfg.MaxConns < 20 {
		cfg.MaxConns = 20
	}
	cfg.HealthCheckPeriod = healthCheckPeriod
	cfg.PingTimeout = pingTimeout
	cc := cfg.ConnConfig
	cc.ConnectTimeout = connectTimeout
	cc.RuntimeParams["application_name"] = "unlockd"
	if primary && len(cc.Fallbacks) > 0 && cc.ValidateConnect == nil {
		cc.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	dialer := &net.Dialer{KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: keepAliveIdle,
		Interval: keepAliveInterval, Count: 3}}
	cc.DialFunc = dialer.DialContext
	cc.Tracer = watch
	cfg.AfterConnect = watch.afterConnect
	cfg.ShouldPing = watch.shouldPing
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
	ctx = account.WithOutsideWrites(ctx)
	err := db.Transact(ctx, func(tx pgx.Tx) error {
		if account.WroteOutside(ctx) {
			// A run before this one sent a write outside the database, which a rollback does not
			// take back: the unit is not repeated (see account.WithOutsideWrites).
			return errOutsideWriteNotRepeated
		}
		return fn(context.WithValue(ctx, txKey{}, tx))
	})
	if w, ok := account.FailedDirectoryWrite(err); ok {
		// The unit rolled back with its record of a write the directory did not take; the attempt
		// is recorded on its own now, outside it (inside, it would wait for the audit chain's lock
		// the unit held). Even a request that has gone is recorded; a database that has gone is
		// not, and the error says why the unit failed.
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = recordDirectoryWrite(recordCtx, db, w)
	}
	return unavailable("unit of work", err)
}

// errOutsideWriteNotRepeated ends a unit of work that would run again (its database lost before
// COMMIT, or a conflict) after it had sent a write elsewhere (the directory): that write stands,
// and its record is lost with the transaction.
var errOutsideWriteNotRepeated = account.Errorf(account.EUNAVAILABLE,
	"A change was made in the directory, but recording it failed: the change stands. Check the account.")

// conn is what a statement runs on: the unit of work's transaction when ctx carries one, else the
// pool.
func (db *DB) conn(ctx context.Context) interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
} {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return tx
	}
	return db.Pool
}

// Transact runs fn in a transaction, committing when it returns nil and rolling back on an error or
// a panic; inside a unit of work (Atomic) it joins the unit's transaction. A transaction that surely
// did not commit is tried again a few times: after a serialization failure or a deadlock, and after
// losing the database before its COMMIT was sent (a dead pooled connection, a failover). So fn may
// run more than once: it sets whatever it reports afresh each time, or a rolled-back attempt's
// result survives. A transaction whose COMMIT was sent and not answered may have committed: it is
// never tried again, and its error says the database is unavailable.
func (db *DB) Transact(ctx context.Context, fn func(pgx.Tx) error) error {
	if tx, ok := ctx.Value(txKey{}).(pgx.Tx); ok {
		return fn(tx)
	}
	var err error
	for attempt := 1; ; attempt++ {
		var commitSent bool
		commitSent, err = db.transactOnce(ctx, fn)
		if attempt == transactAttempts || !mayRetry(err, commitSent) {
			return err
		}
		// A conflict is tried again at once; a lost database gets a moment to come back.
		if !isRetryable(err) && !sleep(ctx, time.Duration(attempt)*retryPause) {
			return err
		}
	}
}

// transactAttempts bounds the tries of one transaction; retryPause is the wait before the second
// after losing the database, twice it before the third.
const (
	transactAttempts = 3
	retryPause       = 100 * time.Millisecond
)

// transactOnce runs fn in one transaction. commitSent says whether COMMIT went to the server: after
// that, an error that is not the server's refusal leaves the outcome unknown.
func (db *DB) transactOnce(ctx context.Context, fn func(pgx.Tx) error) (commitSent bool, err error) {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() {
		if !commitSent {
			_ = tx.Rollback(ctx) // also on a panic, which goes on up
		}
	}()
	if err := fn(tx); err != nil {
		return false, err
	}
	commitSent = true
	return true, tx.Commit(ctx)
}

// mayRetry says whether a failed transaction surely did not commit and may succeed if run again.
func mayRetry(err error, commitSent bool) bool {
	if err == nil {
		return false
	}
	if isRetryable(err) {
		return true // the server refused the transaction, COMMIT included: rolled back
	}
	if commitSent || !isUnavailable(err) {
		return false
	}
	// A timeout has already cost its wait; another would only make the answer later.
	return !errors.Is(err, context.DeadlineExceeded) && !pgconn.Timeout(err)
}

// sleep waits d, or less when ctx ends first; it reports whether the wait was whole.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
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
