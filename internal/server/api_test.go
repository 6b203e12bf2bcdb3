package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
)

func (h *harness) token(name string, role account.Role) string {
	h.t.Helper()
	tok, _, err := h.accounts.Tokens.CreateToken(context.Background(), name, role, testActor)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) api(method, path, token, body string) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.url+"/api/v1"+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// Every route, with each role and without a token: exactly the roles of CONTRACT.md get through.
func TestAPIRoleMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	tokens := map[string]string{"none": "", "bogus": "ulk_not-a-real-token-at-all-0000000000000000"}
	for _, r := range []account.Role{account.RoleHelpdesk, account.RoleAuditor, account.RoleAdmin, account.RoleService} {
		tokens[string(r)] = h.token("t-"+string(r), r)
	}
	routes := []struct {
		method, path, body string
		allowed            []string
	}{
		{"GET", "/accounts/alice", "", []string{"helpdesk", "auditor", "admin"}},
		{"PUT", "/accounts/bob", `{"email":"bob@example.com","display_name":"Bob"}`, []string{"service", "admin"}},
		{"POST", "/accounts/alice/unlock", `{"reason":"api test"}`, []string{"helpdesk", "admin"}},
		{"POST", "/accounts/alice/lock", `{"reason":"api test","until":null}`, []string{"admin"}},
		{"POST", "/authenticate", `{"username":"nobody","password":"x","client_ip":"198.51.100.7"}`, []string{"service"}},
		{"GET", "/audit?limit=5", "", []string{"auditor", "admin"}},
	}
	for _, rt := range routes {
		for who, tok := range tokens {
			status, body := h.api(rt.method, rt.path, tok, rt.body)
			allowed := false
			for _, a := range rt.allowed {
				allowed = allowed || a == who
			}
			switch {
			case who == "none" || who == "bogus":
				if status != http.StatusUnauthorized {
					t.Errorf("%s %s without a valid token: %d, want 401", rt.method, rt.path, status)
				}
			case !allowed:
				if status != http.StatusForbidden {
					t.Errorf("%s %s as %s: %d, want 403", rt.method, rt.path, who, status)
				}
			default:
				if status >= 300 && !(status == http.StatusBadRequest && strings.Contains(rt.path, "unlock")) {
					t.Errorf("%s %s as %s: %d %v", rt.method, rt.path, who, status, body)
				}
			}
			if status >= 400 {
				if e, ok := body["error"].(map[string]any); !ok || e["code"] == nil || e["message"] == nil {
					t.Errorf("%s %s as %s: error body %v is not the contract's shape", rt.method, rt.path, who, body)
				}
			}
		}
	}
	if status, _ := h.api("GET", "/accounts/nobody", tokens["helpdesk"], ""); status != http.StatusNotFound {
		t.Errorf("unknown account: %d, want 404", status)
	}
	// Every call is audited with the token's name.
	status, body := h.api("GET", "/audit?action=api.request&limit=1000", tokens["admin"], "")
	if status != http.StatusOK || len(body["events"].([]any)) < 20 || !strings.Contains(fmt.Sprint(body), "token:t-service") {
		t.Fatalf("API calls not audited: %d events", len(body["events"].([]any)))
	}
}

func TestAPIPutIsIdempotentAndValidates(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	tok := h.token("crm", account.RoleService)
	body := `{"email":"zhang.san@example.cn","phone":"+86 139 0000 1111","display_name":"张三","role":"user"}`
	if status, out := h.api("PUT", "/accounts/zhang.san", tok, body); status != http.StatusCreated || out["phone"] != "+8613900001111" {
		t.Fatalf("create: %d %v", status, out)
	}
	if status, _ := h.api("PUT", "/accounts/zhang.san", tok, body); status != http.StatusOK {
		t.Fatalf("repeat: %d, want 200", status)
	}
	off := `{"email":"zhang.san@example.cn","active":false}`
	if status, out := h.api("PUT", "/accounts/zhang.san", tok, off); status != http.StatusOK || out["state"] != "disabled" {
		t.Fatalf("deactivate: %d %v", status, out)
	}
	if status, out := h.api("PUT", "/accounts/zhang.san", tok, off); status != http.StatusOK || out["state"] != "disabled" {
		t.Fatalf("deactivate again: %d %v", status, out)
	}
	if status, out := h.api("PUT", "/accounts/zhang.san", tok, `{"email":"zhang.san@example.cn","active":true}`); status != http.StatusOK || out["state"] != "active" {
		t.Fatalf("reactivate: %d %v", status, out)
	}
	for _, bad := range []string{`{"email":"nope"}`, `{"email":"a@b.cn","role":"root"}`, `{"email":"a@b.cn","password_hash":"plaintext"}`, `{"email":"a@b.cn","extra":1}`, `not json`} {
		if status, _ := h.api("PUT", "/accounts/li.si", tok, bad); status != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, status)
		}
	}
}

