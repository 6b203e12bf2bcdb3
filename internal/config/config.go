// Package config loads unlockd's configuration from the environment (and, for serve, flags),
// reads _FILE secrets, and validates every value so that a bad one stops start-up with one
// line naming the variable. Configuration is passed explicitly; nothing here is global.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole of unlockd's configuration.
type Config struct {
	DatabaseURL      string
	DatabaseReadURL  string // the dashboard's search and audit reads, e.g. from a standby; "" reads DatabaseURL
	Listen           string
	BaseURL          *url.URL
	SecretKey        []byte
	PreviousKey      []byte   // the key before a rotation: still opens what it sealed
	SMTPURL          *url.URL // nil: mail is refused
	MailFrom         string
	SMSWebhookURL    *url.URL // nil: SMS methods are hidden
	SMSWebhookToken  string
	TrustedProxies   []netip.Prefix
	CookieSecure     bool
	LogFormat        string
	LogLevel         slog.Level
	Dev              bool
	MetricsListen    string
	WebhookURLs      []string // events (lock, unlock, freeze, request) are POSTed here, signed
	WebhookSecret    []byte
	HashWorkers      int
	HashQueue        int
	MigrateOnStart   bool
	ShutdownTimeoutS int
	// Timezone is where times on pages and in messages are shown, and form inputs read (UTC).
	Timezone *time.Location
	// Directory is where accounts live when UNLOCKD_DIRECTORY_URL is set; nil otherwise.
	Directory *Directory
}

// Directory is the UNLOCKD_DIRECTORY_* configuration, one field per variable, as read: Load parses
// the values that have a format of their own (a boolean, a duration, the password or its file),
// and the directory connector checks what they mean (the URL, the kind, the required values, the
// DNs, the filter, TLS), naming the variable, before anything connects.
type Directory struct {
	URL          string // ldap://host:port or ldaps://host:port
	Kind         string // "openldap" or "ad"; "" is openldap
	BindDN       string
	BindPassword string // read from UNLOCKD_DIRECTORY_BIND_PASSWORD or its _FILE
	BaseDN       string
	UserFilter   string // "" is the kind's default
	StartTLS     bool
	CAFile       string        // "" trusts the system roots
	SyncInterval time.Duration // 0 is the connector's default, a minute
}

// Error is a configuration error; its text is the one line printed at start-up.
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

func bad(name, format string, args ...any) error {
	return &Error{Var: name, Msg: fmt.Sprintf(format, args...)}
}

// looksLikeConnString accepts what PostgreSQL's clients take: a postgres:// or postgresql:// URL,
// or keyword=value pairs. The pool checks the rest when it connects.
func looksLikeConnString(s string) bool {
	if scheme, _, ok := strings.Cut(s, "://"); ok {
		return scheme == "postgres" || scheme == "postgresql"
	}
	return strings.Contains(s, "=")
}

// Getenv is the shape of os.Getenv, injected so tests and the CLI control the environment.
type Getenv func(string) string

