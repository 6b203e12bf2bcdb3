package pgcluster_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unlockd/unlockd/internal/pgcluster"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/servetest"
)

// A synchronous standby has every commit its primary confirmed: after the primary crashes and the
// standby is promoted, all of them are there, and the new primary takes writes. Before that the
// standby answers reads and refuses writes.
func TestAPromotedSynchronousStandbyHasEveryConfirmedCommit(t *testing.T) {
	_, err := pgcluster.FindBin()
	pgtest.Prerequisite(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()

	primary, err := pgcluster.New(filepath.Join(dir, "primary"), servetest.Port(t))
	pgtest.Prerequisite(t, err)
	primary.Settings = map[string]string{"synchronous_commit": "on"}
	if err := primary.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = primary.Destroy() })
	standby, err := primary.NewStandby(ctx, filepath.Join(dir, "standby"), servetest.Port(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = standby.Destroy() })
	if err := primary.RequireSynchronousStandby(ctx); err != nil {
		t.Fatal(err)
	}

	conn := pgtest.Connect(t, ctx, primary.URL("postgres"))
	if _, err := conn.Exec(ctx, `CREATE TABLE commits (n int)`); err != nil {
		t.Fatal(err)
	}
	const commits = 200
	for i := range commits {
		if _, err := conn.Exec(ctx, `INSERT INTO commits VALUES ($1)`, i); err != nil {
			t.Fatal(err)
		}
	}
	onStandby := pgtest.Connect(t, ctx, standby.URL("postgres"))
	_, err = onStandby.Exec(ctx, `INSERT INTO commits VALUES (-1)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Fatalf("a write on the standby: %v, want SQLSTATE 25006", err)
	}

	if err := primary.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	promoted := pgtest.Connect(t, ctx, standby.URL("postgres"))
	var n int
	if err := promoted.QueryRow(ctx, `SELECT count(*) FROM commits`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != commits {
		t.Fatalf("the promoted standby has %d of the %d confirmed commits", n, commits)
	}
	if _, err := promoted.Exec(ctx, `INSERT INTO commits VALUES ($1)`, commits); err != nil {
		t.Fatalf("the promoted standby refuses writes: %v", err)
	}
}
