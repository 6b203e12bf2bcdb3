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
