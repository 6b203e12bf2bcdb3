package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/secret"
)

// The load tests run under `make bench` (UNLOCKD_LOAD=1): they take tens of seconds and measure
// this machine rather than check behaviour.
func needLoad(t *testing.T) {
	if os.Getenv("UNLOCKD_LOAD") == "" {
		t.Skip("load test: set UNLOCKD_LOAD=1 (make bench)")
	}
}

// rawHashRate measures argon2id verifications per second with all cores busy, no HTTP or database.
func rawHashRate(t *testing.T, d time.Duration) float64 {
	hash, err := secret.HashPassword(goodPassword, secret.DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if ok, _, err := secret.VerifyPassword(goodPassword, hash, secret.DefaultParams); !ok || err != nil {
					t.Error("raw verify failed", err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// TestLoadSignInThroughput compares successful sign-ins per second through HTTP (form post,
// password check, session written to PostgreSQL) with raw argon2id verifications per second on the
// same cores. The hashing is the work; everything around it should cost little.
func TestLoadSignInThroughput(t *testing.T) {
	needLoad(t)
	h := newHarness(t, withHasher(secret.NewHasher(secret.DefaultParams, runtime.NumCPU(), 64, 10*time.Second)))
	h.addAccount("alice")
	const d = 10 * time.Second

	// Warm up the pool and the page templates.
	for range 3 {
		h.signIn(h.client(), "alice", goodPassword)
	}
	var ok, other atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range 2 * runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			body := url.Values{"username": {"alice"}, "password": {goodPassword}}.Encode()
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest(http.MethodPost, h.url+"/login", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				res, err := c.Do(req)
				if err != nil {
					other.Add(1)
					continue
				}
				res.Body.Close()
				if res.StatusCode == http.StatusSeeOther {
					ok.Add(1)
				} else {
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	httpRate := float64(ok.Load()) / time.Since(start).Seconds()
	raw := rawHashRate(t, d)
	ratio := httpRate / raw
	report(t, "sign-ins through HTTP: %.1f/s (%d ok, %d other); raw argon2id m=19456 t=2 p=1: %.1f/s on %d cores; ratio %.2f",
		httpRate, ok.Load(), other.Load(), raw, runtime.NumCPU(), ratio)
	if other.Load() > 0 {
		t.Errorf("%d sign-ins did not succeed", other.Load())
	}
	if ratio < 0.85 {
		t.Errorf("sign-in throughput is %.2f of raw hashing, want at least 0.85", ratio)
	}
}

// TestLoadFiveHundredConcurrentSignIns: a burst of 500 sign-ins is bounded by the hashing limit:
// some wait, the rest get 503 with Retry-After, and memory stays within a few hundred MB.
func TestLoadFiveHundredConcurrentSignIns(t *testing.T) {
	needLoad(t)
	h := newHarness(t, withHasher(secret.NewHasher(secret.DefaultParams, runtime.NumCPU(), 64, 5*time.Second)))
	h.addAccount("alice")
	runtime.GC()
	before := peakRSS()
	var wg sync.WaitGroup
	var ok, busy, other atomic.Int64
	start := make(chan struct{})
	tr := &http.Transport{MaxIdleConnsPerHost: 500}
	c := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			pw := goodPassword
			if i%2 == 1 {
				pw = "a wrong password " + strconv.Itoa(i)
			}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, h.url+"/login",
				strings.NewReader(url.Values{"username": {"alice"}, "password": {pw}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := c.Do(req)
			if err != nil {
				other.Add(1)
				return
			}
			res.Body.Close()
			switch res.StatusCode {
			case http.StatusSeeOther, http.StatusOK:
				ok.Add(1)
			case http.StatusServiceUnavailable:
				if res.Header.Get("Retry-After") == "" {
					t.Error("503 without Retry-After")
				}
				busy.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	peak := peakRSS()
	report(t, "500 concurrent sign-ins: %d answered, %d busy (503), %d other in %v; peak RSS %d MB (before %d MB)",
		ok.Load(), busy.Load(), other.Load(), time.Since(t0).Round(time.Millisecond), peak>>20, before>>20)
	if other.Load() > 0 {
		t.Errorf("%d requests failed otherwise", other.Load())
	}
	if peak > 400<<20 {
		t.Errorf("peak RSS %d MB, want under 400 MB", peak>>20)
	}
}

// peakRSS reads the process's high-water resident set size.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func report(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	fmt.Println("LOAD:", msg)
}

// loadSignIns posts sign-ins from `workers` goroutines for d, each request built by next, and
// returns the rate and the status counts.
func loadSignIns(h *harness, d time.Duration, workers int, next func(i int64) (url.Values, string)) (float64, map[int]int64) {
	var seq atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int64{}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			local := map[int]int64{}
			for time.Now().Before(deadline) {
				form, xff := next(seq.Add(1))
				req, _ := http.NewRequest(http.MethodPost, h.url+"/login", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if xff != "" {
					req.Header.Set("X-Forwarded-For", xff)
				}
				res, err := c.Do(req)
				if err != nil {
					local[0]++
					continue
				}
				res.Body.Close()
				local[res.StatusCode]++
			}
			mu.Lock()
			for k, v := range local {
				statuses[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	var total int64
	for _, v := range statuses {
		total += v
	}
	return float64(total) / time.Since(start).Seconds(), statuses
}

// TestLoadFailedSignInsWithAudit measures failed sign-ins per second with every one written to
// the hash-chained audit log: on one account (threshold raised so it never locks), across 1,000
// accounts (from many clients behind a trusted proxy, as a credential-stuffing wave arrives), and
// rejections per second for a locked account.
func TestLoadFailedSignInsWithAudit(t *testing.T) {
	needLoad(t)
	h := newHarness(t, withHasher(secret.NewHasher(secret.DefaultParams, runtime.NumCPU(), 64, 10*time.Second)),
		withEnv("UNLOCKD_TRUSTED_PROXIES", "127.0.0.1/32"))
	ctx := context.Background()
	if _, err := h.accounts.Staff.SetPolicy(ctx, map[string]string{"lockout.threshold": "1000", "lockout.ignore_repeated_password": "false"}, testActor); err != nil {
		t.Fatal(err)
	}
	h.addAccount("alice")
	hash, _ := secret.HashPassword(goodPassword, secret.DefaultParams)
	if _, err := h.db.Pool.Exec(ctx, `INSERT INTO accounts (username, email, password_hash)
		SELECT 'user' || g, 'user' || g || '@example.com', $1 FROM generate_series(1, 1000) g`, hash); err != nil {
		t.Fatal(err)
	}
	const d = 8 * time.Second
	workers := 2 * runtime.NumCPU()
	rate, st := loadSignIns(h, d, workers, func(i int64) (url.Values, string) {
		return url.Values{"username": {"alice"}, "password": {fmt.Sprintf("wrong %d", i)}}, ""
	})
	report(t, "failed sign-ins on one account, audited: %.1f/s %v", rate, st)
	rate, st = loadSignIns(h, d, workers, func(i int64) (url.Values, string) {
		return url.Values{"username": {fmt.Sprintf("user%d", i%1000+1)}, "password": {"Spring2026!"}},
			fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256)
	})
	report(t, "failed sign-ins across 1,000 accounts, audited: %.1f/s %v", rate, st)

	if _, err := h.accounts.Staff.Freeze(ctx, "alice", "load test", "", nil, testActor); err != nil {
		t.Fatal(err)
	}
	rate, st = loadSignIns(h, d, workers, func(i int64) (url.Values, string) {
		return url.Values{"username": {"alice"}, "password": {goodPassword}}, ""
	})
	report(t, "rejections for a locked account (each waits a recent check's time, without hashing): %.1f/s %v", rate, st)
	var events int64
	h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&events)
	n, err := postgresVerify(h)
	report(t, "audit events written: %d; chain verified: %d events, %v", events, n, err)
	if err != nil {
		t.Fatal(err)
	}
}

func postgresVerify(h *harness) (int64, error) {
	return postgres.NewAuditStore(h.db).Verify(context.Background())
}
