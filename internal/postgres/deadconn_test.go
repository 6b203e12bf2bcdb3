package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/unlockd/unlockd/internal/account"
)

// A pooled connection that the server has ended (a restart, a failover, an administrator's
// pg_terminate_backend) costs no request: the transaction that meets it has sent no COMMIT, so it
// runs again on a fresh connection, once, and the pool's other dead connections are found by a
// ping instead of by more requests.
func TestATransactionOnADeadPooledConnectionRunsAgainOnce(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE marks (n int)`); err != nil {
		t.Fatal(err)
	}
	// Every pooled connection is ended; the pool does not know it yet.
	var pids []uint32
	var held []*pgxpool.Conn
	for range 4 {
		c, err := db.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		pids = append(pids, c.Conn().PgConn().PID())
	}
	for _, c := range held {
		c.Release()
	}
	other, err := pgx.Connect(ctx, db.Pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, `SELECT pg_terminate_backend(pid::int) FROM unnest($1::bigint[]) pid`, pids); err != nil {
		t.Fatal(err)
	}
	runs := 0
	err = db.Transact(ctx, func(tx pgx.Tx) error {
		runs++
		_, err := tx.Exec(ctx, `INSERT INTO marks VALUES (1)`)
		return err
	})
	if err != nil {
		t.Fatalf("the transaction failed on a dead pooled connection: %v", err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM marks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows after %d runs, want exactly 1", n, runs)
	}
}

// A write refused as read-only (the pool's server became a standby; here its sessions were made
// read-only) drops every connection of the pool, and the transaction runs again on a new one,
// which looks for a writable server.
func TestAWriteThatMeetsAReadOnlyServerRunsAgainOnANewConnection(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE marks (n int)`); err != nil {
		t.Fatal(err)
	}
	var held []*pgxpool.Conn
	for range 4 {
		c, err := db.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, `SET default_transaction_read_only = on`); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for _, c := range held {
		c.Release()
	}
	runs := 0
	err := db.Transact(ctx, func(tx pgx.Tx) error {
		runs++
		_, err := tx.Exec(ctx, `INSERT INTO marks VALUES (1)`)
		return err
	})
	if err != nil {
		t.Fatalf("the write failed: %v", err)
	}
	var n int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM marks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 || runs < 2 {
		t.Fatalf("%d rows after %d runs, want 1 row after a refused run", n, runs)
	}
}

// A unit of work that loses its database before COMMIT runs again, unless it has sent a write
// outside the database (the directory) meanwhile: that write stands, and a second run would send
// it again (a directory refuses the same new password as history). The unit then fails as the
// database's outage, having run once.
func TestAUnitOfWorkIsNotRunAgainAfterAWriteOutsideTheDatabase(t *testing.T) {
	db := mustDB(t)
	ctx := context.Background()
	if _, err := db.Pool.Exec(ctx, `CREATE TABLE marks (n int)`); err != nil {
		t.Fatal(err)
	}
	other, err := pgx.Connect(ctx, db.Pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	for _, wroteOutside := range []bool{false, true} {
		runs := 0
		err := db.Atomic(ctx, func(ctx context.Context) error {
			runs++
			return db.Transact(ctx, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `INSERT INTO marks VALUES (1)`); err != nil {
					return err
				}
				if runs > 1 {
					return nil
				}
				if wroteOutside {
					account.NoteOutsideWrite(ctx)
				}
				// The database goes away before COMMIT.
				if _, err := other.Exec(ctx, `SELECT pg_terminate_backend($1)`, int(tx.Conn().PgConn().PID())); err != nil {
					t.Fatal(err)
				}
				_, err := tx.Exec(ctx, `INSERT INTO marks VALUES (2)`)
				return err
			})
		})
		switch {
		case !wroteOutside && (err != nil || runs != 2):
			t.Errorf("without a write outside: %v after %d runs, want success on the second", err, runs)
		case wroteOutside && (runs != 1 || account.ErrorCode(err) != account.EUNAVAILABLE):
			t.Errorf("after a write outside: %v after %d runs, want the outage after one run", err, runs)
		}
	}
}
