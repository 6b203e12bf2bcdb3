package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
)

// Two server processes on one database behave as one: 50 wrong passwords spread over both lock the
// account at exactly the threshold, and the right password then gets no session from either.
func TestTwoServersShareTheLockout(t *testing.T) {
	t.Parallel()
	a := newHarness(t)
	b := newHarnessOn(t, a.dbURL)
	a.addAccount("alice")
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		h := a
		if i%2 == 1 {
			h = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.signIn(h.client(), "alice", fmt.Sprintf("wrong password number %d", i))
		}()
	}
	wg.Wait()
	acc, err := a.accounts.Accounts.AccountByLogin(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if acc.State != account.StateLockedTemporarily || acc.FailedAttempts < 10 {
		t.Fatalf("state %s with %d failures, want locked_temporarily", acc.State, acc.FailedAttempts)
	}
	var checked int
	a.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE details LIKE '%"reason":"wrong_password"%'`).Scan(&checked)
	if checked != 10 {
		t.Fatalf("%d passwords were checked and found wrong; the threshold is 10", checked)
	}
	for _, h := range []*harness{a, b} {
		c := h.client()
		if res := h.signIn(c, "alice", goodPassword); res.status != http.StatusOK || !strings.Contains(res.body, `class="notice error"`) {
			t.Fatalf("right password after the lock: status %d", res.status)
		}
		if res := h.get(c, "/account"); res.status != http.StatusSeeOther {
			t.Fatal("a session was issued after the lock")
		}
	}
}

func TestSignInSetsDeviceCookie(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	res := h.signIn(h.client(), "alice", goodPassword)
	var device string
	for _, line := range res.header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "unlockd_device=") {
			device = line
		}
	}
	if device == "" || !strings.Contains(device, "HttpOnly") || !strings.Contains(device, "SameSite=Lax") {
		t.Fatalf("device cookie: %q", device)
	}
}

func TestSprayingGets429(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := h.client()
	var last response
	for i := 0; i <= account.ClientAccountLimit; i++ {
		last = h.signIn(c, fmt.Sprintf("sprayed%d", i), "Winter2026!")
	}
	if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" {
		t.Fatalf("after failing on %d accounts: status %d, want 429 with Retry-After", account.ClientAccountLimit, last.status)
	}
	metrics := h.get(c, "/metrics")
	for _, want := range []string{`unlockd_throttled_total{where="sign_in"}`, `unlockd_sign_ins_total{result="unknown"}`, "unlockd_hash_queue_wait_seconds"} {
		if !strings.Contains(metrics.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestLockIsCountedInMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	for i := 0; i < 10; i++ {
		h.signIn(h.client(), "alice", fmt.Sprintf("wrong %d", i))
	}
	m := h.get(h.client(), "/metrics")
	if !strings.Contains(m.body, `unlockd_locks_total{cause="lock_temporarily"} 1`) {
		t.Fatalf("no lock counted:\n%s", grepLines(m.body, "unlockd_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
