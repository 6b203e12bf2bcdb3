package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/mailpit"
	"github.com/unlockd/unlockd/internal/pgtest"
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
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("the go command is needed to build unlockd: %w", err)
			return
		}
		dir := filepath.Join(cluster.Dir, "e2e-bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			built.err = err
			return
		}
		bin := filepath.Join(dir, "unlockd")
		root, err := findModuleRoot()
		if err != nil {
			built.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "./cmd/unlockd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build ./cmd/unlockd: %w\n%s", err, out)
			return
		}
		built.bin = bin
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
	env         []string
	out         *syncBuffer

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
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &testServer{URL: "http://127.0.0.1:" + strconv.Itoa(port), DatabaseURL: dbURL, bin: bin, out: &syncBuffer{},
			mail: mail, sms: sms, consumed: map[string]bool{}}
		s.env = append([]string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + os.Getenv("HOME"),
			"UNLOCKD_DATABASE_URL=" + dbURL,
			"UNLOCKD_LISTEN=127.0.0.1:" + strconv.Itoa(port),
			"UNLOCKD_BASE_URL=" + s.URL,
			"UNLOCKD_DEV=1",
			"UNLOCKD_LOG_LEVEL=warn",
		}, extra...)
		err = s.start(t)
		if err == nil {
			return s
		}
		lastErr = err
		// Another process may have taken the port between freePort and the server's listen.
		if !strings.Contains(s.out.String(), "address already in use") {
			break
		}
	}
	t.Fatal(lastErr)
	return nil
}

func (s *testServer) start(t *testing.T) error {
	t.Helper()
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = s.env
	dieWithTest(cmd)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start unlockd serve: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()

	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-exited:
			return fmt.Errorf("unlockd serve exited before it was ready (%v):\n%s", waitErr, s.out)
		default:
		}
		if resp, err := client.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("unlockd serve: /readyz did not answer 200 within 30s:\n%s", s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Cleanup(func() {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Errorf("SIGTERM to unlockd serve: %v", err)
		}
		select {
		case <-exited:
			if waitErr != nil {
				t.Errorf("unlockd serve did not exit cleanly after SIGTERM: %v", waitErr)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("unlockd serve did not exit within 10s of SIGTERM")
		}
		out := s.out.String()
		if s.unexpectedErrors(out) || strings.Contains(out, "panic") {
			t.Errorf("unlockd serve logged an error:\n%s", out)
		} else if t.Failed() && out != "" {
			t.Logf("unlockd serve output:\n%s", out)
		}
	})
	return nil
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

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("listener has no TCP address")
	}
	return addr.Port, nil
}

// syncBuffer collects a subprocess's output; the test reads it while the process still writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
