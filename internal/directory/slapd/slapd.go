// Package slapd runs a throwaway OpenLDAP server: Debian's slapd on a free port, with its own
// cn=config (built with slapadd from an LDIF), its own mdb database in a directory of its own, the
// ppolicy overlay with a default policy that locks, a service account with just the rights unlockd
// needs, and the means to add people, fail their binds and freeze them. The directory tests use it
// through slapdtest; `unlockd dev --ldap` (make run LDAP=1) runs one for the demo.
package slapd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/unlockd/unlockd/internal/directory/testcert"
	"github.com/unlockd/unlockd/internal/freeport"
)

// The fixed names of every instance.
const (
	Suffix          = "dc=example,dc=org"
	PeopleDN        = "ou=people," + Suffix
	PolicyDN        = "cn=default,ou=policies," + Suffix
	ServiceDN       = "cn=unlockd,ou=services," + Suffix
	ServicePassword = "service-secret"
	AdminDN         = "cn=admin," + Suffix
	AdminPassword   = "admin-secret"
)

// ModuleDir is where Debian keeps slapd's loadable modules (back_mdb, ppolicy).
const ModuleDir = "/usr/lib/ldap"

// ErrNoSlapd means slapd or its modules are not installed.
var ErrNoSlapd = errors.New("slapd not found: install the slapd and ldap-utils packages (apt-get install slapd ldap-utils)")

// Policy is the default password policy of an instance (the ppolicy entry at PolicyDN).
type Policy struct {
	MaxFailures     int           // pwdMaxFailure: failed binds that lock
	LockoutDuration time.Duration // pwdLockoutDuration, whole seconds; 0 locks until someone unlocks
	MinLength       int           // pwdMinLength, checked on every change (pwdCheckQuality 2)
	InHistory       int           // pwdInHistory: earlier passwords that may not come back
	MaxAge          time.Duration // pwdMaxAge; 0 never expires
	MustChange      bool          // pwdMustChange: a password someone else set must be changed
}

// DefaultPolicy locks after 3 failures for 5 minutes, wants 8 characters, remembers 3 passwords
// and lets passwords live 90 days.
func DefaultPolicy() Policy {
	return Policy{MaxFailures: 3, LockoutDuration: 5 * time.Minute, MinLength: 8, InHistory: 3, MaxAge: 90 * 24 * time.Hour}
}

