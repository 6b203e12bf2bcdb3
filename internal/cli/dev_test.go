package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/mailcatcher"
	"github.com/unlockd/unlockd/internal/pgcluster"
	"github.com/unlockd/unlockd/internal/pgtest"
)

// takenAddr is an address another listener holds until the test ends.
func takenAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// runDev runs `unlockd dev` with only the variables of env set, and returns its exit code and
// standard error.
func runDev(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, append([]string{"dev"}, args...), IO{In: strings.NewReader(""), Out: &out, Err: &errOut},
		func(k string) string { return env[k] })
	return code, errOut.String()
}

// assertNothingStarted checks that a refused `unlockd dev` left its data directory untouched: no
// cluster was made, no mailpit was given a database.
func assertNothingStarted(t *testing.T, dir, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "PostgreSQL") {
		t.Errorf("PostgreSQL was started before the refusal:\n%s", stderr)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("the data directory got %d entries, such as %s: something started", len(entries), entries[0].Name())
	}
}

func TestDevRefusesATakenListenAddressBeforeStartingAnything(t *testing.T) {
	addr := takenAddr(t)
	dir := t.TempDir()
	code, stderr := runDev(t, map[string]string{"UNLOCKD_LISTEN": addr}, "--data", dir)
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q; want exit 1 and one line", code, stderr)
	}
	for _, want := range []string{addr + " is taken", "set UNLOCKD_LISTEN to a free address"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q does not say %q", stderr, want)
		}
	}
	assertNothingStarted(t, dir, stderr)
}

func TestDevRefusesATakenMailAddressItWasGiven(t *testing.T) {
	for _, variable := range []string{envDevSMTP, envDevInbox} {
		addr := takenAddr(t)
		dir := t.TempDir()
		code, stderr := runDev(t, map[string]string{"UNLOCKD_LISTEN": "127.0.0.1:0", variable: addr}, "--data", dir)
		if code != 1 || !strings.Contains(stderr, addr+" (for mailpit's") ||
			!strings.Contains(stderr, "is taken: set "+variable+" to a free address") {
			t.Errorf("%s taken: exit %d, stderr %q", variable, code, stderr)
		}
		assertNothingStarted(t, dir, stderr)
	}
}

// A mailpit already on the default port (another run's) is not shared: this run's mailpit gets a
// free port, and says which.
func TestDevMailAddrMovesOffATakenDefault(t *testing.T) {
	def := takenAddr(t)
	var errOut bytes.Buffer
	addr, err := devMailAddr(IO{Err: &errOut}, func(string) string { return "" }, envDevInbox, def, "mailpit's inbox")
	if err != nil {
		t.Fatal(err)
	}
	if addr == def || !strings.HasPrefix(addr, "127.0.0.1:") || mailcatcher.CheckFree(addr) != nil {
		t.Fatalf("got %s for a taken %s; want another free address on the same host", addr, def)
	}
	if msg := errOut.String(); !strings.Contains(msg, def+" is taken") || !strings.Contains(msg, addr) ||
		!strings.Contains(msg, envDevInbox) {
		t.Errorf("the move is not said plainly: %q", msg)
	}
	free, err := devMailAddr(IO{Err: &errOut}, func(string) string { return "" }, envDevInbox, addr, "mailpit's inbox")
	if err != nil || free != addr {
		t.Errorf("a free default: got %s, %v; want it kept", free, err)
	}
}

func TestDevResetRefusesADatabaseItDoesNotOwn(t *testing.T) {
	dir := t.TempDir()
	code, stderr := runDev(t, map[string]string{"UNLOCKD_DATABASE_URL": "postgres://elsewhere/unlockd"}, "--reset", "--data", dir)
	if code != 2 || !strings.Contains(stderr, "UNLOCKD_DATABASE_URL") {
		t.Fatalf("exit %d, stderr %q; want a usage error naming UNLOCKD_DATABASE_URL", code, stderr)
	}
	assertNothingStarted(t, dir, stderr)
}

func TestResetDemoDeletesTheDatabaseAndMailOnly(t *testing.T) {
	dir := t.TempDir()
	cluster, err := pgcluster.New(filepath.Join(dir, "pg"), 0)
	pgtest.Prerequisite(t, err)
	for _, f := range []string{"pg/data/PG_VERSION", "mailpit.db", "mailpit.db-wal", "bin/unlockd"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var errOut bytes.Buffer
	if err := resetDemo(context.Background(), IO{Err: &errOut}, cluster, dir); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"pg", "mailpit.db", "mailpit.db-wal"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s is still there after a reset (%v)", gone, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bin/unlockd")); err != nil {
		t.Errorf("the reset deleted the built binary: %v", err)
	}
}
