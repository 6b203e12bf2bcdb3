package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/pgcluster"
	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/postgres"
)

// dbWork is what PostgreSQL did for a number of operations, from its statistics views. (Its count
// of transactions is left out: every statement outside one is one, the server's background loops'
// included, so it says little of an operation.)
type dbWork struct {
	statements int64 // pg_stat_statements calls, top level
	rowsIn     int64 // rows inserted, updated and deleted
	wal        int64 // bytes of WAL
}

func (w dbWork) per(n int) string {
	return fmt.Sprintf("%.1f statements, %.1f rows written, %.0f bytes of WAL",
		float64(w.statements)/float64(n), float64(w.rowsIn)/float64(n), float64(w.wal)/float64(n))
}

// meter reads dbWork of one database through its own connection; its own statements are left out.
type meter struct {
	t    *testing.T
	conn *pgx.Conn
}

func (m meter) read() dbWork {
	m.t.Helper()
	ctx := context.Background()
	// The statistics collector's counters reach the views when a backend reports them: flush ours
	// and wait for the others' (they report at the end of each transaction, at most every second).
	time.Sleep(1100 * time.Millisecond)
	var w dbWork
	var lsn string
	if err := m.conn.QueryRow(ctx, `SELECT coalesce((SELECT sum(calls) FROM pg_stat_statements s
			WHERE s.dbid = d.datid AND s.query NOT LIKE '%pg_stat%' AND s.query NOT LIKE '%pg_current_wal%'), 0)::bigint,
			d.tup_inserted + d.tup_updated + d.tup_deleted, pg_current_wal_lsn()::text
		FROM pg_stat_database d WHERE d.datname = current_database()`).Scan(&w.statements, &w.rowsIn, &lsn); err != nil {
		m.t.Fatal(err)
	}
	var bytes int64
	if err := m.conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff($1::pg_lsn, '0/0')::bigint`, lsn).Scan(&bytes); err != nil {
		m.t.Fatal(err)
	}
	w.wal = bytes
	return w
}

// measure runs op n times, one after another, and returns what PostgreSQL did for them.
func (m meter) measure(n int, op func(i int) error) dbWork {
	m.t.Helper()
	before := m.read()
	for i := range n {
		if err := op(i); err != nil {
			m.t.Fatalf("operation %d: %v", i, err)
		}
	}
	after := m.read()
	return dbWork{statements: after.statements - before.statements, rowsIn: after.rowsIn - before.rowsIn, wal: after.wal - before.wal}
}

// productionWAL sets the shared cluster's WAL settings as a production server has them (full page
// writes, fsync) and loads pg_stat_statements, restarting it; the test clusters run without them
// for speed. The settings are undone when the test ends.
func productionWAL(t *testing.T, c *pgcluster.Cluster, dbURL string) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`ALTER SYSTEM SET full_page_writes = on`, `ALTER SYSTEM SET fsync = on`,
		`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`} {
		if _, err := admin.Exec(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	admin.Close(ctx)
	restart(t, c)
	t.Cleanup(func() {
		if conn, err := pgx.Connect(ctx, dbURL); err == nil {
			_, _ = conn.Exec(ctx, `ALTER SYSTEM RESET ALL`)
			conn.Close(ctx)
			restart(t, c)
		}
	})
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		t.Fatal(err)
	}
}

// restart restarts the cluster's server with the options it was started with.
func restart(t *testing.T, c *pgcluster.Cluster) {
	t.Helper()
	bin, err := pgcluster.FindBin()
	if err != nil {
		t.Fatal(err)
	}
	// With a log file of its own, the new server does not hold this command's output open.
	args := []string{filepath.Join(bin, "pg_ctl"), "restart", "-w", "-m", "fast", "-D", filepath.Join(c.Dir, "data"),
		"-l", filepath.Join(c.Dir, "server.log")}
	if os.Geteuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl restart: %v\n%s", err, out)
	}
}

// TestCapacityPerOperation reports what PostgreSQL does for each operation people cause, through
// the real server over HTTP, with production WAL settings: a sign-in (right and wrong password),
// a self-service unlock with an emailed code, the delivery of one queued message. And the audit
// chain's ceiling: every audited write takes one database-wide lock, so audited writes per second
// have a limit, measured with 1, 4 and 8 writers (as processes, each its own pool).
//
// UNLOCKD_LOAD=1 runs it (make bench); UNLOCKD_BENCH_OPS sets how many of each (default 50).
func TestCapacityPerOperation(t *testing.T) {
	if os.Getenv("UNLOCKD_LOAD") == "" {
		t.Skip("load test: set UNLOCKD_LOAD=1 (make bench)")
	}
	n := envInt(t, "UNLOCKD_BENCH_OPS", 50)
	dbURL := pgtest.NewDatabase(t, pgtest.Migrate)
	productionWAL(t, pgtest.SharedCluster(t), dbURL)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	m := meter{t: t, conn: conn}

	// Each operation comes from a client of its own (X-Forwarded-For from the loopback proxy).
	t.Setenv("UNLOCKD_BENCH_SERVER_ENV", "UNLOCKD_TRUSTED_PROXIES=127.0.0.1/32 UNLOCKD_LOG_LEVEL=warn")
	base := startServer(t, dbURL, "").URL
	usernames := createAccounts(t, dbURL, 2*n)

	w := m.measure(n, func(i int) error { return signIn(base, usernames[i]) })
	report(t, "per sign-in (GET /login, POST /login, GET /account): %s", w.per(n))
	w = m.measure(n, func(i int) error { return wrongSignIn(base, usernames[n+i], clientIP(i)) })
	report(t, "per failed sign-in (GET /login, POST /login): %s", w.per(n))

	if _, err := conn.Exec(ctx, `UPDATE accounts SET state = 'locked', state_reason = 'too many failed sign-ins'
		WHERE username = ANY($1)`, usernames[:n]); err != nil {
		t.Fatal(err)
	}
	w = m.measure(n, func(i int) error { return unlockWithCode(base, conn, usernames[i], clientIP(n+i)) })
	report(t, "per self-service unlock (POST /unlock, the code queued, POST /unlock/verify): %s", w.per(n))

	// Delivery, in a database of its own where no server's worker competes: n messages queued,
	// then delivered as the worker does.
	mailDB := pgtest.NewDatabase(t, pgtest.Migrate)
	mailConn, err := pgx.Connect(ctx, mailDB)
	if err != nil {
		t.Fatal(err)
	}
	defer mailConn.Close(ctx)
	if _, err := mailConn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		t.Fatal(err)
	}
	if _, err := mailConn.Exec(ctx, `INSERT INTO outbox (channel, recipient, template, data)
		SELECT 'email', 'alice' || g || '@example.com', 'code', '{"Code": "123456"}' FROM generate_series(1, $1) g`, n); err != nil {
		t.Fatal(err)
	}
	m = meter{t: t, conn: mailConn}
	db, err := postgres.Open(ctx, mailDB, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	outbox := postgres.NewOutbox(db)
	w = m.measure(1, func(int) error {
		for sent := 0; sent < n; {
			batch, err := outbox.Claim(ctx, 10, time.Minute)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				return fmt.Errorf("%d messages delivered, want %d", sent, n)
			}
			for _, q := range batch {
				if err := outbox.MarkSent(ctx, q.ID); err != nil {
					return err
				}
				sent++
			}
		}
		return nil
	})
	report(t, "per message delivered (claimed in batches of 10, marked sent): %s", w.per(n))

	for _, writers := range []int{1, 4, 8} {
		rate := auditRate(t, dbURL, writers, 3*time.Second)
		report(t, "audit chain: %d writer(s), each its own pool: %.0f audited writes/s", writers, rate)
	}
}

// auditRate is how many audited writes per second writers concurrent writers make in d.
func auditRate(t *testing.T, dbURL string, writers int, d time.Duration) float64 {
	t.Helper()
	ctx := context.Background()
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for w := range writers {
		db, err := postgres.Open(ctx, dbURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		api := postgres.NewStores(db).API
		wg.Go(func() {
			actor := account.Actor{Name: fmt.Sprintf("token:writer%d", w), Client: "192.0.2.1"}
			for time.Now().Before(deadline) {
				if err := api.RecordAPIRequest(ctx, actor, "GET", "/api/v1/accounts/alice1", 200, time.Now()); err != nil {
					t.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	start := time.Now()
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// wrongSignIn is one new browser failing to sign in.
func wrongSignIn(base, username, ip string) error {
	c := newBrowser(ip)
	if err := get(c, base+"/login"); err != nil {
		return err
	}
	res, err := c.PostForm(base+"/login", url.Values{"username": {username}, "password": {"not the password"}})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /login with a wrong password: %s", res.Status)
	}
	return nil
}

// unlockWithCode is one owner unlocking with the code emailed to them, read from the outbox.
func unlockWithCode(base string, conn *pgx.Conn, username, ip string) error {
	c := newBrowser(ip)
	if err := get(c, base+"/unlock"); err != nil {
		return err
	}
	res, err := c.PostForm(base+"/unlock", url.Values{"username": {username}, "method": {"email"}})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	var data map[string]string
	if err := conn.QueryRow(context.Background(), `SELECT data FROM outbox WHERE recipient = $1 AND template = 'code'
		ORDER BY id DESC LIMIT 1`, username+"@example.com").Scan(&data); err != nil {
		return fmt.Errorf("the code for %s: %w", username, err)
	}
	res, err = c.PostForm(base+"/unlock/verify", url.Values{"code": {data["Code"]}})
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var state string
	if err := conn.QueryRow(context.Background(), `SELECT state FROM accounts WHERE username = $1`, username).Scan(&state); err != nil {
		return err
	}
	if state != "active" {
		return fmt.Errorf("after the code %s is %s (%s): %.300s", username, state, res.Status, body)
	}
	return nil
}

// newBrowser is a new browser at the address ip, which the server learns from X-Forwarded-For
// (it trusts the loopback proxy): each operation comes from a client of its own, as people's do,
// so that no per-client limit is what is measured.
func newBrowser(ip string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, Transport: forwardedFor{ip}}
}

type forwardedFor struct{ ip string }

func (f forwardedFor) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Forwarded-For", f.ip)
	return http.DefaultTransport.RoundTrip(r)
}

// clientIP is the i-th client's address, in a documentation range.
func clientIP(i int) string { return fmt.Sprintf("198.51.%d.%d", 100+i/250, 1+i%250) }

func get(c *http.Client, u string) error {
	res, err := c.Get(u)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return nil
}
