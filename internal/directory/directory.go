// Package directory speaks to the directory where accounts live when unlockd is the front of an
// LDAP server: OpenLDAP with the ppolicy overlay, or Active Directory (and Samba AD). It finds and
// lists people, checks a password by binding as the person, lifts the directory's lock, sets a
// password through the directory's own policy, and reads that policy. Derive turns the attributes
// it reads into an account state; it is pure, so the rules are table-tested without a server.
//
// Every operation opens its own connection, bounded by the dial and operation timeouts, so a slow
// or dead directory costs a request at most those, and answers ErrUnavailable.
//
// What the service account needs (the test servers in slapdtest and sambatest grant exactly this):
//
//   - OpenLDAP: write (not read) on userPassword, for the Password Modify operation; manage on
//     pwdAccountLockedTime, pwdFailureTime and pwdReset, which are changed with the Relax control;
//     read on people and on the pwdPolicy entries; and no size limit on paged searches
//     (olcLimits: size.prtotal=unlimited), since slapd's default of 500 also caps a paged search.
//   - Active Directory: the Reset Password extended right and write on lockoutTime, on the user
//     objects under the base DN; read on the Password Settings Container when fine-grained
//     policies are used. Simple binds and password changes only over LDAPS or StartTLS.
package directory

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
)

// Person is one person as the directory has them.
type Person struct {
	DN          string
	ID          string // entryUUID, or objectGUID in hex: the person's for life, whatever the DN
	Username    string // uid or sAMAccountName
	Email       string // mail
	Phone       string // mobile
	DisplayName string // displayName, else cn
	PolicyDN    string // pwdPolicySubentry or msDS-ResultantPSO; "" when the default policy applies
	Lock        LockAttributes
	Changed     SyncMark // modifyTimestamp or uSNChanged: where a sync that saw this person stands
}

// SyncMark says how far a sync has read: the newest change it saw, in the directory's own terms
// (modifyTimestamp for OpenLDAP, uSNChanged for AD). Empty means "from the start".
type SyncMark string

// Unlocking says whether an unlock may also lift an administrator's lock (ppolicy's
// pwdAccountLockedTime 000001010000Z), which only an administrator lifts.
type Unlocking int

const (
	KeepFreeze Unlocking = iota // an administrator's lock stays, and the unlock answers ErrFrozen
	LiftFreeze
)

// pageSize is how many people one page of a sync brings: bounded memory for any directory size.
const pageSize = 500

// maxUsernameBytes bounds what is sent to the directory for one username.
const maxUsernameBytes = 256

// LDAP controls used here.
const (
	relaxOID     = "1.3.6.1.4.1.4203.666.5.12" // lets a manager change ppolicy's pwdFailureTime
	assertionOID = "1.3.6.1.1.12"              // RFC 4528: change only if a filter holds
)

// Directory is a configured connection to one directory. It is safe for concurrent use.
type Directory struct {
	s settings
}

// New checks cfg and returns a Directory. It does not connect: a directory that is down at start-up
// is an outage to report per request, not a reason not to start.
func New(cfg Config) (*Directory, error) {
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	return &Directory{s: s}, nil
}

// Kind is the configured kind of directory.
func (d *Directory) Kind() Kind { return d.s.Kind }

// SyncInterval is how often people and locks should be read.
func (d *Directory) SyncInterval() time.Duration { return d.s.SyncInterval }

func (d *Directory) personAttributes() []string {
	if d.s.Kind == ActiveDirectory {
		return []string{"objectGUID", "sAMAccountName", "mail", "mobile", "displayName", "cn", "lockoutTime", "badPwdCount",
			"userAccountControl", "msDS-User-Account-Control-Computed", "pwdLastSet", "accountExpires",
			"msDS-ResultantPSO", "uSNChanged"}
	}
	return []string{"entryUUID", "uid", "mail", "mobile", "displayName", "cn", "pwdAccountLockedTime", "pwdFailureTime",
		"pwdChangedTime", "pwdReset", "pwdEndTime", "pwdPolicySubentry", "modifyTimestamp"}
}

