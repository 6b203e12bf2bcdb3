package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) Getenv {
	m := map[string]string{"UNLOCKD_DATABASE_URL": "postgres://localhost/unlockd", "UNLOCKD_SECRET_KEY": strings.Repeat("s", 32)}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.BaseURL.String() != "http://127.0.0.1:8080" || c.MailFrom != "unlockd@localhost" ||
		c.LogFormat != "text" || c.CookieSecure || c.SMTPURL != nil || c.Dev {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestHTTPSBaseURLMakesCookiesSecure(t *testing.T) {
	c, err := Load(env("UNLOCKD_BASE_URL", "https://unlock.example.com/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.CookieSecure || c.BaseURL.String() != "https://unlock.example.com" {
		t.Fatalf("CookieSecure=%v base=%s", c.CookieSecure, c.BaseURL)
	}
}

// Every bad value stops start-up with one line naming the variable.
func TestBadValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		env  []string
		name string
	}{
		{[]string{"UNLOCKD_DATABASE_URL", ""}, "UNLOCKD_DATABASE_URL"},
		{[]string{"UNLOCKD_DATABASE_READ_URL", "mysql://replica/unlockd"}, "UNLOCKD_DATABASE_READ_URL"},
		{[]string{"UNLOCKD_DATABASE_READ_URL", "replica"}, "UNLOCKD_DATABASE_READ_URL"},
		{[]string{"UNLOCKD_SECRET_KEY", "short"}, "UNLOCKD_SECRET_KEY"},
		{[]string{"UNLOCKD_SECRET_KEY", ""}, "UNLOCKD_SECRET_KEY"},
		{[]string{"UNLOCKD_LISTEN", "8080"}, "UNLOCKD_LISTEN"},
		{[]string{"UNLOCKD_BASE_URL", "ftp://x"}, "UNLOCKD_BASE_URL"},
		{[]string{"UNLOCKD_BASE_URL", "https://x.example/?q=1"}, "UNLOCKD_BASE_URL"},
		{[]string{"UNLOCKD_SMTP_URL", "http://mail:25"}, "UNLOCKD_SMTP_URL"},
		{[]string{"UNLOCKD_SMTP_URL", "smtp://mail"}, "UNLOCKD_SMTP_URL"},
		{[]string{"UNLOCKD_SMTP_URL", "smtp://mail:25?tls=maybe"}, "UNLOCKD_SMTP_URL"},
		{[]string{"UNLOCKD_MAIL_FROM", "nobody"}, "UNLOCKD_MAIL_FROM"},
		{[]string{"UNLOCKD_SMS_WEBHOOK_URL", "not a url"}, "UNLOCKD_SMS_WEBHOOK_URL"},
		{[]string{"UNLOCKD_TRUSTED_PROXIES", "10.0.0.0/8,banana"}, "UNLOCKD_TRUSTED_PROXIES"},
		{[]string{"UNLOCKD_COOKIE_SECURE", "yes please"}, "UNLOCKD_COOKIE_SECURE"},
		{[]string{"UNLOCKD_COOKIE_SECURE", "true"}, "UNLOCKD_COOKIE_SECURE"},
		{[]string{"UNLOCKD_BASE_URL", "https://x.example", "UNLOCKD_COOKIE_SECURE", "false"}, "UNLOCKD_COOKIE_SECURE"},
		{[]string{"UNLOCKD_LOG_FORMAT", "xml"}, "UNLOCKD_LOG_FORMAT"},
		{[]string{"UNLOCKD_TIMEZONE", "Beijing"}, "UNLOCKD_TIMEZONE"},
		{[]string{"UNLOCKD_TIMEZONE", "Local"}, "UNLOCKD_TIMEZONE"},
		{[]string{"UNLOCKD_LOG_LEVEL", "loud"}, "UNLOCKD_LOG_LEVEL"},
		{[]string{"UNLOCKD_DEV", "2"}, "UNLOCKD_DEV"},
		{[]string{"UNLOCKD_METRICS_LISTEN", "nope"}, "UNLOCKD_METRICS_LISTEN"},
		{[]string{"UNLOCKD_SECRET_KEY_FILE", "/nonexistent/key"}, "UNLOCKD_SECRET_KEY"},
	}
	for _, tt := range tests {
		_, err := Load(env(tt.env...), nil)
		if err == nil {
			t.Errorf("%v: accepted", tt.env)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %q does not start with %s on one line", tt.env, err, tt.name)
		}
	}
}

func TestSecretFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	key := strings.Repeat("f", 40)
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(env("UNLOCKD_SECRET_KEY", "", "UNLOCKD_SECRET_KEY_FILE", path), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(c.SecretKey) != key {
		t.Fatalf("key from file = %q", c.SecretKey)
	}
	if _, err := Load(env("UNLOCKD_SECRET_KEY_FILE", path), nil); err == nil {
		t.Fatal("both UNLOCKD_SECRET_KEY and _FILE were accepted")
	}
}

func TestDevModeNeedsNoSecretKey(t *testing.T) {
	c, err := Load(env("UNLOCKD_SECRET_KEY", "", "UNLOCKD_DEV", "1"), nil)
	if err != nil || len(c.SecretKey) < 32 {
		t.Fatalf("dev without a key: %v", err)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := Load(env("UNLOCKD_LISTEN", "127.0.0.1:1"), map[string]string{"UNLOCKD_LISTEN": "127.0.0.1:9999"})
	if err != nil || c.Listen != "127.0.0.1:9999" {
		t.Fatalf("listen = %q, %v", c.Listen, err)
	}
}

func TestDatabaseURLFallback(t *testing.T) {
	c, err := Load(env("UNLOCKD_DATABASE_URL", "", "DATABASE_URL", "postgres://fallback/db"), nil)
	if err != nil || c.DatabaseURL != "postgres://fallback/db" {
		t.Fatalf("fallback: %q, %v", c.DatabaseURL, err)
	}
}

// The read pool is optional: unset, the dashboard reads from the main database.
func TestDatabaseReadURL(t *testing.T) {
	c, err := Load(env(), nil)
	if err != nil || c.DatabaseReadURL != "" {
		t.Fatalf("unset: %q, %v", c.DatabaseReadURL, err)
	}
	for _, v := range []string{"postgres://u@replica:5432/unlockd", "postgresql://u@r1,r2/unlockd?target_session_attrs=prefer-standby",
		"host=replica dbname=unlockd"} {
		c, err := Load(env("UNLOCKD_DATABASE_READ_URL", v), nil)
		if err != nil || c.DatabaseReadURL != v {
			t.Fatalf("%q: %q, %v", v, c.DatabaseReadURL, err)
		}
	}
}

func TestTimezone(t *testing.T) {
	c, err := Load(env(), nil)
	if err != nil || c.Timezone != time.UTC {
		t.Fatalf("default zone %v, %v", c.Timezone, err)
	}
	c, err = Load(env("UNLOCKD_TIMEZONE", "Asia/Shanghai"), nil)
	if err != nil || c.Timezone.String() != "Asia/Shanghai" {
		t.Fatalf("zone %v, %v", c.Timezone, err)
	}
}

// Without UNLOCKD_BASE_URL, links follow the listen address.
func TestBaseURLFollowsTheListenAddress(t *testing.T) {
	for listen, want := range map[string]string{"127.0.0.1:9090": "http://127.0.0.1:9090", ":8181": "http://127.0.0.1:8181",
		"0.0.0.0:8080": "http://127.0.0.1:8080", "[::1]:8443": "http://[::1]:8443"} {
		c, err := Load(env("UNLOCKD_LISTEN", listen), nil)
		if err != nil || c.BaseURL.String() != want {
			t.Errorf("UNLOCKD_LISTEN=%s: base %v, %v; want %s", listen, c.BaseURL, err, want)
		}
	}
	c, err := Load(env("UNLOCKD_LISTEN", "127.0.0.1:9090", "UNLOCKD_BASE_URL", "https://unlock.example.com"), nil)
	if err != nil || c.BaseURL.String() != "https://unlock.example.com" {
		t.Errorf("a base URL given is kept: %v, %v", c.BaseURL, err)
	}
}

func directoryEnv(kv ...string) Getenv {
	base := []string{"UNLOCKD_DIRECTORY_URL", "ldap://ldap.example.org:389",
		"UNLOCKD_DIRECTORY_BIND_DN", "cn=unlockd,dc=example,dc=org",
		"UNLOCKD_DIRECTORY_BIND_PASSWORD", "service secret",
		"UNLOCKD_DIRECTORY_BASE_DN", "ou=people,dc=example,dc=org"}
	return env(append(base, kv...)...)
}

func TestNoDirectoryWithoutItsURL(t *testing.T) {
	c, err := Load(env("UNLOCKD_DIRECTORY_BASE_DN", "dc=example,dc=org"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Directory != nil {
		t.Fatalf("directory configured without a URL: %+v", c.Directory)
	}
}

func TestDirectoryDefaultsAndValues(t *testing.T) {
	c, err := Load(directoryEnv(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Directory
	if d == nil || d.URL != "ldap://ldap.example.org:389" || d.Kind != "" || d.BindDN != "cn=unlockd,dc=example,dc=org" ||
		d.BindPassword != "service secret" || d.BaseDN != "ou=people,dc=example,dc=org" || d.UserFilter != "" ||
		d.StartTLS || d.CAFile != "" || d.SyncInterval != 0 {
		t.Fatalf("directory read as %+v", d)
	}

	file := filepath.Join(t.TempDir(), "bind-password")
	if err := os.WriteFile(file, []byte("from a file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(directoryEnv("UNLOCKD_DIRECTORY_BIND_PASSWORD", "", "UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", file,
		"UNLOCKD_DIRECTORY_KIND", "ad", "UNLOCKD_DIRECTORY_STARTTLS", "true", "UNLOCKD_DIRECTORY_CA_FILE", "/etc/ca.pem",
		"UNLOCKD_DIRECTORY_USER_FILTER", "(&(objectClass=user)(mail={username}))", "UNLOCKD_DIRECTORY_SYNC_INTERVAL", "30s"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d = c.Directory
	if d.BindPassword != "from a file" || d.Kind != "ad" || !d.StartTLS || d.CAFile != "/etc/ca.pem" ||
		d.UserFilter != "(&(objectClass=user)(mail={username}))" || d.SyncInterval != 30*time.Second {
		t.Fatalf("directory read as %+v", d)
	}
}

// Load parses the directory's values that have a format of their own; what they mean is the
// connector's to check (TestNewRefusesBadConfigurationNamingTheVariable in package directory).
func TestBadDirectoryValuesNameTheVariable(t *testing.T) {
	tests := []struct {
		env  []string
		name string
	}{
		{[]string{"UNLOCKD_DIRECTORY_BIND_PASSWORD_FILE", "/nonexistent/password"}, "UNLOCKD_DIRECTORY_BIND_PASSWORD"},
		{[]string{"UNLOCKD_DIRECTORY_STARTTLS", "sometimes"}, "UNLOCKD_DIRECTORY_STARTTLS"},
		{[]string{"UNLOCKD_DIRECTORY_SYNC_INTERVAL", "often"}, "UNLOCKD_DIRECTORY_SYNC_INTERVAL"},
	}
	for _, tt := range tests {
		_, err := Load(directoryEnv(tt.env...), nil)
		if err == nil {
			t.Errorf("%v: accepted", tt.env)
			continue
		}
		if !strings.HasPrefix(err.Error(), tt.name) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %q does not start with %s on one line", tt.env, err, tt.name)
		}
	}
}
