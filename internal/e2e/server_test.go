package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/mailpit"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/servetest"
)

func TestMain(m *testing.M) {
	pgtest.Main(m)
}

// moduleRoot is the directory holding this module's go.mod.
func moduleRoot(tb testing.TB) string {
	tb.Helper()
	root, err := findModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

var modulePath = regexp.MustCompile(`(?m)^module\s+github\.com/unlockd/unlockd\s*$`)

// findModuleRoot walks up from the working directory (go test runs a test binary in its package
// directory) to the go.mod of github.com/unlockd/unlockd, and asks the go command otherwise.
func findModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			modulePath.Match(data) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Dir(gomod), nil
	}
	return "", fmt.Errorf("cannot find the module root of github.com/unlockd/unlockd above %s", dir)
}

var built struct {
	once sync.Once
	bin  string
	err  error
}

// binary builds cmd/unlockd once per test process. It goes into the package's throwaway
// PostgreSQL cluster directory, which pgtest.Main removes when the tests end, so no build is left
// behind in the temporary directory.
func binary(t *testing.T) string {
	t.Helper()
	cluster := pgtest.SharedCluster(t) // skips (or fails in CI) without PostgreSQL
	built.once.Do(func() {
		dir := filepath.Join(cluster.Dir, "e2e-bin")
		if built.err = os.MkdirAll(dir, 0o755); built.err == nil {
			built.bin, built.err = servetest.Build(dir)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// testServer is one `unlockd serve` process with its own database.
type testServer struct {
	URL         string // http://127.0.0.1:PORT, also its UNLOCKD_BASE_URL
	DatabaseURL string
	bin         string
	env         []string // the server's settings, for the CLI commands run against it
	process     *servetest.Process
	out         *servetest.SyncBuffer

	mail *mailpit.Server // where its mail goes (serverOptions.Mail), or nil
	sms  *smsRecorder    // what it sends by SMS (serverOptions.SMS), or nil

	mu       sync.Mutex
	consumed map[string]bool // mail and SMS a test has already taken (see waitMail, waitSMS)
	expected []string        // what an error the server logs may say, when the test causes it (see expectErrors)
}

// serverOptions are what startServerWith can set up besides the server itself.
type serverOptions struct {
	// DatabaseURL is the database to serve; empty means a fresh migrated one.
	DatabaseURL string
	// Mail starts a mailpit for the test and points UNLOCKD_SMTP_URL at it; read it with waitMail.
	Mail bool
	// SMS starts a webhook in the test that records each SMS, and points UNLOCKD_SMS_WEBHOOK_URL
	// at it; read it with waitSMS.
	SMS bool
	// SMSToken is UNLOCKD_SMS_WEBHOOK_TOKEN; the recorder refuses (401) a request without it.
	SMSToken string
	// Directory points the server and its CLI commands at a directory that accounts live in.
	Directory *directoryOptions
	// Env holds more NAME=value settings for the server and its CLI commands.
	Env []string
}

// directoryOptions are the UNLOCKD_DIRECTORY_* settings of a server whose accounts live in a
// directory (CONTRACT.md, "Directory accounts").
type directoryOptions struct {
	URL          string // ldap:// or ldaps://
	Kind         string // openldap (when empty) or ad
	BindDN       string
	BindPassword string
	BaseDN       string
	CAFile       string // the CA of the directory's certificate, for ldaps://
}

// env is the options as the server's environment.
func (d *directoryOptions) env() []string {
	env := []string{"UNLOCKD_DIRECTORY_URL=" + d.URL, "UNLOCKD_DIRECTORY_BIND_DN=" + d.BindDN,
		"UNLOCKD_DIRECTORY_BIND_PASSWORD=" + d.BindPassword, "UNLOCKD_DIRECTORY_BASE_DN=" + d.BaseDN}
	if d.Kind != "" {
		env = append(env, "UNLOCKD_DIRECTORY_KIND="+d.Kind)
	}
	if d.CAFile != "" {
		env = append(env, "UNLOCKD_DIRECTORY_CA_FILE="+d.CAFile)
	}
	return env
}

// startServer runs `unlockd serve` on a free loopback port against a fresh migrated database,
// waits until /readyz answers 200, and stops it with SIGTERM when the test ends. It has no mail
// server (mail stays queued) and no SMS.
func startServer(t *testing.T) *testServer {
	t.Helper()
	return startServerWith(t, serverOptions{})
}

// startServerOn runs another `unlockd serve` process over an existing database.
func startServerOn(t *testing.T, dbURL string) *testServer {
	t.Helper()
	return startServerWith(t, serverOptions{DatabaseURL: dbURL})
}

// startServerWith runs `unlockd serve` with a mail server and an SMS webhook when the options ask
// for them. They are started first, so they stop after the server.
func startServerWith(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	if o.DatabaseURL == "" {
		o.DatabaseURL = pgtest.NewDatabase(t, pgtest.Migrate)
	}
	dbURL := o.DatabaseURL
	bin := binary(t)
	var extra []string
	var mail *mailpit.Server
	if o.Mail {
		mail = mailpit.Start(t) // skips (or fails in CI) without mailpit
		extra = append(extra, "UNLOCKD_SMTP_URL="+mail.SMTPURL().String())
	}
	var sms *smsRecorder
	if o.SMS {
		sms = newSMSRecorder(t, o.SMSToken)
		extra = append(extra, "UNLOCKD_SMS_WEBHOOK_URL="+sms.URL())
		if o.SMSToken != "" {
			extra = append(extra, "UNLOCKD_SMS_WEBHOOK_TOKEN="+o.SMSToken)
		}
	}
	if o.Directory != nil {
		extra = append(extra, o.Directory.env()...)
	}
	extra = append(extra, o.Env...)
	s := &testServer{DatabaseURL: dbURL, bin: bin, mail: mail, sms: sms, consumed: map[string]bool{}}
	env := append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"UNLOCKD_DATABASE_URL=" + dbURL,
		"UNLOCKD_DEV=1",
		"UNLOCKD_LOG_LEVEL=warn",
	}, extra...)
	s.process = servetest.Start(t, []string{bin, "serve"}, env)
	s.URL, s.out = s.process.URL, s.process.Out
	// The CLI commands of the test read the same settings, the public address among them.
	s.env = append(env, "UNLOCKD_BASE_URL="+s.URL)
	t.Cleanup(func() {
		s.process.Stop(t) // before reading the whole log
		out := s.out.String()
		if s.unexpectedErrors(out) || strings.Contains(out, "panic") {
			t.Errorf("unlockd serve logged an error:\n%s", out)
		}
	})
	return s
}

// expectErrors declares errors the test causes on purpose (an outage, say): a line the server
// logs at level ERROR that holds one of the substrings does not fail the test. Any other does.
func (s *testServer) expectErrors(substrings ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expected = append(s.expected, substrings...)
}

// unexpectedErrors reports whether the server's output has a line at level ERROR that no
// expectErrors call foresaw.
func (s *testServer) unexpectedErrors(out string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for line := range strings.Lines(out) {
		if strings.Contains(line, "level=ERROR") && !slices.ContainsFunc(s.expected, func(e string) bool { return strings.Contains(line, e) }) {
			return true
		}
	}
	return false
}

// addUser runs `unlockd user add` against the server's database, with the password on standard
// input. extra holds more flags, such as "--display-name", "Alice".
func (s *testServer) addUser(t *testing.T, username, email, password string, extra ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"user", "add", "--username", username, "--email", email, "--password-stdin"}, extra...)
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("unlockd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cli runs an unlockd command against the server's database and returns its standard output.
func (s *testServer) cli(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = s.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("unlockd %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