// The CRM's password checks and the sign-in page share one lock.
func TestAPIAuthenticateSharesTheLockWithTheWebSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	tok := h.token("crm", account.RoleService)
	for i := 0; i < 5; i++ {
		h.signIn(h.client(), "alice", fmt.Sprintf("web guess %d", i))
		if _, out := h.api("POST", "/authenticate", tok, fmt.Sprintf(`{"username":"alice","password":"crm guess %d","client_ip":"203.0.113.%d"}`, i, i)); out["result"] != "denied" {
			t.Fatalf("wrong password via API: %v", out)
		}
	}
	a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice")
	if a.State != account.StateLockedTemporarily {
		t.Fatalf("10 failures over both ways: %s with %d failures", a.State, a.FailedAttempts)
	}
	_, out := h.api("POST", "/authenticate", tok, `{"username":"alice","password":"`+goodPassword+`","client_ip":"203.0.113.9"}`)
	if out["result"] != "denied" || !strings.HasPrefix(fmt.Sprint(out["unlock_url"]), h.url) {
		t.Fatalf("right password on a locked account via API: %v", out)
	}
	_, unknown := h.api("POST", "/authenticate", tok, `{"username":"nobody","password":"x","client_ip":"203.0.113.9"}`)
	if fmt.Sprint(unknown) != fmt.Sprint(out) {
		t.Fatalf("unknown user %v and locked user %v answer differently", unknown, out)
	}
	h.db.Pool.Exec(context.Background(), `UPDATE accounts SET state = 'active', locked_until = NULL, failed_attempts = 0`)
	if _, out := h.api("POST", "/authenticate", tok, `{"username":"ALICE","password":"`+goodPassword+`","client_ip":"203.0.113.9"}`); out["result"] != "allowed" {
		t.Fatalf("right password: %v", out)
	}
}

// The OpenAPI description and the routes cannot drift apart.
func TestOpenAPIDescribesExactlyTheRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	status, doc := h.api("GET", "/openapi.json", "", "")
	if status != http.StatusOK || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %d", status)
	}
	documented := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" /api/v1"+path] = true
			}
		}
	}
	routed := map[string]bool{}
	err := chi.Walk(h.srv.Routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/v1/") {
			routed[method+" "+strings.TrimSuffix(route, "/")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing, extra []string
	for k := range routed {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 || len(routed) == 0 {
		t.Fatalf("routes without documentation: %v; documented but not routed: %v", missing, extra)
	}
}

func TestEventsAreQueuedForWebhooks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv("UNLOCKD_WEBHOOK_URLS", "https://crm.example.com/hooks/unlockd"),
		withEnv("UNLOCKD_WEBHOOK_SECRET", strings.Repeat("w", 32)))
	h.addAccount("alice")
	h.lock("alice")
	if _, err := h.accounts.Staff.Unlock(context.Background(), "alice", "verified", testActor); err != nil {
		t.Fatal(err)
	}
	if _, err := h.accounts.Staff.Freeze(context.Background(), "alice", "review", "", nil, testActor); err != nil {
		t.Fatal(err)
	}
	h.post(h.client(), "/help/request", url.Values{"username": {"alice"}})
	rows, err := h.db.Pool.Query(context.Background(), `SELECT data->>'event' FROM outbox WHERE channel = 'webhook' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for rows.Next() {
		var e string
		rows.Scan(&e)
		events = append(events, e)
	}
	if strings.Join(events, ",") != "account.locked,account.unlocked,account.frozen,request.filed" {
		t.Fatalf("webhook events: %v", events)
	}
}