// Load reads the configuration. Flags given to serve are merged in by the caller through overrides,
// which win over the environment (keys are the variable names).
func Load(getenv Getenv, overrides map[string]string) (*Config, error) {
	get := func(name string) string {
		if v, ok := overrides[name]; ok {
			return v
		}
		return strings.TrimSpace(getenv(name))
	}
	c := &Config{MigrateOnStart: true, ShutdownTimeoutS: 20}

	var err error
	if c.Dev, err = parseBool(get, "UNLOCKD_DEV", false); err != nil {
		return nil, err
	}

	c.DatabaseURL = get("UNLOCKD_DATABASE_URL")
	if c.DatabaseURL == "" {
		c.DatabaseURL = get("DATABASE_URL")
	}
	if c.DatabaseURL == "" {
		return nil, bad("UNLOCKD_DATABASE_URL", "is required (a PostgreSQL connection string; DATABASE_URL is read as a fallback)")
	}
	c.DatabaseReadURL = get("UNLOCKD_DATABASE_READ_URL")
	if c.DatabaseReadURL != "" && !looksLikeConnString(c.DatabaseReadURL) {
		return nil, bad("UNLOCKD_DATABASE_READ_URL", "must be a PostgreSQL connection string (postgres://... or host=... dbname=...)")
	}

	c.Listen = orDefault(get("UNLOCKD_LISTEN"), "127.0.0.1:8080")
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return nil, bad("UNLOCKD_LISTEN", "%q is not host:port", c.Listen)
	}

	// Without a public origin, links point where the server listens (on this machine when it
	// listens on every address), so a development server on another port links to itself.
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	base := orDefault(get("UNLOCKD_BASE_URL"), "http://"+net.JoinHostPort(host, port))
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, bad("UNLOCKD_BASE_URL", "%q must be an absolute http(s) origin such as https://unlock.example.com", base)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c.BaseURL = u

	if c.SecretKey, err = loadSecret(get, "UNLOCKD_SECRET_KEY"); err != nil {
		return nil, err
	}
	switch {
	case len(c.SecretKey) == 0 && c.Dev:
		// A fixed development key: device cookies survive restarts of `make run`.
		c.SecretKey = []byte("unlockd-development-key-not-for-production-use")
	case len(c.SecretKey) == 0:
		return nil, bad("UNLOCKD_SECRET_KEY", "is required (at least 32 bytes; or set UNLOCKD_SECRET_KEY_FILE)")
	case len(c.SecretKey) < 32:
		return nil, bad("UNLOCKD_SECRET_KEY", "must be at least 32 bytes, got %d", len(c.SecretKey))
	}

	if c.PreviousKey, err = loadSecret(get, "UNLOCKD_SECRET_KEY_PREVIOUS"); err != nil {
		return nil, err
	}
	if len(c.PreviousKey) > 0 && len(c.PreviousKey) < 32 {
		return nil, bad("UNLOCKD_SECRET_KEY_PREVIOUS", "must be at least 32 bytes, got %d", len(c.PreviousKey))
	}

	if v := get("UNLOCKD_SMTP_URL"); v != "" {
		su, err := url.Parse(v)
		if err != nil || su.Scheme != "smtp" || su.Hostname() == "" || su.Port() == "" {
			return nil, bad("UNLOCKD_SMTP_URL", "must look like smtp://[user:pass@]host:port[?tls=none|starttls|tls]")
		}
		switch su.Query().Get("tls") {
		case "", "none", "starttls", "tls":
		default:
			return nil, bad("UNLOCKD_SMTP_URL", "tls must be none, starttls or tls, not %q", su.Query().Get("tls"))
		}
		c.SMTPURL = su
	}
	c.MailFrom = orDefault(get("UNLOCKD_MAIL_FROM"), "unlockd@localhost")
	if !strings.Contains(c.MailFrom, "@") || strings.ContainsAny(c.MailFrom, "\r\n") {
		return nil, bad("UNLOCKD_MAIL_FROM", "%q is not an email address", c.MailFrom)
	}

	if v := get("UNLOCKD_SMS_WEBHOOK_URL"); v != "" {
		wu, err := url.Parse(v)
		if err != nil || (wu.Scheme != "http" && wu.Scheme != "https") || wu.Host == "" {
			return nil, bad("UNLOCKD_SMS_WEBHOOK_URL", "must be an absolute http(s) URL")
		}
		c.SMSWebhookURL = wu
	}
	if c.SMSWebhookToken, err = loadSecretString(get, "UNLOCKD_SMS_WEBHOOK_TOKEN"); err != nil {
		return nil, err
	}

	if v := get("UNLOCKD_TRUSTED_PROXIES"); v != "" {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				addr, aerr := netip.ParseAddr(part)
				if aerr != nil {
					return nil, bad("UNLOCKD_TRUSTED_PROXIES", "%q is not a CIDR such as 10.0.0.0/8", part)
				}
				p = netip.PrefixFrom(addr, addr.BitLen())
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
	}

	// The documented default is true; an http base URL cannot carry Secure cookies, so there it is false.
	if c.CookieSecure, err = parseBool(get, "UNLOCKD_COOKIE_SECURE", c.BaseURL.Scheme == "https"); err != nil {
		return nil, err
	}
	if c.CookieSecure && c.BaseURL.Scheme != "https" {
		return nil, bad("UNLOCKD_COOKIE_SECURE", "is true but UNLOCKD_BASE_URL is not https: browsers would drop the cookies")
	}
	if !c.CookieSecure && c.BaseURL.Scheme == "https" {
		return nil, bad("UNLOCKD_COOKIE_SECURE", "may be false only with an http base URL")
	}

	c.LogFormat = orDefault(get("UNLOCKD_LOG_FORMAT"), "text")
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, bad("UNLOCKD_LOG_FORMAT", "must be text or json, not %q", c.LogFormat)
	}
	switch lv := orDefault(get("UNLOCKD_LOG_LEVEL"), "info"); lv {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		return nil, bad("UNLOCKD_LOG_LEVEL", "must be debug, info, warn or error, not %q", lv)
	}

	if v := get("UNLOCKD_WEBHOOK_URLS"); v != "" {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			wu, err := url.Parse(part)
			if err != nil || (wu.Scheme != "http" && wu.Scheme != "https") || wu.Host == "" {
				return nil, bad("UNLOCKD_WEBHOOK_URLS", "%q is not an absolute http(s) URL", part)
			}
			c.WebhookURLs = append(c.WebhookURLs, part)
		}
	}
	if c.WebhookSecret, err = loadSecret(get, "UNLOCKD_WEBHOOK_SECRET"); err != nil {
		return nil, err
	}
	if len(c.WebhookURLs) > 0 && len(c.WebhookSecret) < 32 {
		return nil, bad("UNLOCKD_WEBHOOK_SECRET", "must be at least 32 bytes when UNLOCKD_WEBHOOK_URLS is set (receivers check the signature with it)")
	}

	c.Timezone = time.UTC
	if z := get("UNLOCKD_TIMEZONE"); z != "" {
		loc, err := time.LoadLocation(z)
		if err != nil || z == "Local" {
			return nil, bad("UNLOCKD_TIMEZONE", "%q is not an IANA time zone such as Asia/Shanghai or UTC", z)
		}
		c.Timezone = loc
	}
	c.MetricsListen = get("UNLOCKD_METRICS_LISTEN")
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			return nil, bad("UNLOCKD_METRICS_LISTEN", "%q is not host:port", c.MetricsListen)
		}
	}
	if c.HashWorkers, err = parseInt(get, "UNLOCKD_HASH_WORKERS", 0, 0, 256); err != nil {
		return nil, err
	}
	if c.HashQueue, err = parseInt(get, "UNLOCKD_HASH_QUEUE", 64, 0, 100000); err != nil {
		return nil, err
	}
	if c.Directory, err = loadDirectory(get); err != nil {
		return nil, err
	}
	return c, nil
}

