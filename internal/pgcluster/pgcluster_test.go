package pgcluster_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/pgcluster"
	"github.com/unlockd/unlockd/internal/pgtest"
)

// A cluster keeps its databases across a restart (the second `unlockd dev`), EnsureDatabase is
// idempotent, and Destroy stops a server that another Cluster value started (one a killed process
// left behind) before it removes the directory.
func TestClusterRestartsWithItsDataAndIsDestroyedByAnyone(t *testing.T) {
	_, err := pgcluster.FindBin()
	pgtest.Prerequisite(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "pg")

	first, err := pgcluster.New(dir, 0)
	pgtest.Prerequisite(t, err)
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Destroy() })
	for range 2 {
		if err := first.EnsureDatabase(ctx, "unlockd"); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, ctx, first.URL("unlockd"))

	pid := serverPID(t, dir)
	other, err := pgcluster.New(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the cluster directory is still there: %v", err)
	}
	// pg_ctl has seen the server go; the process itself may take a moment to be reaped.
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server (pid %d) still runs after Destroy", pid)
		}
	}
}

// serverPID reads the postmaster's process id from its pid file.
func serverPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

func mustConnect(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
}
