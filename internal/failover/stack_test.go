package failover

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/mailpit"
	"github.com/unlockd/unlockd/internal/pgcluster"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/servetest"
)

// stack is what the failover runs on: a primary with a synchronous standby, a mail catcher, and
// unlockd processes configured with both hosts.
type stack struct {
	t                *testing.T
	bin              string
	primary, standby *pgcluster.Cluster
	mail             *mailpit.Server
	env              []string
	servers          []*servetest.Process
	token            string // an admin's API token
}

// process is one `unlockd serve`.
func newStack(t *testing.T, ctx context.Context) *stack {
	t.Helper()
	s := &stack{t: t}
	began := time.Now()
	s.startClusters(ctx)
	t.Logf("primary and synchronous standby ready in %s", time.Since(began).Round(time.Millisecond))
	s.mail = mailpit.Start(t) // skips (or fails in CI) without mailpit
	began = time.Now()
	var err error
	if s.bin, err = servetest.Build(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Logf("unlockd built in %s", time.Since(began).Round(time.Millisecond))
	dbURL := fmt.Sprintf("postgres://postgres@%s,%s/unlockd?sslmode=disable&target_session_attrs=read-write",
		s.primary.Addr(), s.standby.Addr())
	readURL := fmt.Sprintf("postgres://postgres@%s,%s/unlockd?sslmode=disable&target_session_attrs=prefer-standby",
		s.standby.Addr(), s.primary.Addr())
	s.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"UNLOCKD_DATABASE_URL=" + dbURL,
		"UNLOCKD_DATABASE_READ_URL=" + readURL,
		"UNLOCKD_SECRET_KEY=" + strings.Repeat("failover-test-key-", 3),
		"UNLOCKD_SMTP_URL=" + s.mail.SMTPURL().String(),
		// Each request of the load comes from a client address of its own, so that no per-client
		// throttle answers instead of the database.
		"UNLOCKD_TRUSTED_PROXIES=127.0.0.1/32",
		"UNLOCKD_LOG_LEVEL=warn",
	}
	s.cli(ctx, "", "migrate", "up")
	return s
}

// startClusters starts a primary whose commits wait for a synchronous streaming standby.
func (s *stack) startClusters(ctx context.Context) {
	t := s.t
	_, err := pgcluster.FindBin()
	pgtest.Prerequisite(t, err)
	dir := t.TempDir()
	s.primary, err = pgcluster.New(filepath.Join(dir, "primary"), servetest.Port(t))
	pgtest.Prerequisite(t, err)
	s.primary.Settings = map[string]string{"synchronous_commit": "on"}
	if err := s.primary.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.primary.Destroy() })
	if err := s.primary.EnsureDatabase(ctx, "unlockd"); err != nil {
		t.Fatal(err)
	}
	if s.standby, err = s.primary.NewStandby(ctx, filepath.Join(dir, "standby"), servetest.Port(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.standby.Destroy() })
	if err := s.primary.RequireSynchronousStandby(ctx); err != nil {
		t.Fatal(err)
	}
}

// cli runs an unlockd command with the stack's configuration and returns its standard output.
func (s *stack) cli(ctx context.Context, stdin string, args ...string) string {
	s.t.Helper()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("unlockd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// importAccounts creates every account of the load, all with password.
func (s *stack) importAccounts(ctx context.Context, usernames []string, password string) {
	s.t.Helper()
	hash, err := secret.HashPassword(password, secret.DefaultParams)
	if err != nil {
		s.t.Fatal(err)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"username", "email", "phone", "display_name", "role", "password_hash"})
	for _, u := range usernames {
		_ = w.Write([]string{u, u + "@example.com", "", u, "user", hash})
	}
	w.Flush()
	file := filepath.Join(s.t.TempDir(), "accounts.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.cli(ctx, "", "user", "import", file)
	out := strings.TrimSpace(s.cli(ctx, "", "token", "create", "--name", "failover", "--role", "admin"))
	s.token = out[strings.LastIndex(out, "\n")+1:]
}

// serve starts another `unlockd serve`; it is stopped when the test ends.
func (s *stack) serve() *servetest.Process {
	s.t.Helper()
	p := servetest.Start(s.t, []string{s.bin, "serve"}, s.env)
	s.servers = append(s.servers, p)
	return p
}