// Server is one running slapd.
type Server struct {
	URL      string // ldap://127.0.0.1:port, which offers StartTLS
	LDAPSURL string // ldaps://localhost:port
	CAFile   string // the PEM certificate of the CA that signed the server's certificate
	Dir      string
	Policy   Policy
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Find returns slapd's and slapadd's paths; Debian puts them in /usr/sbin, which a user's PATH may lack.
func Find() (slapd, slapadd string, err error) {
	find := func(name string) string {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
		if p := filepath.Join("/usr/sbin", name); fileExists(p) {
			return p
		}
		return ""
	}
	slapd, slapadd = find("slapd"), find("slapadd")
	if slapd == "" || slapadd == "" || !fileExists(filepath.Join(ModuleDir, "back_mdb.so")) ||
		!fileExists(filepath.Join(ModuleDir, "ppolicy.so")) {
		return "", "", ErrNoSlapd
	}
	return slapd, slapadd, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Start builds an instance in dir (which must be empty or absent), with preload people already in
// it (see Preloaded), and starts it. Stop ends it.
func Start(ctx context.Context, dir string, policy Policy, preload int) (*Server, error) {
	slapd, slapadd, err := Find()
	if err != nil {
		return nil, err
	}
	conf, data := filepath.Join(dir, "config"), filepath.Join(dir, "data")
	for _, d := range []string{conf, data} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := testcert.Write(dir); err != nil {
		return nil, err
	}
	if err := writeTemplate(filepath.Join(dir, "config.ldif"), configLDIF, map[string]any{
		"Dir": dir, "Data": data, "ModuleDir": ModuleDir, "Suffix": Suffix, "AdminDN": AdminDN,
		"AdminPassword": AdminPassword, "ServiceDN": ServiceDN, "PolicyDN": PolicyDN,
		"PPolicySchema": ppolicySchema(slapd),
	}); err != nil {
		return nil, err
	}
	if err := writeTemplate(filepath.Join(dir, "data.ldif"), dataLDIF, map[string]any{
		"ServicePassword": ServicePassword, "PolicyDN": PolicyDN, "P": policy,
		"LockoutSeconds": int(policy.LockoutDuration / time.Second), "MaxAgeSeconds": int(policy.MaxAge / time.Second),
	}); err != nil {
		return nil, err
	}
	if err := appendPeople(filepath.Join(dir, "data.ldif"), preload); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, slapadd, "-n0", "-F", conf, "-l", filepath.Join(dir, "config.ldif")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slapadd cn=config: %w: %s", err, out)
	}
	if out, err := exec.CommandContext(ctx, slapadd, "-n1", "-F", conf, "-l", filepath.Join(dir, "data.ldif")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("slapadd data: %w: %s", err, out)
	}

	// The free port is found by listening on port 0; another process may take it before slapd
	// does, so a refused start is tried again on a new port.
	var lastErr error
	for range 5 {
		port, err := freeport.Port()
		if err != nil {
			return nil, err
		}
		tlsPort, err := freeport.Port()
		if err != nil {
			return nil, err
		}
		s := &Server{URL: fmt.Sprintf("ldap://127.0.0.1:%d", port), LDAPSURL: fmt.Sprintf("ldaps://localhost:%d", tlsPort),
			CAFile: filepath.Join(dir, "ca.pem"), Dir: dir, Policy: policy}
		if lastErr = s.run(ctx, slapd); lastErr == nil {
			return s, nil
		}
	}
	return nil, lastErr
}

func (s *Server) run(ctx context.Context, slapd string) error {
	logFile, err := os.OpenFile(filepath.Join(s.Dir, "slapd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// -d keeps slapd in the foreground, so that it is our child; 256 logs connections and
	// operations (the log is in the directory, for a failing test to read).
	s.cmd = exec.Command(slapd, "-d", "256", "-F", filepath.Join(s.Dir, "config"),
		"-h", s.URL+"/ "+strings.Replace(s.LDAPSURL, "localhost", "127.0.0.1", 1)+"/")
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// When the test process dies, slapd goes with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start slapd: %w", err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := s.Admin()
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("slapd exited at start: %s", s.LogTail(2000))
		case <-ctx.Done():
			s.Stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("slapd did not answer within 15s: %v\n%s", err, s.LogTail(2000))
		}
	}
}

// Stop ends slapd and waits for it. The data stays; Start on the same directory is not supported.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a paused slapd would not see the SIGTERM
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// Pause stops slapd's process without ending it (SIGSTOP): connections are still accepted by the
// kernel, and nothing answers them, as with a hung server. Resume continues it.
//
// The signal is delivered asynchronously: a thread of slapd may still answer a request for a
// moment after kill returns. Pause returns only once every thread is seen stopped.
func (s *Server) Pause() error {
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		stopped, err := allThreadsStopped(s.cmd.Process.Pid)
		if err != nil || stopped {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("slapd %d: not every thread stopped 5s after SIGSTOP", s.cmd.Process.Pid)
		}
		time.Sleep(time.Millisecond)
	}
}

// allThreadsStopped says whether every thread of process pid is in the stopped state (T in
// /proc/PID/task/TID/stat).
func allThreadsStopped(pid int) (bool, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false, fmt.Errorf("slapd %d: no threads to read: %v", pid, err)
	}
	for _, path := range tasks {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // a thread that ended meanwhile
		} else if err != nil {
			return false, err
		}
		// "TID (comm) STATE ...": comm may hold spaces and parentheses, the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("slapd %d: unreadable %s", pid, path)
		}
		if state := b[i+2]; state != 'T' && state != 't' {
			return false, nil
		}
	}
	return true, nil
}

// Resume continues a paused slapd.
func (s *Server) Resume() error { return s.cmd.Process.Signal(syscall.SIGCONT) }

