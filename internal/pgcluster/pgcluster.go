// Package pgcluster runs a PostgreSQL server of its own from a data directory: the persistent
// development cluster of `unlockd dev` under .data/, and the throwaway clusters that the test helper
// pgtest starts. It is linked into the production binary, so it must never import testing.
// When the process runs as root the server runs as the postgres user, because PostgreSQL refuses root.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoServer means the PostgreSQL server binaries are not installed.
var ErrNoServer = errors.New("PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package")

// Cluster is a PostgreSQL server started from a data directory, listening on a Unix socket only
// (and, when Port is set, on 127.0.0.1).
type Cluster struct {
	Dir  string // holds data/ and the socket
	Port int
	// Settings are server settings (name: value) over the defaults of Start, which favour speed
	// over durability (fsync=off, synchronous_commit=off); a primary whose commits must wait for a
	// synchronous standby sets synchronous_commit=on.
	Settings map[string]string
	bin      string
	asUser   string // run server commands as this user ("" = ourselves)
	started  bool
}

// FindBin returns the directory holding initdb and pg_ctl: PATH first, then Debian's versioned
// directories (newest first). A pg_ctl on PATH that links into the server's own directory gives that
// directory, which also holds the tools PATH may lack (pg_basebackup).
func FindBin() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			if _, err := os.Stat(filepath.Join(filepath.Dir(real), "initdb")); err == nil {
				return filepath.Dir(real), nil
			}
		}
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoServer
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// New prepares a cluster in dir (created when missing). port 0 means Unix socket only.
func New(dir string, port int) (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, Port: port, bin: bin}
	if os.Geteuid() == 0 {
		c.asUser = "postgres"
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root needs the postgres system user (from the postgresql package): %w", err)
		}
	}
	return c, nil
}

// SocketDir is where the server's Unix socket lives. Kept short: socket paths are limited to ~100 bytes.
func (c *Cluster) SocketDir() string { return filepath.Join(c.Dir, "run") }

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

// URL is a connection string for database name on this cluster.
func (c *Cluster) URL(dbname string) string {
	if c.Port != 0 {
		// The socket's name carries the port.
		return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", dbname, c.SocketDir(), c.Port)
	}
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&sslmode=disable", dbname, c.SocketDir())
}

// Start initialises the data directory when needed and starts the server, waiting until it accepts
// connections. Starting a cluster whose server already runs is fine (the dev cluster across restarts).
func (c *Cluster) Start(ctx context.Context) error {
	for _, d := range []string{c.Dir, c.SocketDir()} {
		if err := c.mkdirOwned(d); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.mkdirOwned(c.dataDir()); err != nil {
			return err
		}
		if out, err := c.run(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
			"--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
			return fmt.Errorf("initdb: %w: %s", err, out)
		}
	}
	if c.Running(ctx) {
		c.started = true
		return nil
	}
	listen := "''"
	if c.Port != 0 {
		listen = "127.0.0.1"
	}
	port := c.Port
	if port == 0 {
		port = 5432 // only names the socket file; no TCP listener
	}
	opts := fmt.Sprintf("-k %s -c listen_addresses=%s -p %d%s", c.SocketDir(), listen, port, c.settingFlags())
	if out, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.dataDir(), "-l",
		filepath.Join(c.Dir, "server.log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %w: %s\n%s", err, out, tail(log, 2000))
	}
	c.started = true
	return nil
}

// defaultSettings are the server settings of every cluster unless Settings says otherwise.
var defaultSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"max_connections":    "200",
	"shared_buffers":     "128MB",
}

// settingFlags are the defaults and Settings as server flags, in a stable order.
func (c *Cluster) settingFlags() string {
	merged := map[string]string{}
	for k, v := range defaultSettings {
		merged[k] = v
	}
	for k, v := range c.Settings {
		merged[k] = v
	}
	names := make([]string, 0, len(merged))
	for k := range merged {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, " -c %s=%s", k, merged[k])
	}
	return b.String()
}

// Running reports whether a server runs from the cluster's data directory, whoever started it.
func (c *Cluster) Running(ctx context.Context) bool {
	_, err := c.run(ctx, "pg_ctl", "status", "-D", c.dataDir())
	return err == nil
}

// Stop stops the server (fast mode: sessions are disconnected, data is kept).
func (c *Cluster) Stop() error {
	if !c.started {
		return nil
	}
	c.started = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "stop", "-w", "-m", "fast", "-D", c.dataDir()); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, out)
	}
	return nil
}

// Destroy stops the server running from the directory, whoever started it (a cluster left behind by
// a killed process is destroyed this way), and removes the directory.
func (c *Cluster) Destroy() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !c.started && c.Running(ctx) {
		c.started = true
	}
	if err := c.Stop(); err != nil {
		// Still try to remove the files; the error says why the server may linger.
		_ = os.RemoveAll(c.Dir)
		return err
	}
	return os.RemoveAll(c.Dir)
}

// CreateDatabase creates database name, copied from template unless template is "".
func (c *Cluster) CreateDatabase(ctx context.Context, name, template string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// EnsureDatabase creates database name unless it exists.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	return c.CreateDatabase(ctx, name, "")
}

func (c *Cluster) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func (c *Cluster) mkdirOwned(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if c.asUser == "" {
		return nil
	}
	u, err := user.Lookup(c.asUser)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return err
	}
	// The postgres user must be able to reach the directory through its parents.
	for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return err
			}
		}
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