func (d *Directory) person(e *ldap.Entry) Person {
	p := Person{
		DN:          e.DN,
		Email:       e.GetAttributeValue("mail"),
		Phone:       e.GetAttributeValue("mobile"),
		DisplayName: e.GetAttributeValue("displayName"),
	}
	if p.DisplayName == "" {
		p.DisplayName = e.GetAttributeValue("cn")
	}
	if d.s.Kind == ActiveDirectory {
		p.ID = hex.EncodeToString(e.GetRawAttributeValue("objectGUID"))
		p.Username = e.GetAttributeValue("sAMAccountName")
		p.PolicyDN = e.GetAttributeValue("msDS-ResultantPSO")
		p.Changed = SyncMark(e.GetAttributeValue("uSNChanged"))
		p.Lock = LockAttributes{
			LockoutTime:                e.GetAttributeValue("lockoutTime"),
			BadPwdCount:                e.GetAttributeValue("badPwdCount"),
			UserAccountControl:         e.GetAttributeValue("userAccountControl"),
			UserAccountControlComputed: e.GetAttributeValue("msDS-User-Account-Control-Computed"),
			PwdLastSet:                 e.GetAttributeValue("pwdLastSet"),
			AccountExpires:             e.GetAttributeValue("accountExpires"),
		}
		return p
	}
	p.ID = e.GetAttributeValue("entryUUID")
	p.Username = e.GetAttributeValue("uid")
	p.PolicyDN = e.GetAttributeValue("pwdPolicySubentry")
	p.Changed = SyncMark(e.GetAttributeValue("modifyTimestamp"))
	p.Lock = LockAttributes{
		PwdAccountLockedTime: e.GetAttributeValue("pwdAccountLockedTime"),
		PwdFailureTime:       e.GetAttributeValues("pwdFailureTime"),
		PwdChangedTime:       e.GetAttributeValue("pwdChangedTime"),
		PwdReset:             e.GetAttributeValue("pwdReset"),
		PwdEndTime:           e.GetAttributeValue("pwdEndTime"),
	}
	return p
}

// userFilter is the configured filter for one username, escaped so that no username can widen it.
func (d *Directory) userFilter(username string) string {
	return strings.ReplaceAll(d.s.UserFilter, UsernamePlaceholder, ldap.EscapeFilter(username))
}

// plausibleUsername keeps out of the directory what no stored username holds and some servers
// misread: Samba ends a filter's value at an escaped NUL, so "alice\x00x" would find alice.
func plausibleUsername(username string) bool {
	if username == "" || len(username) > maxUsernameBytes || !utf8.ValidString(username) {
		return false
	}
	return !strings.ContainsFunc(username, unicode.IsControl)
}

// Find returns the one person the username names: ErrNotFound when nobody matches, ErrAmbiguous
// when several do.
func (d *Directory) Find(ctx context.Context, username string) (Person, error) {
	if !plausibleUsername(username) {
		return Person{}, ErrNotFound
	}
	s, err := d.serviceSession(ctx)
	if err != nil {
		return Person{}, err
	}
	defer s.close()
	req := ldap.NewSearchRequest(d.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
		d.timeLimit(), false, d.userFilter(username), d.personAttributes(), nil)
	var res *ldap.SearchResult
	err = s.do("find", func() (err error) { res, err = s.conn.Search(req); return err })
	switch {
	case isLDAPCode(err, ldap.LDAPResultSizeLimitExceeded):
		return Person{}, ErrAmbiguous
	case isLDAPCode(err, ldap.LDAPResultNoSuchObject):
		return Person{}, fmt.Errorf("directory find: the base DN %s does not exist: %w", d.s.BaseDN, err)
	case err != nil:
		return Person{}, err
	case len(res.Entries) == 0:
		return Person{}, ErrNotFound
	case len(res.Entries) > 1:
		return Person{}, ErrAmbiguous
	}
	return d.person(res.Entries[0]), nil
}