// LogTail is the end of slapd's log.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "slapd.log"))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Admin returns a connection bound as the database's root, which no policy or ACL restrains.
func (s *Server) Admin() (*ldap.Conn, error) {
	conn, err := s.Dial()
	if err != nil {
		return nil, err
	}
	if err := conn.Bind(AdminDN, AdminPassword); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// Dial returns an unbound connection with a short timeout.
func (s *Server) Dial() (*ldap.Conn, error) {
	conn, err := ldap.DialURL(s.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(5 * time.Second)
	return conn, nil
}

// Bind binds as dn with password on a connection of its own, as a person signing in would.
func (s *Server) Bind(dn, password string) error {
	conn, err := s.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Bind(dn, password)
}

// Person is someone to add.
type Person struct {
	UID, Password, Mail, Mobile, DisplayName string
}

// PersonDN is the DN a person with this uid gets.
func PersonDN(uid string) string { return "uid=" + ldap.EscapeDN(uid) + "," + PeopleDN }

// AddPerson adds p under PeopleDN as the root (the password is hashed by ppolicy, and not held to
// the policy's quality rules) and returns the DN.
func (s *Server) AddPerson(p Person) (string, error) {
	conn, err := s.Admin()
	if err != nil {
		return "", err
	}
	defer conn.Close()
	dn := PersonDN(p.UID)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"inetOrgPerson"})
	req.Attribute("uid", []string{p.UID})
	req.Attribute("cn", []string{cmp(p.DisplayName, p.UID)})
	req.Attribute("sn", []string{p.UID})
	for attr, v := range map[string]string{"userPassword": p.Password, "mail": p.Mail, "mobile": p.Mobile, "displayName": p.DisplayName} {
		if v != "" {
			req.Attribute(attr, []string{v})
		}
	}
	if err := conn.Add(req); err != nil {
		return "", fmt.Errorf("add %s: %w", dn, err)
	}
	return dn, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Modify changes dn as the root.
func (s *Server) Modify(req *ldap.ModifyRequest) error {
	conn, err := s.Admin()
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Modify(req)
}

// Attributes reads dn's attributes as the root (operational ones included when named).
func (s *Server) Attributes(dn string, attrs ...string) (*ldap.Entry, error) {
	conn, err := s.Admin()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", attrs, nil))
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("%s: %d entries", dn, len(res.Entries))
	}
	return res.Entries[0], nil
}

// Preloaded is the uid of the i-th preloaded person.
func Preloaded(i int) string { return fmt.Sprintf("person%06d", i) }

