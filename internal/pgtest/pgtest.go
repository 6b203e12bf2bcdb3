// Package pgtest gives tests real PostgreSQL: one throwaway cluster per test package (see
// pgcluster), a database per test made from a migrated template, and the rule that a missing
// prerequisite skips a test locally but fails it in CI. Only tests may import it: it imports testing.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/unlockd/unlockd/internal/pgcluster"
	"github.com/unlockd/unlockd/internal/postgres"
)

var shared struct {
	once     sync.Once
	cluster  *pgcluster.Cluster
	err      error
	tmplOnce sync.Once
	tmplErr  error
	seq      atomic.Int64
}

// Main runs a test package's tests and then removes the package's cluster, if one was started.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.cluster != nil {
		if err := shared.cluster.Destroy(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	os.Exit(code)
}

// InCI reports whether missing prerequisites must fail rather than skip.
func InCI() bool { v := os.Getenv("CI"); return v == "true" || v == "1" }

// Prerequisite skips the test when something it needs is missing, or fails it in CI.
func Prerequisite(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if InCI() {
		tb.Fatalf("prerequisite missing (CI=true, so this fails instead of skipping): %v", err)
	}
	tb.Skipf("prerequisite missing: %v", err)
}

// SharedCluster returns this test process's throwaway cluster, starting it on first use.
func SharedCluster(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	shared.once.Do(func() {
		reapStale()
		dir, err := os.MkdirTemp("", "unlockd-pg-")
		if err != nil {
			shared.err = err
			return
		}
		// Remember who owns the cluster, so that a later run can remove it if this process is
		// killed before Main's cleanup (go test -timeout does that).
		_ = os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		c, err := pgcluster.New(dir, 0)
		if err != nil {
			shared.err = err
			_ = os.RemoveAll(dir)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.Start(ctx); err != nil {
			shared.err = err
			_ = os.RemoveAll(dir)
			return
		}
		shared.cluster = c
	})
	Prerequisite(tb, shared.err)
	return shared.cluster
}

// NewDatabase creates a fresh database for one test, made from a template that setup (typically the
// migrations) prepared once per process, and drops it when the test ends. It returns the URL.
func NewDatabase(tb testing.TB, setup func(ctx context.Context, url string) error) string {
	tb.Helper()
	c := SharedCluster(tb)
	ctx := context.Background()
	shared.tmplOnce.Do(func() {
		shared.tmplErr = c.CreateDatabase(ctx, "unlockd_template", "")
		if shared.tmplErr == nil && setup != nil {
			shared.tmplErr = setup(ctx, c.URL("unlockd_template"))
		}
	})
	if shared.tmplErr != nil {
		tb.Fatalf("pgtest: preparing template database: %v", shared.tmplErr)
	}
	name := fmt.Sprintf("t%d_%d_%s", os.Getpid(), shared.seq.Add(1), sanitize(tb.Name()))
	if err := c.CreateDatabase(ctx, name, "unlockd_template"); err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		// Best effort: the whole cluster goes when the package's tests end.
		conn, err := pgx.Connect(context.Background(), c.URL("postgres"))
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return c.URL(name)
}

// Migrate applies every migration to the database at url: the usual setup for NewDatabase.
func Migrate(ctx context.Context, url string) error {
	db, err := postgres.Open(ctx, url, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	m, err := postgres.NewMigrator(db, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 30 {
			break
		}
	}
	return b.String()
}

// reapStale stops and removes clusters left behind by test processes that no longer exist.
func reapStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "unlockd-pg-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil {
			continue // still running (or unreadable): not ours to touch
		}
		if c, err := pgcluster.New(dir, 0); err == nil {
			_ = c.Destroy()
		}
		_ = os.RemoveAll(dir)
	}
}

// Connect opens a connection to url for the test, closed when it ends.
func Connect(tb testing.TB, ctx context.Context, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
