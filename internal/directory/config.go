package directory

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Kind names the directory's flavour: where it keeps locks and how it sets passwords.
type Kind string

const (
	OpenLDAP        Kind = "openldap" // OpenLDAP with the ppolicy overlay
	ActiveDirectory Kind = "ad"       // Active Directory or Samba AD
)

// UsernamePlaceholder is replaced, escaped, by the username in a user filter.
const UsernamePlaceholder = "{username}"

// Defaults for what Config leaves zero.
const (
	DefaultSyncInterval     = time.Minute
	DefaultDialTimeout      = 5 * time.Second
	DefaultOperationTimeout = 10 * time.Second

	defaultOpenLDAPFilter = "(&(objectClass=inetOrgPerson)(uid={username}))"
	defaultADFilter       = "(&(objectClass=user)(sAMAccountName={username}))"
)

// Config is how to reach the directory. Each field is one UNLOCKD_DIRECTORY_* variable, named in
// the errors New returns; the two timeouts and PolicyDN have no variable yet and default.
type Config struct {
	URL              string        // UNLOCKD_DIRECTORY_URL: ldap://host:port or ldaps://host:port
	Kind             Kind          // UNLOCKD_DIRECTORY_KIND; "" is openldap
	BindDN           string        // UNLOCKD_DIRECTORY_BIND_DN: the service account
	BindPassword     string        // UNLOCKD_DIRECTORY_BIND_PASSWORD
	BindPasswordFile string        // UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE: instead of BindPassword
	BaseDN           string        // UNLOCKD_DIRECTORY_BASE_DN: the subtree of people
	UserFilter       string        // UNLOCKD_DIRECTORY_USER_FILTER; "" is the kind's default
	StartTLS         bool          // UNLOCKD_DIRECTORY_STARTTLS: TLS on an ldap:// URL
	CAFile           string        // UNLOCKD_DIRECTORY_CA_FILE; "" trusts the system roots
	SyncInterval     time.Duration // UNLOCKD_DIRECTORY_SYNC_INTERVAL; 0 is DefaultSyncInterval
	PolicyDN         string        // ppolicy's default policy entry; "" finds the one pwdPolicy entry
	DialTimeout      time.Duration // 0 is DefaultDialTimeout
	OperationTimeout time.Duration // bound on each request; 0 is DefaultOperationTimeout
}

// ConfigError says which variable is wrong and why.
type ConfigError struct {
	Variable string
	Problem  string
}

func (e *ConfigError) Error() string { return e.Variable + ": " + e.Problem }

func configErr(variable, format string, args ...any) error {
	return &ConfigError{Variable: variable, Problem: fmt.Sprintf(format, args...)}
}

// settings is a Config checked and completed: the password read, the filter chosen, TLS ready.
type settings struct {
	Config
	tls *tls.Config // nil when the connection is plain
}