func appendPeople(path string, n int) error {
	if n == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	locked := time.Now().Add(-time.Hour).UTC().Format("20060102150405Z")
	for i := range n {
		uid := Preloaded(i)
		fmt.Fprintf(w, "\ndn: uid=%s,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: Person %d\nsn: Person\n"+
			"displayName: Person %d\nmail: %s@example.org\nmobile: +86138%08d\nuserPassword: a password of some length\n",
			uid, PeopleDN, uid, i, i, uid, i)
		if i%50 == 0 {
			fmt.Fprintf(w, "pwdAccountLockedTime: %s\n", locked)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// FailBinds binds as dn with a wrong password n times, as an attacker or a forgetful owner would:
// ppolicy counts each, and locks at the policy's pwdMaxFailure.
func (s *Server) FailBinds(dn string, n int) error {
	for i := range n {
		err := s.Bind(dn, fmt.Sprintf("wrong password %d", i))
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return fmt.Errorf("wrong bind %d as %s: %v, want invalid credentials", i+1, dn, err)
		}
	}
	return nil
}

// Freeze sets ppolicy's administrator lock on dn.
func (s *Server) Freeze(dn string) error {
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
	if err := s.Modify(req); err != nil {
		return fmt.Errorf("freeze %s: %w", dn, err)
	}
	return nil
}

// SetPasswordChanged rewrites when dn's password was last set (ppolicy's pwdChangedTime, which
// only the root may change, with the Relax control), so that with the policy's pwdMaxAge the
// password expires MaxAge after at.
func (s *Server) SetPasswordChanged(dn string, at time.Time) error {
	req := ldap.NewModifyRequest(dn, []ldap.Control{ldap.NewControlString(relaxOID, true, "")})
	req.Replace("pwdChangedTime", []string{at.UTC().Format("20060102150405Z")})
	if err := s.Modify(req); err != nil {
		return fmt.Errorf("set pwdChangedTime of %s: %w", dn, err)
	}
	return nil
}

// relaxOID is the Relax control, which lets the root change ppolicy's operational attributes.
const relaxOID = "1.3.6.1.4.1.4203.666.5.12"

// ppolicySchema is the schema file to include before OpenLDAP 2.5; from 2.5 on, the ppolicy
// overlay carries its schema itself.
func ppolicySchema(slapd string) string {
	var out bytes.Buffer
	cmd := exec.Command(slapd, "-VV")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	m := regexp.MustCompile(`slapd (\d+)\.(\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		return ""
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major > 2 || (major == 2 && minor >= 5) {
		return ""
	}
	return "/etc/ldap/schema/ppolicy.ldif"
}

func writeTemplate(path, text string, data any) error {
	var b strings.Builder
	if err := template.Must(template.New(filepath.Base(path)).Parse(text)).Execute(&b, data); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// configLDIF is cn=config: modules, schema, the database with its ACL and the ppolicy overlay.
// The service account may write (not read) passwords, manage the lock attributes and pwdReset
// (changing those also needs the Relax control) and read everything else; slapd's default limit of
// 500 entries, which also caps a paged search in total, does not apply to it.
const configLDIF = `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {{.Dir}}/slapd.pid
olcTLSCACertificateFile: {{.Dir}}/ca.pem
olcTLSCertificateFile: {{.Dir}}/server.pem
olcTLSCertificateKeyFile: {{.Dir}}/server.key

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: {{.ModuleDir}}
olcModuleLoad: back_mdb
olcModuleLoad: ppolicy

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
{{- if .PPolicySchema}}
include: file://{{.PPolicySchema}}
{{- end}}

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: {{.Suffix}}
olcDbDirectory: {{.Data}}
olcRootDN: {{.AdminDN}}
olcRootPW: {{.AdminPassword}}
olcDbMaxSize: 2147483648
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcLimits: {0}dn.exact="{{.ServiceDN}}" size.soft=unlimited size.hard=unlimited size.prtotal=unlimited
olcAccess: {0}to attrs=userPassword by dn.exact="{{.ServiceDN}}" =w by self =w by anonymous auth by * none
olcAccess: {1}to attrs=pwdAccountLockedTime,pwdFailureTime,pwdReset by dn.exact="{{.ServiceDN}}" manage by self read by * none
olcAccess: {2}to * by dn.exact="{{.ServiceDN}}" read by self read by * none

dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: {{.PolicyDN}}
olcPPolicyHashCleartext: TRUE
`

const dataLDIF = `dn: dc=example,dc=org
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=org
objectClass: organizationalUnit
ou: people

dn: ou=services,dc=example,dc=org
objectClass: organizationalUnit
ou: services

dn: ou=policies,dc=example,dc=org
objectClass: organizationalUnit
ou: policies

dn: cn=unlockd,ou=services,dc=example,dc=org
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: unlockd
userPassword: {{.ServicePassword}}

dn: {{.PolicyDN}}
objectClass: pwdPolicy
objectClass: device
cn: default
pwdAttribute: userPassword
pwdLockout: TRUE
pwdMaxFailure: {{.P.MaxFailures}}
pwdLockoutDuration: {{.LockoutSeconds}}
pwdFailureCountInterval: 0
pwdCheckQuality: 2
pwdMinLength: {{.P.MinLength}}
pwdInHistory: {{.P.InHistory}}
pwdMaxAge: {{.MaxAgeSeconds}}
pwdMustChange: {{if .P.MustChange}}TRUE{{else}}FALSE{{end}}
pwdAllowUserChange: TRUE
pwdSafeModify: FALSE
`
