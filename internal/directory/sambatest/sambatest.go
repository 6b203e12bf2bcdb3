// Package sambatest runs a real Active Directory domain controller for tests: Samba's, provisioned
// into a temporary directory (samba-tool domain provision) with a lockout policy, a service account
// holding only the rights unlockd needs (reset password, write lockoutTime, read the fine-grained
// password policies), and a certificate from
// a throwaway CA for LDAPS; then `samba` runs in the foreground with the LDAP service alone.
//
// Provisioning takes about twenty seconds, so a test process shares one instance (Shared), and
// Main removes it. Samba must run as root, and its LDAP ports cannot be moved: it listens on
// 127.0.0.1:389 and :636, which must be free, so one instance runs on a machine at a time.
// When samba is missing a test is skipped, or fails when CI=true. It imports testing: tests only.
package sambatest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/unlockd/unlockd/internal/directory/testcert"
)

// The fixed names of the domain.
const (
	Realm           = "EXAMPLE.TEST"
	Domain          = "EXAMPLE"
	BaseDN          = "DC=example,DC=test"
	UsersDN         = "CN=Users," + BaseDN
	ServiceDN       = "CN=unlockd," + UsersDN
	ServicePassword = "Service-Secret-1"
	AdminDN         = "CN=Administrator," + UsersDN
	AdminPassword   = "Admin-Secret-1"

	PasswordSettingsDN = "CN=Password Settings Container,CN=System," + BaseDN
)

// The domain's password policy, set with samba-tool domain passwordsettings.
const (
	LockoutThreshold = 3
	LockoutDuration  = 5 * time.Minute
	MinLength        = 8
	MaxPasswordAge   = 42 * 24 * time.Hour
)

// LDAPSURL is where the domain controller answers LDAPS; its certificate names localhost.
const LDAPSURL = "ldaps://localhost:636"

// ErrNoSamba means Samba's domain controller is not installed.
var ErrNoSamba = errors.New("samba not found: install the samba package (apt-get install samba)")

// Server is one running domain controller.
type Server struct {
	Dir    string
	CAFile string
	cmd    *exec.Cmd
	exited chan struct{}
	turn   *os.File // holds the machine's turn (takeTurn) until Stop
}

// Find returns the paths of samba and samba-tool.
func Find() (samba, tool string, err error) {
	for _, p := range []string{"samba", "/usr/sbin/samba"} {
		if path, err := exec.LookPath(p); err == nil {
			samba = path
			break
		}
	}
	tool, _ = exec.LookPath("samba-tool")
	if samba == "" || tool == "" {
		return "", "", ErrNoSamba
	}
	return samba, tool, nil
}

// Start provisions a domain in dir and starts its domain controller. Since the ports cannot be
// moved, test processes on one machine take turns (go test runs packages at once): Start waits,
// as long as ctx allows, until no other process runs one, and Stop ends the turn.
func Start(ctx context.Context, dir string) (*Server, error) {
	if _, _, err := Find(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("samba's domain controller runs as root only")
	}
	turn, err := takeTurn(ctx)
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, dir)
	if err != nil {
		turn.Close()
		return nil, err
	}
	s.turn = turn
	return s, nil
}

// turnFile is the lock file whose exclusive lock (flock) a process holds while it runs a domain
// controller; the lock goes with the process, however it ends.
var turnFile = filepath.Join(os.TempDir(), "unlockd-sambatest.lock")