func (c Config) check() (settings, error) {
	s := settings{Config: c}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return s, configErr("UNLOCKD_DIRECTORY_URL", "required")
	case err != nil:
		return s, configErr("UNLOCKD_DIRECTORY_URL", "not a URL: %v", err)
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		return s, configErr("UNLOCKD_DIRECTORY_URL", "must start with ldap:// or ldaps://, not %q", u.Scheme+"://")
	case u.Hostname() == "":
		return s, configErr("UNLOCKD_DIRECTORY_URL", "names no host")
	case u.User != nil:
		return s, configErr("UNLOCKD_DIRECTORY_URL", "must not hold credentials: use UNLOCKD_DIRECTORY_BIND_DN and _BIND_PASSWORD")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		return s, configErr("UNLOCKD_DIRECTORY_URL", "must be only scheme, host and port: the subtree is UNLOCKD_DIRECTORY_BASE_DN")
	}

	switch s.Kind {
	case "":
		s.Kind = OpenLDAP
	case OpenLDAP, ActiveDirectory:
	default:
		return s, configErr("UNLOCKD_DIRECTORY_KIND", "must be openldap or ad, not %q", c.Kind)
	}

	if c.BindDN == "" {
		return s, configErr("UNLOCKD_DIRECTORY_BIND_DN", "required with UNLOCKD_DIRECTORY_URL")
	}
	if _, err := ldap.ParseDN(c.BindDN); err != nil {
		return s, configErr("UNLOCKD_DIRECTORY_BIND_DN", "not a DN: %v", err)
	}
	switch {
	case c.BindPassword != "" && c.BindPasswordFile != "":
		return s, configErr("UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", "set it or UNLOCKD_DIRECTORY_BIND_PASSWORD, not both")
	case c.BindPasswordFile != "":
		b, err := os.ReadFile(c.BindPasswordFile)
		if err != nil {
			return s, configErr("UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", "cannot read: %v", err)
		}
		s.BindPassword = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if s.BindPassword == "" {
			return s, configErr("UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", "the file is empty")
		}
	case c.BindPassword == "":
		// An empty password would make an unauthenticated bind, which servers accept as anonymous.
		return s, configErr("UNLOCKD_DIRECTORY_BIND_PASSWORD", "required with UNLOCKD_DIRECTORY_URL (or _FILE)")
	}

	if c.BaseDN == "" {
		return s, configErr("UNLOCKD_DIRECTORY_BASE_DN", "required with UNLOCKD_DIRECTORY_URL")
	}
	if _, err := ldap.ParseDN(c.BaseDN); err != nil {
		return s, configErr("UNLOCKD_DIRECTORY_BASE_DN", "not a DN: %v", err)
	}
	if c.PolicyDN != "" {
		if _, err := ldap.ParseDN(c.PolicyDN); err != nil {
			return s, configErr("policy DN", "not a DN: %v", err)
		}
	}

	if s.UserFilter == "" {
		s.UserFilter = defaultOpenLDAPFilter
		if s.Kind == ActiveDirectory {
			s.UserFilter = defaultADFilter
		}
	}
	if !strings.Contains(s.UserFilter, UsernamePlaceholder) {
		return s, configErr("UNLOCKD_DIRECTORY_USER_FILTER", "must contain %s", UsernamePlaceholder)
	}
	for _, probe := range []string{"someone", "*"} {
		if _, err := ldap.CompileFilter(strings.ReplaceAll(s.UserFilter, UsernamePlaceholder, probe)); err != nil {
			return s, configErr("UNLOCKD_DIRECTORY_USER_FILTER", "not a valid LDAP filter: %v", err)
		}
	}

	if c.StartTLS && u.Scheme == "ldaps" {
		return s, configErr("UNLOCKD_DIRECTORY_STARTTLS", "is for ldap:// URLs; ldaps:// is TLS already")
	}
	if u.Scheme == "ldaps" || c.StartTLS {
		s.tls = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return s, configErr("UNLOCKD_DIRECTORY_CA_FILE", "cannot read: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return s, configErr("UNLOCKD_DIRECTORY_CA_FILE", "holds no PEM certificate")
			}
			s.tls.RootCAs = pool
		}
	} else if c.CAFile != "" {
		return s, configErr("UNLOCKD_DIRECTORY_CA_FILE", "needs ldaps:// or UNLOCKD_DIRECTORY_STARTTLS")
	}

	switch {
	case c.SyncInterval < 0:
		return s, configErr("UNLOCKD_DIRECTORY_SYNC_INTERVAL", "must be positive, not %s", c.SyncInterval)
	case c.SyncInterval == 0:
		s.SyncInterval = DefaultSyncInterval
	case c.SyncInterval < time.Second:
		return s, configErr("UNLOCKD_DIRECTORY_SYNC_INTERVAL", "must be at least 1s, not %s", c.SyncInterval)
	}
	if c.DialTimeout < 0 || c.OperationTimeout < 0 {
		return s, configErr("directory timeouts", "must be positive")
	}
	if s.DialTimeout == 0 {
		s.DialTimeout = DefaultDialTimeout
	}
	if s.OperationTimeout == 0 {
		s.OperationTimeout = DefaultOperationTimeout
	}
	return s, nil
}
