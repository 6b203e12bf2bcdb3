package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/pgtest"
	"github.com/unlockd/unlockd/internal/secret"
)

// TestRejectionCPU measures the CPU the server spends on a refusal that checks no password (a
// frozen account with its right password, an unknown user), one at a time and in a flood of 16
// at a time, from /proc as TestSignInCPU does. Such a refusal waits as long as a recent real check
// took instead of hashing; it hashes a dummy only while too few real checks are recent, which the
// metrics tell (unlockd_rejections_total by cost). UNLOCKD_LOAD=1 runs it (make bench);
// UNLOCKD_BENCH_BINARY measures another build.
func TestRejectionCPU(t *testing.T) {
	if os.Getenv("UNLOCKD_LOAD") == "" {
		t.Skip("load test: set UNLOCKD_LOAD=1 (make bench)")
	}
	n := envInt(t, "UNLOCKD_BENCH_REJECTIONS", 320)
	dbURL := pgtest.NewDatabase(t, pgtest.Migrate)
	postmaster := postmasterPID(t, pgtest.SharedCluster(t).Dir)
	server := startServer(t, dbURL, "")
	base, srv := server.URL, server.Pid()
	createAccounts(t, dbURL, 1)
	freeze(t, dbURL, "frank")

	for _, class := range []struct{ name, user, password string }{
		{"frozen account, right password", "frank", password},
		{"unknown user", "nobody", "a wrong password"},
	} {
		for _, workers := range []int{1, 16} {
			before := rejectionCosts(t, base)
			cpu, pg, wall, statuses := rejectionCPU(t, base, class.user, class.password, srv, postmaster, n, workers)
			costs := costsSince(before, rejectionCosts(t, base))
			report(t, "refusals (%s), %d at a time: server %.2f ms CPU each, PostgreSQL %.2f ms; %.0f/s; answers %v; by cost %v",
				class.name, workers, ms(cpu)/float64(n), ms(pg)/float64(n), float64(n)/wall.Seconds(), statuses, costs)
		}
	}
}

// rejectionCPU posts n refused sign-ins from workers goroutines and returns the CPU of the server
// and of PostgreSQL meanwhile, the wall-clock time and the statuses answered.
func rejectionCPU(t *testing.T, base, user, pw string, server, postmaster, n, workers int) (srv, pg, wall time.Duration, statuses map[int]int) {
	t.Helper()
	var mu sync.Mutex
	statuses = map[int]int{}
	serverBefore, pgBefore := processCPU(t, server), clusterCPU(t, postmaster)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	body := url.Values{"username": {user}, "password": {pw}}.Encode()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: time.Minute}
			for next.Add(1) <= int64(n) {
				status := 0
				res, err := c.Post(base+"/login", "application/x-www-form-urlencoded", strings.NewReader(body))
				if err == nil {
					status = res.StatusCode
					res.Body.Close()
				}
				mu.Lock()
				statuses[status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall = time.Since(start)
	return processCPU(t, server) - serverBefore, clusterCPU(t, postmaster) - pgBefore, wall, statuses
}

// freeze puts a frozen account with the benchmark's password in the table.
func freeze(t *testing.T, dbURL, username string) {
	t.Helper()
	hash, err := secret.HashPassword(password, secret.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `INSERT INTO accounts (username, email, password_hash, state, state_reason)
		VALUES ($1, $1 || '@example.com', $2, 'frozen', 'benchmark')`, username, hash); err != nil {
		t.Fatal(err)
	}
}

// rejectionCosts reads unlockd_rejections_total by cost from the server's metrics (empty for a
// build without it).
func rejectionCosts(t *testing.T, base string) map[string]float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	costs := map[string]float64{}
	s := bufio.NewScanner(res.Body)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "unlockd_rejections_total{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `cost="`)
		cost, rest, _ := strings.Cut(rest, `"`)
		var v float64
		if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
			costs[cost] += v
		}
	}
	return costs
}

func costsSince(before, after map[string]float64) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if n := int(v - before[k]); n > 0 {
			d[k] = n
		}
	}
	return d
}