// takeTurn waits for the exclusive lock on turnFile and returns the file that holds it.
func takeTurn(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(turnFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", turnFile, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("another process kept running Samba's domain controller (lock %s): %w", turnFile, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func start(ctx context.Context, dir string) (*Server, error) {
	samba, tool, err := Find()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("samba's domain controller runs as root only")
	}
	for _, port := range []string{"389", "636"} {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			return nil, fmt.Errorf("127.0.0.1:%s is taken (%v): Samba's LDAP ports cannot be moved", port, err)
		}
		l.Close()
	}
	if err := testcert.Write(dir); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "etc", "smb.conf")
	run := func(args ...string) error {
		cmd := exec.CommandContext(ctx, tool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("samba-tool %s: %w: %s", args[0]+" "+args[1], err, tail(out, 2000))
		}
		return nil
	}
	if err := run("domain", "provision", "--use-rfc2307", "--realm="+Realm, "--domain="+Domain,
		"--server-role=dc", "--dns-backend=NONE", "--targetdir="+dir, "--adminpass="+AdminPassword,
		"--option=interfaces=127.0.0.1", "--option=bind interfaces only=yes"); err != nil {
		return nil, err
	}
	sam := "-H" + filepath.Join(dir, "private", "sam.ldb")
	if err := run("domain", "passwordsettings", "set", sam,
		fmt.Sprintf("--account-lockout-threshold=%d", LockoutThreshold),
		fmt.Sprintf("--account-lockout-duration=%d", int(LockoutDuration/time.Minute)),
		fmt.Sprintf("--reset-account-lockout-after=%d", int(LockoutDuration/time.Minute)),
		fmt.Sprintf("--min-pwd-length=%d", MinLength), "--complexity=off", "--min-pwd-age=0",
		fmt.Sprintf("--max-pwd-age=%d", int(MaxPasswordAge/(24*time.Hour))), "--history-length=3"); err != nil {
		return nil, err
	}
	if err := run("user", "create", "unlockd", ServicePassword, sam); err != nil {
		return nil, err
	}
	sid, err := output(ctx, tool, "user", "show", "unlockd", "--attributes=objectSid", sam)
	if err != nil {
		return nil, err
	}
	sid = field(sid, "objectSid:")
	if !strings.HasPrefix(sid, "S-1-5-21-") {
		return nil, fmt.Errorf("samba-tool user show: no objectSid for the service account: %q", sid)
	}
	// The service account's rights on the people of CN=Users, and nothing more: the Reset Password
	// extended right, and writing lockoutTime, on user objects.
	sddl := "(OA;CI;CR;00299570-246d-11d0-a768-00aa006e0529;bf967aba-0de6-11d0-a285-00aa003049e2;" + sid + ")" +
		"(OA;CI;WP;28630ebf-41d5-11d1-a9c1-0000f80367c1;bf967aba-0de6-11d0-a285-00aa003049e2;" + sid + ")"
	if err := run("dsacl", "set", "--objectdn="+UsersDN, "--sddl="+sddl, sam); err != nil {
		return nil, err
	}
	// Reading fine-grained policies (password settings objects), which only administrators may by
	// default: without it a person's own lockout duration is out of sight.
	if err := run("dsacl", "set", "--objectdn="+PasswordSettingsDN, "--sddl=(A;CI;RPLCLORC;;;"+sid+")", sam); err != nil {
		return nil, err
	}

	s := &Server{Dir: dir, CAFile: filepath.Join(dir, testcert.CAFile)}
	logFile, err := os.OpenFile(filepath.Join(dir, "samba.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s.cmd = exec.Command(samba, "-i", "-M", "single", "-s", conf,
		"--option=interfaces=127.0.0.1", "--option=bind interfaces only=yes",
		"--option=pid directory="+dir, "--option=server services=ldap",
		// A password replaced is gone at once: by default Samba accepts the previous one for an
		// hour after a change or reset, simple binds included.
		"--option=old password allowed period=0",
		"--option=log file="+filepath.Join(dir, "samba.log"),
		"--option=tls certfile="+filepath.Join(dir, testcert.CertFile),
		"--option=tls keyfile="+filepath.Join(dir, testcert.KeyFile),
		"--option=tls cafile="+filepath.Join(dir, testcert.CAFile))
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start samba: %w", err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := s.dial(ServiceDN, ServicePassword)
		if err == nil {
			conn.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("samba exited at start: %s", s.LogTail(2000))
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("samba did not answer within a minute: %v\n%s", err, s.LogTail(2000))
		}
	}
}

// Stop ends samba and waits for it.
func (s *Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	defer func() {
		if s.turn != nil {
			s.turn.Close()
			s.turn = nil
		}
	}()
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// LogTail is the end of samba's log.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "samba.log"))
	return tail(b, n)
}

func (s *Server) dial(dn, password string) (*ldap.Conn, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{ServerName: "localhost"}
	cfg.RootCAs = certPool(pem)
	conn, err := ldap.DialURL("ldaps://127.0.0.1:636", ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}),
		ldap.DialWithTLSConfig(cfg))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(10 * time.Second)
	if err := conn.Bind(dn, password); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Admin returns a connection bound as the domain's Administrator.
func (s *Server) Admin() (*ldap.Conn, error) { return s.dial(AdminDN, AdminPassword) }

// Bind binds as dn with password over LDAPS, as a person signing in would.
func (s *Server) Bind(dn, password string) error {
	conn, err := s.dial(dn, password)
	if err == nil {
		conn.Close()
	}
	return err
}

// Person is someone to add.
type Person struct {
	Name, Password, Mail, Mobile, DisplayName string
}

// PersonDN is the DN a person with this name gets.
func PersonDN(name string) string { return "CN=" + ldap.EscapeDN(name) + "," + UsersDN }

