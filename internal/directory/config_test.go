package directory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func validConfig() Config {
	return Config{
		URL:          "ldap://ldap.example.org:389",
		BindDN:       "cn=unlockd,ou=services,dc=example,dc=org",
		BindPassword: "secret",
		BaseDN:       "ou=people,dc=example,dc=org",
	}
}

func TestNewFillsDefaults(t *testing.T) {
	d, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind() != OpenLDAP || d.SyncInterval() != time.Minute || d.s.UserFilter != defaultOpenLDAPFilter ||
		d.s.DialTimeout != DefaultDialTimeout || d.s.OperationTimeout != DefaultOperationTimeout || d.s.tls != nil {
		t.Fatalf("defaults not filled: %+v", d.s)
	}
	c := validConfig()
	c.Kind = ActiveDirectory
	c.URL = "ldaps://dc.example.org"
	d, err = New(c)
	if err != nil {
		t.Fatal(err)
	}
	if d.s.UserFilter != defaultADFilter || d.s.tls == nil || d.s.tls.ServerName != "dc.example.org" {
		t.Fatalf("AD over ldaps: %+v", d.s)
	}
}

func TestNewReadsThePasswordFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bind")
	if err := os.WriteFile(path, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := validConfig()
	c.BindPassword, c.BindPasswordFile = "", path
	d, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if d.s.BindPassword != "from a file" {
		t.Fatalf("password %q, want the file's line without its newline", d.s.BindPassword)
	}
}

func TestNewRefusesBadConfigurationNamingTheVariable(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	_ = os.WriteFile(empty, nil, 0o600)
	_ = os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tests := []struct {
		name     string
		change   func(*Config)
		variable string
		says     string
	}{
		{"no URL", func(c *Config) { c.URL = "" }, "UNLOCKD_DIRECTORY_URL", "required"},
		{"http URL", func(c *Config) { c.URL = "http://ldap.example.org" }, "UNLOCKD_DIRECTORY_URL", "ldap:// or ldaps://"},
		{"no host", func(c *Config) { c.URL = "ldap://" }, "UNLOCKD_DIRECTORY_URL", "no host"},
		{"credentials in the URL", func(c *Config) { c.URL = "ldap://u:p@ldap.example.org" }, "UNLOCKD_DIRECTORY_URL", "credentials"},
		{"a DN in the URL", func(c *Config) { c.URL = "ldap://ldap.example.org/dc=example,dc=org" }, "UNLOCKD_DIRECTORY_URL", "BASE_DN"},
		{"unknown kind", func(c *Config) { c.Kind = "freeipa" }, "UNLOCKD_DIRECTORY_KIND", "openldap or ad"},
		{"no bind DN", func(c *Config) { c.BindDN = "" }, "UNLOCKD_DIRECTORY_BIND_DN", "required"},
		{"bad bind DN", func(c *Config) { c.BindDN = "not a dn" }, "UNLOCKD_DIRECTORY_BIND_DN", "not a DN"},
		{"no password", func(c *Config) { c.BindPassword = "" }, "UNLOCKD_DIRECTORY_BIND_PASSWORD", "required"},
		{"both password and file", func(c *Config) { c.BindPasswordFile = empty }, "UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", "not both"},
		{"missing password file", func(c *Config) { c.BindPassword, c.BindPasswordFile = "", "/nonexistent/bind" }, "UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", "cannot read"},
		{"empty password file", func(c *Config) { c.BindPassword, c.BindPasswordFile = "", empty }, "UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", "empty"},
		{"no base DN", func(c *Config) { c.BaseDN = "" }, "UNLOCKD_DIRECTORY_BASE_DN", "required"},
		{"filter without placeholder", func(c *Config) { c.UserFilter = "(uid=alice)" }, "UNLOCKD_DIRECTORY_USER_FILTER", "{username}"},
		{"broken filter", func(c *Config) { c.UserFilter = "(&(uid={username})" }, "UNLOCKD_DIRECTORY_USER_FILTER", "not a valid"},
		{"StartTLS on ldaps", func(c *Config) { c.URL, c.StartTLS = "ldaps://ldap.example.org", true }, "UNLOCKD_DIRECTORY_STARTTLS", "TLS already"},
		{"CA file without TLS", func(c *Config) { c.CAFile = notPEM }, "UNLOCKD_DIRECTORY_CA_FILE", "needs ldaps"},
		{"CA file not PEM", func(c *Config) { c.StartTLS, c.CAFile = true, notPEM }, "UNLOCKD_DIRECTORY_CA_FILE", "no PEM"},
		{"negative interval", func(c *Config) { c.SyncInterval = -time.Second }, "UNLOCKD_DIRECTORY_SYNC_INTERVAL", "positive"},
		{"tiny interval", func(c *Config) { c.SyncInterval = time.Millisecond }, "UNLOCKD_DIRECTORY_SYNC_INTERVAL", "at least 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.change(&c)
			_, err := New(c)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Variable != tt.variable || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("New: %v; want an error naming %s that says %q", err, tt.variable, tt.says)
			}
		})
	}
}

func TestUserFilterEscapesTheUsername(t *testing.T) {
	d, err := New(validConfig())
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"alice":       "(&(objectClass=inetOrgPerson)(uid=alice))",
		"*":           `(&(objectClass=inetOrgPerson)(uid=\2a))`,
		"a*)(uid=*":   `(&(objectClass=inetOrgPerson)(uid=a\2a\29\28uid=\2a))`,
		`\`:           `(&(objectClass=inetOrgPerson)(uid=\5c))`,
		"nul\x00byte": `(&(objectClass=inetOrgPerson)(uid=nul\00byte))`,
	} {
		if got := d.userFilter(in); got != want {
			t.Errorf("userFilter(%q) = %s, want %s", in, got, want)
		}
	}
}

// No username changes the shape of the filter: it stays one AND of the object class and one
// equality, whose value is the username, byte for byte.
func FuzzUserFilter(f *testing.F) {
	for _, s := range []string{"alice", "*", "a*)(uid=*", `\`, "(", ")", "\x00", "\xff", "é", "*)(|(uid=*"} {
		f.Add(s)
	}
	d, err := New(validConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, username string) {
		packet, err := ldap.CompileFilter(d.userFilter(username))
		if err != nil {
			t.Fatalf("the filter for %q does not compile: %v", username, err)
		}
		if len(packet.Children) != 2 || packet.Children[1].Tag != ldap.FilterEqualityMatch ||
			len(packet.Children[1].Children) != 2 || packet.Children[1].Children[1].Data.String() != username {
			t.Fatalf("the filter for %q changed shape: %s", username, d.userFilter(username))
		}
	})
}
