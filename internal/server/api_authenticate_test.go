package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/servetest"
)

// The end user's address the CRM sends is parsed as an address: anything else is refused with the
// contract's error shape and leaves no trace; a valid one is stored in its normal form.
func TestAuthenticateRefusesAClientIPThatIsNotAnAddress(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	tok := h.token("crm", account.RoleService)
	ctx := context.Background()
	for _, bad := range []string{strings.Repeat("1", 60000), "not-an-address", `=HYPERLINK(\"http://evil.example\",\"x\")`,
		"203.0.113.7, 198.51.100.1", "203.0.113.256", "203.0.113.7:8080"} {
		status, body := h.api("POST", "/authenticate", tok, `{"username":"alice","password":"wrong one","client_ip":"`+bad+`"}`)
		e, _ := body["error"].(map[string]any)
		if status != http.StatusBadRequest || e["code"] != "invalid" || !strings.Contains(e["message"].(string), "client_ip") {
			t.Errorf("client_ip %.40q: %d %v, want 400 naming client_ip", bad, status, body)
		}
		var n int
		probe := bad[:min(len(bad), 20)]
		if err := h.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit_events WHERE client_ip LIKE '%' || $1 || '%' OR details LIKE '%' || $1 || '%')
			+ (SELECT count(*) FROM client_failures WHERE client LIKE '%' || $1 || '%')`, strings.ReplaceAll(probe, `\"`, `"`)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("client_ip %.40q was recorded %d times", bad, n)
		}
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(ctx, "alice"); a.FailedAttempts != 0 {
		t.Fatalf("refused calls counted %d failures", a.FailedAttempts)
	}
	for given, stored := range map[string]string{" 203.0.113.9 ": "203.0.113.9", "::ffff:198.51.100.4": "198.51.100.4", "2001:DB8::0:1": "2001:db8::1"} {
		if status, body := h.api("POST", "/authenticate", tok, `{"username":"alice","password":"wrong one","client_ip":"`+given+`"}`); status != http.StatusOK {
			t.Fatalf("client_ip %q: %d %v", given, status, body)
		}
		var n int
		h.db.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'sign_in.failed' AND client_ip = $1`, stored).Scan(&n)
		if n != 1 {
			t.Errorf("client_ip %q: %d sign-in events from %q, want 1", given, n, stored)
		}
	}
}

// A maintenance window pauses the CRM's password checks as it pauses the sign-in page: 503 with
// Retry-After and the contract's error shape, and the attempt is not counted.
func TestAuthenticatePausesDuringMaintenance(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	tok := h.token("crm", account.RoleService)
	now := time.Now()
	if err := h.accounts.Maintenance.ScheduleMaintenance(context.Background(), account.Maintenance{StartsAt: now.Add(-time.Minute),
		EndsAt: now.Add(time.Hour), MessageEN: "The CRM is being upgraded.", MessageZH: "CRM 正在升级。"}, testActor); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", h.url+"/api/v1/authenticate", strings.NewReader(`{"username":"alice","password":"`+goodPassword+`","client_ip":"203.0.113.9"}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("authenticate during maintenance: %d, Retry-After %q, %s", res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Content-Type"))
	}
	status, body := h.api("POST", "/authenticate", tok, `{"username":"alice","password":"wrong","client_ip":"203.0.113.9"}`)
	if e, ok := body["error"].(map[string]any); status != http.StatusServiceUnavailable || !ok || e["code"] != "maintenance" || e["message"] != "The CRM is being upgraded." {
		t.Fatalf("authenticate during maintenance: %d %v", status, body)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.FailedAttempts != 0 || a.LastSignInAt != nil {
		t.Fatalf("an attempt during maintenance was counted: %d failures, last sign-in %v", a.FailedAttempts, a.LastSignInAt)
	}
}

// The bounded hasher's 503 is a designed answer, not a failure: the page and the API say busy with
// Retry-After, and the log says so at WARN with stable keys, never at ERROR.
func TestHashingSaturationIsAWarningNotAnError(t *testing.T) {
	var logs servetest.SyncBuffer
	slow := secret.Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHarness(t, withHasher(secret.NewHasher(slow, 1, 1, 20*time.Millisecond)), withLog(&logs))
	h.addAccount("alice")
	tok := h.token("crm", account.RoleService)
	type answer struct {
		status     int
		retryAfter string
		code       any
	}
	answers := make(chan answer, 24)
	done := make(chan struct{})
	for i := 0; i < 24; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			if i%2 == 0 {
				res := h.signIn(h.client(), "alice", "wrong password here")
				answers <- answer{res.status, res.header.Get("Retry-After"), nil}
				return
			}
			req, _ := http.NewRequest("POST", h.url+"/api/v1/authenticate", strings.NewReader(`{"username":"alice","password":"wrong password here","client_ip":"203.0.113.9"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			answers <- answer{res.StatusCode, res.Header.Get("Retry-After"), "api"}
		}()
	}
	for i := 0; i < 24; i++ {
		<-done
	}
	close(answers)
	busy := map[any]int{}
	for a := range answers {
		if a.status == http.StatusServiceUnavailable {
			busy[a.code]++
			if a.retryAfter == "" {
				t.Errorf("503 without Retry-After")
			}
		} else if a.status != http.StatusOK {
			t.Errorf("unexpected status %d", a.status)
		}
	}
	if busy[nil] == 0 || busy["api"] == 0 {
		t.Fatalf("busy answers: %d pages, %d API; want some of each", busy[nil], busy["api"])
	}
	out := logs.String()
	if strings.Contains(out, "level=ERROR") {
		t.Fatalf("the designed 503 is logged at ERROR:\n%s", out)
	}
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "status=503") || !strings.Contains(out, "code=busy") {
		t.Fatalf("the designed 503 is not logged at WARN with its code:\n%s", out)
	}
}
