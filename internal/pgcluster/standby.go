package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Addr is the cluster's TCP address (127.0.0.1:Port), for connection strings that name several
// hosts.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)) }

// NewStandby makes a streaming standby of the running cluster c in dir, listening on port: a base
// backup of c (pg_basebackup -R, which also writes how to follow c; after a fast checkpoint, not
// a spread one that could take minutes), started as a hot standby that answers reads and refuses
// writes until it is promoted. Both clusters need a TCP port.
func (c *Cluster) NewStandby(ctx context.Context, dir string, port int) (*Cluster, error) {
	if c.Port == 0 || port == 0 {
		return nil, errors.New("pgcluster: streaming replication needs a TCP port on both clusters")
	}
	s, err := New(dir, port)
	if err != nil {
		return nil, err
	}
	s.Settings = maps.Clone(c.Settings)
	for _, d := range []string{s.Dir, s.SocketDir(), s.dataDir()} {
		if err := s.mkdirOwned(d); err != nil {
			return nil, err
		}
	}
	if out, err := s.run(ctx, "pg_basebackup", "-D", s.dataDir(), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.Port), "-U", "postgres"); err != nil {
		return nil, fmt.Errorf("pg_basebackup: %w: %s", err, out)
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// RequireSynchronousStandby makes every commit on c wait until a standby has it
// (synchronous_standby_names = '*'), and returns once a standby streams synchronously. From then
// on a commit that c confirmed survives c's loss when that standby is promoted. c's
// synchronous_commit must not be off (see Settings).
func (c *Cluster) RequireSynchronousStandby(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{`ALTER SYSTEM SET synchronous_standby_names = '*'`, `SELECT pg_reload_conf()`} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	for {
		var sync bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync')`).Scan(&sync)
		if err != nil {
			return fmt.Errorf("read pg_stat_replication: %w", err)
		}
		if sync {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no synchronous standby: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Promote makes a standby the primary (pg_ctl promote) and returns once it accepts writes.
func (c *Cluster) Promote(ctx context.Context) error {
	if out, err := c.run(ctx, "pg_ctl", "promote", "-w", "-t", "60", "-D", c.dataDir()); err != nil {
		return fmt.Errorf("pg_ctl promote: %w: %s", err, out)
	}
	return nil
}

// Crash stops the server the way a failure does (immediate mode: no checkpoint, every session
// cut at once); its data is kept and recovers at the next Start.
func (c *Cluster) Crash() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := c.run(ctx, "pg_ctl", "stop", "-w", "-m", "immediate", "-D", c.dataDir()); err != nil {
		return fmt.Errorf("pg_ctl stop -m immediate: %w: %s", err, out)
	}
	c.started = false
	return nil
}

// ServerLog is what the server has logged so far, for a test that failed.
func (c *Cluster) ServerLog() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "server.log"))
	return string(b)
}