// AddPerson adds an enabled user as the Administrator and returns the DN.
func (s *Server) AddPerson(p Person) (string, error) {
	conn, err := s.Admin()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	dn := PersonDN(p.Name)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{p.Name})
	req.Attribute("userPrincipalName", []string{p.Name + "@example.test"})
	for attr, v := range map[string]string{"mail": p.Mail, "mobile": p.Mobile, "displayName": p.DisplayName} {
		if v != "" {
			req.Attribute(attr, []string{v})
		}
	}
	if err := conn.Add(req); err != nil {
		return "", fmt.Errorf("add %s: %w", dn, err)
	}
	// A password, then enabling the account (512: a normal account), in that order, as AD wants.
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("unicodePwd", []string{quotedUTF16(p.Password)})
	mod.Replace("userAccountControl", []string{"512"})
	if err := conn.Modify(mod); err != nil {
		return "", fmt.Errorf("enable %s: %w", dn, err)
	}
	return dn, nil
}

// Modify changes an entry as the Administrator.
func (s *Server) Modify(req *ldap.ModifyRequest) error {
	conn, err := s.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Modify(req)
}

// MustApplyPSO gives the person named user a password settings object of their own (a
// fine-grained policy) whose lock lasts lockout; 0 keeps it until someone lifts it. The object goes
// when the test ends.
func (s *Server) MustApplyPSO(tb testing.TB, pso, user string, lockout time.Duration) {
	tb.Helper()
	_, tool, err := Find()
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	sam := "-H" + filepath.Join(s.Dir, "private", "sam.ldb")
	if _, err := output(ctx, tool, "domain", "passwordsettings", "pso", "create", pso, "1", sam,
		fmt.Sprintf("--account-lockout-duration=%d", int(lockout/time.Minute)),
		fmt.Sprintf("--account-lockout-threshold=%d", LockoutThreshold),
		fmt.Sprintf("--reset-account-lockout-after=%d", max(1, int(lockout/time.Minute)))); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_, _ = output(context.Background(), tool, "domain", "passwordsettings", "pso", "delete", pso, sam)
	})
	if _, err := output(ctx, tool, "domain", "passwordsettings", "pso", "apply", pso, user, sam); err != nil {
		tb.Fatal(err)
	}
}

// MustAttribute reads one attribute's values of dn as the Administrator.
func (s *Server) MustAttribute(tb testing.TB, dn, attr string) []string {
	tb.Helper()
	conn, err := s.Admin()
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{attr}, nil))
	if err != nil || len(res.Entries) != 1 {
		tb.Fatalf("read %s of %s: %v", attr, dn, err)
	}
	return res.Entries[0].GetAttributeValues(attr)
}

// MustAddPerson adds p for the test, which removes them when it ends: the domain is shared.
func (s *Server) MustAddPerson(tb testing.TB, p Person) string {
	tb.Helper()
	dn, err := s.AddPerson(p)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if conn, err := s.Admin(); err == nil {
			_ = conn.Del(ldap.NewDelRequest(dn, nil))
			conn.Close()
		}
	})
	return dn
}

// MustFailBinds binds as dn with a wrong password n times; the domain controller counts each.
func (s *Server) MustFailBinds(tb testing.TB, dn string, n int) {
	tb.Helper()
	for i := range n {
		err := s.Bind(dn, fmt.Sprintf("wrong password %d", i))
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			tb.Fatalf("wrong bind %d as %s: %v, want invalid credentials", i+1, dn, err)
		}
	}
}

var shared struct {
	once   sync.Once
	server *Server
	dir    string
	err    error
}

// InCI reports whether a missing samba must fail the tests instead of skipping them.
func InCI() bool { v := os.Getenv("CI"); return v == "true" || v == "1" }

// Shared returns this test process's domain controller, provisioning it on first use. Without
// samba the test is skipped, or fails with CI=true.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() {
		if _, _, err := Find(); err != nil {
			shared.err = err
			return
		}
		dir, err := os.MkdirTemp("", "unlockd-samba-")
		if err != nil {
			shared.err = err
			return
		}
		shared.dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		shared.server, shared.err = Start(ctx, dir)
	})
	if shared.err != nil {
		if InCI() {
			tb.Fatalf("prerequisite missing (CI=true, so this fails instead of skipping): %v", shared.err)
		}
		tb.Skipf("prerequisite missing: %v", shared.err)
	}
	return shared.server
}

// Main runs a package's tests and then stops and removes the shared domain controller, if one was
// started. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	shared.server.Stop()
	if shared.dir != "" {
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

func quotedUTF16(password string) string {
	var b bytes.Buffer
	for _, r := range `"` + password + `"` {
		// The test passwords are ASCII and Latin-1; every one is one UTF-16 unit.
		b.WriteByte(byte(r))
		b.WriteByte(byte(r >> 8))
	}
	return b.String()
}

func output(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args[:2], " "), err, tail(out, 2000))
	}
	return string(out), nil
}

// field is the value of the line of s that starts with prefix.
func field(s, prefix string) string {
	for line := range strings.Lines(s) {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func certPool(pem []byte) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return pool
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