// loadDirectory reads the UNLOCKD_DIRECTORY_* variables. Without a URL there is no directory and
// the others are not read: accounts live in PostgreSQL only, as before.
func loadDirectory(get func(string) string) (*Directory, error) {
	raw := get("UNLOCKD_DIRECTORY_URL")
	if raw == "" {
		return nil, nil
	}
	d := &Directory{URL: raw, Kind: get("UNLOCKD_DIRECTORY_KIND"), BindDN: get("UNLOCKD_DIRECTORY_BIND_DN"),
		BaseDN: get("UNLOCKD_DIRECTORY_BASE_DN"), UserFilter: get("UNLOCKD_DIRECTORY_USER_FILTER"), CAFile: get("UNLOCKD_DIRECTORY_CA_FILE")}
	var err error
	if d.BindPassword, err = loadSecretString(get, "UNLOCKD_DIRECTORY_BIND_PASSWORD"); err != nil {
		return nil, err
	}
	if d.StartTLS, err = parseBool(get, "UNLOCKD_DIRECTORY_STARTTLS", false); err != nil {
		return nil, err
	}
	if v := get("UNLOCKD_DIRECTORY_SYNC_INTERVAL"); v != "" {
		if d.SyncInterval, err = time.ParseDuration(v); err != nil {
			return nil, bad("UNLOCKD_DIRECTORY_SYNC_INTERVAL", "must be a duration such as 1m or 30s, not %q", v)
		}
	}
	return d, nil
}

// loadSecret reads NAME or the file named by NAME_FILE, never both.
func loadSecret(get func(string) string, name string) ([]byte, error) {
	s, err := loadSecretString(get, name)
	return []byte(s), err
}

func loadSecretString(get func(string) string, name string) (string, error) {
	direct, file := get(name), get(name+"_FILE")
	if direct != "" && file != "" {
		return "", bad(name, "set either %s or %s_FILE, not both", name, name)
	}
	if file == "" {
		return direct, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", bad(name+"_FILE", "cannot read %s: %v", file, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func parseBool(get func(string) string, name string, def bool) (bool, error) {
	v := get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, bad(name, "must be true or false, not %q", v)
	}
	return b, nil
}

func parseInt(get func(string) string, name string, def, lo, hi int) (int, error) {
	v := get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, bad(name, "must be a whole number from %d to %d, not %q", lo, hi, v)
	}
	return n, nil
}