// People calls each for every person changed since the mark (everyone when it is empty), page by
// page, and returns the mark to pass next time. An incremental sync sees new and changed people
// and new locks (a lock changes the entry; so does each failure ppolicy counts, while AD's
// badPwdCount does not). It does not see people removed, nor a lock that lapses with time, which
// changes nothing (Derive finds those at any time), so a full sync now and then is still due.
// The mark's own second (or USN) is read again, so that a change made just after a sync is not lost.
func (d *Directory) People(ctx context.Context, since SyncMark, each func(Person) error) (SyncMark, error) {
	// Every person: the username's place takes the wildcard the escaping keeps out of Find.
	filter := strings.ReplaceAll(d.s.UserFilter, UsernamePlaceholder, "*")
	newest := since
	if since != "" {
		attr := "modifyTimestamp"
		if d.s.Kind == ActiveDirectory {
			attr = "uSNChanged"
		}
		if _, ok := d.markValue(since); !ok {
			return since, fmt.Errorf("directory sync: %q is not a %s", since, attr)
		}
		filter = "(&" + filter + "(" + attr + ">=" + ldap.EscapeFilter(string(since)) + "))"
	}
	s, err := d.serviceSession(ctx)
	if err != nil {
		return since, err
	}
	defer s.close()
	paging := ldap.NewControlPaging(pageSize)
	req := ldap.NewSearchRequest(d.s.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
		d.timeLimit(), false, filter, d.personAttributes(), []ldap.Control{paging})
	for {
		var res *ldap.SearchResult
		if err := s.do("sync", func() (err error) { res, err = s.conn.Search(req); return err }); err != nil {
			return since, err
		}
		for _, e := range res.Entries {
			p := d.person(e)
			if d.markAfter(p.Changed, newest) {
				newest = p.Changed
			}
			if err := each(p); err != nil {
				return since, err
			}
		}
		next, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if next == nil || len(next.Cookie) == 0 {
			return newest, nil
		}
		paging.SetCookie(next.Cookie)
	}
}

// markValue reads a mark as a number, to compare two marks: seconds (with nanoseconds) for a
// timestamp, the USN for AD.
func (d *Directory) markValue(m SyncMark) (int64, bool) {
	if d.s.Kind == ActiveDirectory {
		return parseInt(string(m))
	}
	t, ok := parseGeneralizedTime(string(m))
	return t.UnixNano(), ok
}

func (d *Directory) markAfter(a, b SyncMark) bool {
	av, ok := d.markValue(a)
	if !ok {
		return false
	}
	bv, ok := d.markValue(b)
	return !ok || av > bv
}

// CheckPassword binds as the person, on a connection of its own, so that the directory applies
// its own policy and counts a failure. A wrong password, and a locked person, give
// ErrInvalidCredentials; a right password that has expired gives ErrPasswordExpired.
func (d *Directory) CheckPassword(ctx context.Context, dn, password string) error {
	if password == "" {
		// An empty password is an unauthenticated bind, which servers grant as anonymous.
		return ErrInvalidCredentials
	}
	s, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	req := &ldap.SimpleBindRequest{Username: dn, Password: password}
	if d.s.Kind == OpenLDAP {
		req.Controls = []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}
	}
	var res *ldap.SimpleBindResult
	err = s.do("password check", func() (err error) { res, err = s.conn.SimpleBind(req); return err })
	if expired(d.s.Kind, res, err) {
		return ErrPasswordExpired
	}
	if isLDAPCode(err, ldap.LDAPResultInvalidCredentials) {
		return ErrInvalidCredentials
	}
	return err
}

// expired reads a bind's answer for "right password, but it must be replaced": ppolicy says so
// in its response control, AD in the data code of its message (532 expired, 773 must reset). Both
// say it only when the password was right.
func expired(kind Kind, res *ldap.SimpleBindResult, err error) bool {
	if kind == ActiveDirectory {
		var le *ldap.Error
		if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultInvalidCredentials {
			return false
		}
		msg := le.Err.Error()
		return strings.Contains(msg, "data 532,") || strings.Contains(msg, "data 773,")
	}
	if res == nil {
		return false
	}
	pp, ok := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy)
	return ok && (pp.Error == 0 || pp.Error == 2) // passwordExpired, changeAfterReset
}

// Unlock lifts the directory's lock on the person and forgets their failures (ppolicy:
// pwdAccountLockedTime and pwdFailureTime; AD: lockoutTime=0). It reports whether there was
// anything to lift: unlocking an unlocked person, or one whom another unlock has just freed, is
// not an error. With KeepFreeze an administrator's lock stays, even one set while this runs.
func (d *Directory) Unlock(ctx context.Context, dn string, how Unlocking) (bool, error) {
	s, err := d.serviceSession(ctx)
	if err != nil {
		return false, err
	}
	defer s.close()
	if d.s.Kind == ActiveDirectory {
		return d.unlockAD(s, dn)
	}
	e, err := s.read("unlock", dn, "pwdAccountLockedTime", "pwdFailureTime")
	if err != nil {
		return false, err
	}
	locked := e.GetAttributeValue("pwdAccountLockedTime")
	if how == KeepFreeze && locked == AdministratorLock {
		return false, ErrFrozen
	}
	if locked == "" && len(e.GetAttributeValues("pwdFailureTime")) == 0 {
		return false, nil
	}
	controls := []ldap.Control{ldap.NewControlString(relaxOID, true, "")}
	if how == KeepFreeze {
		assertion, err := ldap.CompileFilter("(!(pwdAccountLockedTime=" + AdministratorLock + "))")
		if err != nil {
			return false, err
		}
		controls = append(controls, ldap.NewControlString(assertionOID, true, string(assertion.Bytes())))
	}
	// A replace with no values removes the attribute and is no error when it is already gone, so
	// two unlocks at once both succeed.
	req := ldap.NewModifyRequest(dn, controls)
	req.Replace("pwdAccountLockedTime", nil)
	req.Replace("pwdFailureTime", nil)
	err = s.do("unlock", func() error { return s.conn.Modify(req) })
	if isLDAPCode(err, ldap.LDAPResultAssertionFailed) {
		return false, ErrFrozen
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

func (d *Directory) unlockAD(s *session, dn string) (bool, error) {
	e, err := s.read("unlock", dn, "lockoutTime")
	if err != nil {
		return false, err
	}
	if n, _ := parseInt(e.GetAttributeValue("lockoutTime")); n == 0 {
		return false, nil
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("lockoutTime", []string{"0"})
	if err := s.do("unlock", func() error { return s.conn.Modify(req) }); err != nil {
		return false, err
	}
	return true, nil
}

// SetPassword sets the person's password as the service account, through the directory's own
// policy (ppolicy: the Password Modify operation, then pwdReset cleared, as the person chose the
// password; AD: unicodePwd, over TLS only). A refusal by that policy is a *RefusedError carrying the
// directory's reason. It does not unlock: ppolicy clears its lock when the password changes, AD does
// not, so call Unlock after it.
func (d *Directory) SetPassword(ctx context.Context, dn, password string) error {
	if password == "" {
		// Password Modify without a new password asks the server to make one up.
		return &RefusedError{Rule: RefusedQuality, Reason: "the password is empty"}
	}
	s, err := d.serviceSession(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	if d.s.Kind == ActiveDirectory {
		if _, ok := s.conn.TLSConnectionState(); !ok {
			return ErrNeedsTLS
		}
		req := ldap.NewModifyRequest(dn, nil)
		req.Replace("unicodePwd", []string{adPassword(password)})
		err = s.do("set password", func() error { return s.conn.Modify(req) })
	} else {
		err = s.do("set password", func() error {
			_, err := s.conn.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", password))
			return err
		})
	}
	var le *ldap.Error
	if errors.As(err, &le) && (le.ResultCode == ldap.LDAPResultConstraintViolation ||
		le.ResultCode == ldap.LDAPResultUnwillingToPerform) {
		return refusal(le.Err.Error())
	}
	if err != nil || d.s.Kind == ActiveDirectory {
		return err
	}
	// With pwdMustChange, ppolicy marks a password set by someone else (pwdReset) to be changed at
	// the next sign-in; but the person chose this one themselves.
	clear := ldap.NewModifyRequest(dn, []ldap.Control{ldap.NewControlString(relaxOID, true, "")})
	clear.Replace("pwdReset", nil)
	if err := s.do("set password", func() error { return s.conn.Modify(clear) }); err != nil {
		return fmt.Errorf("the password is set, but the directory still asks for a new one at the next sign-in (pwdReset): %w", err)
	}
	return nil
}

// adPassword is a password as AD's unicodePwd takes it: in double quotes, UTF-16LE.
func adPassword(password string) string {
	units := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 0, 2*len(units))
	for _, u := range units {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

// Policy reads the password policy at policyDN (a Person's PolicyDN), or the default one when it
// is empty: ppolicy's default policy entry, or the AD domain's own settings. A policy the service
// account may not read is an error, not a policy of zeros: directories leave out what an account
// may not see, which would read as "no lockout" and "locks without end".
func (d *Directory) Policy(ctx context.Context, policyDN string) (Policy, error) {
	s, err := d.serviceSession(ctx)
	if err != nil {
		return Policy{}, err
	}
	defer s.close()
	if d.s.Kind == ActiveDirectory {
		return d.adPolicy(s, policyDN)
	}
	if policyDN == "" {
		policyDN = d.s.PolicyDN
	}
	if policyDN == "" {
		if policyDN, err = d.findDefaultPolicy(s); err != nil {
			return Policy{}, err
		}
	}
	e, err := s.read("policy", policyDN, "objectClass", "pwdLockout", "pwdMaxFailure", "pwdLockoutDuration", "pwdMaxAge")
	if err != nil {
		return Policy{}, err
	}
	if !slices.ContainsFunc(e.GetAttributeValues("objectClass"), func(c string) bool { return strings.EqualFold(c, "pwdPolicy") }) {
		return Policy{}, fmt.Errorf("directory policy: %s is not a pwdPolicy entry that the service account may read", policyDN)
	}
	return ppolicyPolicy(e.GetAttributeValue("pwdLockout"), e.GetAttributeValue("pwdMaxFailure"),
		e.GetAttributeValue("pwdLockoutDuration"), e.GetAttributeValue("pwdMaxAge")), nil
}

// adPolicy reads a password settings object (a fine-grained policy), or the domain's settings.
func (d *Directory) adPolicy(s *session, psoDN string) (Policy, error) {
	duration, threshold, maxAge := "lockoutDuration", "lockoutThreshold", "maxPwdAge"
	dn := psoDN
	if psoDN != "" {
		duration, threshold, maxAge = "msDS-LockoutDuration", "msDS-LockoutThreshold", "msDS-MaximumPasswordAge"
	} else {
		root, err := s.read("policy", "", "defaultNamingContext")
		if err != nil {
			return Policy{}, err
		}
		dn = root.GetAttributeValue("defaultNamingContext")
	}
	e, err := s.read("policy", dn, duration, threshold, maxAge)
	if err != nil {
		return Policy{}, err
	}
	if e.GetAttributeValue(duration) == "" || e.GetAttributeValue(threshold) == "" {
		return Policy{}, fmt.Errorf("directory policy: the service account may not read %s and %s of %s", duration, threshold, dn)
	}
	return adPolicy(e.GetAttributeValue(duration), e.GetAttributeValue(threshold), e.GetAttributeValue(maxAge)), nil
}

// findDefaultPolicy finds the one pwdPolicy entry in the naming context that holds the base DN.
// ppolicy names its default in cn=config, which the service account should not read.
func (d *Directory) findDefaultPolicy(s *session) (string, error) {
	root, err := s.read("policy", "", "namingContexts")
	if err != nil {
		return "", err
	}
	base, _ := ldap.ParseDN(d.s.BaseDN)
	searchBase := d.s.BaseDN
	for _, nc := range root.GetAttributeValues("namingContexts") {
		if dn, err := ldap.ParseDN(nc); err == nil && (dn.EqualFold(base) || dn.AncestorOfFold(base)) {
			searchBase = nc
		}
	}
	req := ldap.NewSearchRequest(searchBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
		d.timeLimit(), false, "(objectClass=pwdPolicy)", []string{"1.1"}, nil)
	var res *ldap.SearchResult
	err = s.do("policy", func() (err error) { res, err = s.conn.Search(req); return err })
	if err != nil && !isLDAPCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return "", err
	}
	switch {
	case len(res.Entries) == 0:
		return "", fmt.Errorf("directory policy: no pwdPolicy entry under %s that the service account may read", searchBase)
	case len(res.Entries) > 1:
		return "", fmt.Errorf("directory policy: several pwdPolicy entries under %s: name the default one", searchBase)
	}
	return res.Entries[0].DN, nil
}

// ppolicyPolicy reads a pwdPolicy entry's values (durations in seconds).
func ppolicyPolicy(lockout, maxFailure, lockoutDuration, maxAge string) Policy {
	p := Policy{Lockout: strings.EqualFold(strings.TrimSpace(lockout), "TRUE")}
	if n, ok := parseInt(maxFailure); ok && n > 0 {
		p.MaxFailures = int(n)
	}
	if n, ok := parseInt(lockoutDuration); ok && n > 0 {
		p.LockoutDuration = time.Duration(n) * time.Second
	}
	if n, ok := parseInt(maxAge); ok && n > 0 {
		p.MaxPasswordAge = time.Duration(n) * time.Second
	}
	return p
}

// adPolicy reads the domain's (or a password settings object's) values: intervals are negative
// counts of 100 ns.
func adPolicy(lockoutDuration, threshold, maxPwdAge string) Policy {
	p := Policy{LockoutDuration: adInterval(lockoutDuration), MaxPasswordAge: adInterval(maxPwdAge)}
	if n, ok := parseInt(threshold); ok && n > 0 {
		p.Lockout, p.MaxFailures = true, int(n)
	}
	return p
}

func (d *Directory) timeLimit() int {
	return max(1, int(d.s.OperationTimeout/time.Second))
}

func isLDAPCode(err error, code uint16) bool {
	var le *ldap.Error
	return errors.As(err, &le) && le.ResultCode == code
}

// session is one connection, for one operation. Each request on it is bounded by the operation
// timeout, by a deadline on the socket itself, so that no layer can wait longer; cancelling the
// context closes it.
type session struct {
	ctx     context.Context
	conn    *ldap.Conn
	raw     net.Conn
	timeout time.Duration
	stop    func() bool
}

// open connects (and starts TLS where configured) without binding.
func (d *Directory) open(ctx context.Context) (*session, error) {
	u, err := url.Parse(d.s.URL)
	if err != nil {
		return nil, err
	}
	port := u.Port()
	if port == "" {
		port = ldap.DefaultLdapPort
		if u.Scheme == "ldaps" {
			port = ldap.DefaultLdapsPort
		}
	}
	dialCtx, cancel := context.WithTimeout(ctx, d.s.DialTimeout)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(dialCtx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, classify(dialCtx, "connect", err, true)
	}
	var conn *ldap.Conn
	if u.Scheme == "ldaps" {
		tc := tls.Client(raw, d.s.tls)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			raw.Close()
			return nil, classify(dialCtx, "TLS handshake", err, false)
		}
		conn = ldap.NewConn(tc, true)
	} else {
		conn = ldap.NewConn(raw, false)
	}
	conn.Start()
	s := &session{ctx: ctx, conn: conn, raw: raw, timeout: d.s.OperationTimeout}
	s.stop = context.AfterFunc(ctx, func() { conn.Close() })
	if d.s.StartTLS {
		var handshake error
		err := s.do("StartTLS", func() error { handshake = conn.StartTLS(d.s.tls); return handshake })
		if handshake != nil && ctx.Err() == nil && untrusted(handshake) {
			// The library reports the handshake's failure as text: an untrusted certificate is a
			// configuration to fix, not an outage.
			err = fmt.Errorf("directory StartTLS: TLS: %w", handshake)
		}
		if err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func untrusted(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "x509:") || strings.Contains(msg, "certificate")
}

// serviceSession opens a connection bound as the service account.
func (d *Directory) serviceSession(ctx context.Context) (*session, error) {
	s, err := d.open(ctx)
	if err != nil {
		return nil, err
	}
	err = s.do("service bind", func() error { return s.conn.Bind(d.s.BindDN, d.s.BindPassword) })
	if isLDAPCode(err, ldap.LDAPResultInvalidCredentials) {
		err = fmt.Errorf("%w (check UNLOCKD_DIRECTORY_BIND_DN and the bind password)", err)
	}
	if err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// do runs one request under the operation timeout and classifies its error.
func (s *session) do(op string, request func() error) error {
	deadline := time.Now().Add(s.timeout)
	if d, ok := s.ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.raw.SetDeadline(deadline)
	s.conn.SetTimeout(time.Until(deadline))
	err := request()
	lost := err != nil && (s.conn.IsClosing() || !time.Now().Before(deadline))
	// Between requests the connection may idle (a sync's caller works on a page): no deadline then.
	_ = s.raw.SetDeadline(time.Time{})
	return classify(s.ctx, op, err, lost)
}

// read returns one entry's attributes.
func (s *session) read(op, dn string, attributes ...string) (*ldap.Entry, error) {
	req := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", attributes, nil)
	var res *ldap.SearchResult
	err := s.do(op, func() (err error) { res, err = s.conn.Search(req); return err })
	if isLDAPCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, fmt.Errorf("directory %s: %s: %w", op, dn, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("directory %s: %s: %w", op, dn, ErrNotFound)
	}
	return res.Entries[0], nil
}

func (s *session) close() {
	s.stop()
	s.conn.Close()
}
