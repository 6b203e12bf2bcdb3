package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// addWithRole creates an account of a role, with a phone, with the command line's authority.
func (h *harness) addWithRole(username string, role account.Role, phone string) *account.Account {
	h.t.Helper()
	a, err := h.accounts.Accounts.AddAccount(context.Background(), account.NewAccount{Username: username, Email: username + "@example.com",
		Phone: phone, DisplayName: "Staff " + username, Role: role, Password: goodPassword}, testActor)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func wantForbidden(t *testing.T, what string, status int, body map[string]any) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	if status != http.StatusForbidden || !ok || e["code"] != "forbidden" || e["message"] == "" {
		t.Errorf("%s: %d %v, want 403 in the contract's error shape", what, status, body)
	}
}

// A service token (the CRM's provisioning credential) manages plain accounts only (SECURITY.md 28).
func TestServiceTokenCannotGrantStaffRoles(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	crm := h.token("crm", account.RoleService)
	hash, _ := secret.HashPassword("a password the CRM chose", testParams)

	for _, role := range []string{"admin", "helpdesk", "auditor"} {
		status, body := h.api("PUT", "/accounts/mallory", crm, `{"email":"mallory@example.com","role":"`+role+`","password_hash":"`+hash+`"}`)
		wantForbidden(t, "service creates "+role, status, body)
		if _, err := h.accounts.Accounts.AccountByLogin(ctx, "mallory"); account.ErrorCode(err) != account.ENOTFOUND {
			t.Fatalf("a refused create as %s left an account: %v", role, err)
		}
	}

	h.addAccount("alice")
	for _, role := range []string{"admin", "auditor"} {
		status, body := h.api("PUT", "/accounts/alice", crm, `{"email":"alice@example.com","role":"`+role+`"}`)
		wantForbidden(t, "service promotes a user to "+role, status, body)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(ctx, "alice"); a.Role != account.RoleUser {
		t.Fatalf("a service token made alice %s", a.Role)
	}

	for i, role := range []account.Role{account.RoleAdmin, account.RoleHelpdesk} {
		name := "staff-" + string(role)
		h.addWithRole(name, role, "+861380000000"+strconv.Itoa(i))
		for _, put := range []string{`{"email":"attacker@example.com"}`, `{"role":"user"}`, `{"active":false}`,
			`{"display_name":"Still staff","password_hash":"` + hash + `"}`, `{}`} {
			status, body := h.api("PUT", "/accounts/"+name, crm, put)
			wantForbidden(t, "service PUT "+put+" on "+string(role), status, body)
		}
		a, _ := h.accounts.Accounts.AccountByLogin(ctx, name)
		if a.Role != role || a.Email != name+"@example.com" || a.State != account.StateActive || a.DisplayName != "Staff "+name {
			t.Fatalf("a service token changed a staff account: %+v", a)
		}
		if ok, _, _ := h.hasher.Verify(ctx, goodPassword, a.PasswordHash); !ok {
			t.Fatal("a service token replaced a staff member's password hash")
		}
	}

	// What a service token is for still works.
	if status, body := h.api("PUT", "/accounts/bob", crm, `{"email":"bob@example.com","role":"user","password_hash":"`+hash+`"}`); status != http.StatusCreated || body["role"] != "user" {
		t.Fatalf("service creates a user: %d %v", status, body)
	}
	if status, body := h.api("PUT", "/accounts/bob", crm, `{"display_name":"Bob B"}`); status != http.StatusOK || body["display_name"] != "Bob B" {
		t.Fatalf("service updates a user: %d %v", status, body)
	}
}

// A field left out of a PUT is left as it is: the role above all.
func TestPutLeavesOutFieldsUnchanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	admin := h.token("root", account.RoleAdmin)
	h.addWithRole("ad", account.RoleAdmin, "+8613800000001")
	if status, body := h.api("PUT", "/accounts/ad", admin, `{"display_name":"Ada"}`); status != http.StatusOK || body["role"] != "admin" ||
		body["email"] != "ad@example.com" || body["phone"] != "+8613800000001" || body["display_name"] != "Ada" {
		t.Fatalf("PUT without role, email, phone: %d %v", status, body)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(ctx, "ad"); a.Role != account.RoleAdmin {
		t.Fatalf("a PUT without role made an administrator %s", a.Role)
	}
	crm := h.token("crm", account.RoleService)
	h.api("PUT", "/accounts/carol", crm, `{"email":"carol@example.com","phone":"+8613900001111","display_name":"Carol"}`)
	if status, body := h.api("PUT", "/accounts/carol", crm, `{"email":"carol.c@example.com"}`); status != http.StatusOK ||
		body["phone"] != "+8613900001111" || body["display_name"] != "Carol" || body["email"] != "carol.c@example.com" {
		t.Fatalf("PUT of the email alone: %d %v", status, body)
	}
	if status, body := h.api("PUT", "/accounts/carol", crm, `{"phone":""}`); status != http.StatusOK || body["phone"] != "" {
		t.Fatalf("PUT clearing the phone: %d %v", status, body)
	}
	if status, _ := h.api("PUT", "/accounts/dave", crm, `{"display_name":"Dave"}`); status != http.StatusBadRequest {
		t.Fatalf("creating without an email: %d, want 400", status)
	}

	// The language and zone of the person's messages: set, kept when left out, refused when not one.
	if status, body := h.api("PUT", "/accounts/carol", crm, `{"language":"zh-CN","time_zone":"Asia/Shanghai"}`); status != http.StatusOK ||
		body["language"] != "zh-CN" || body["time_zone"] != "Asia/Shanghai" || body["phone"] != "" {
		t.Fatalf("PUT of language and zone: %d %v", status, body)
	}
	if status, body := h.api("PUT", "/accounts/carol", crm, `{"display_name":"Carol C"}`); status != http.StatusOK ||
		body["language"] != "zh-CN" || body["time_zone"] != "Asia/Shanghai" {
		t.Fatalf("PUT without language and zone changed them: %d %v", status, body)
	}
	for _, bad := range []string{`{"language":"fr"}`, `{"time_zone":"Mars/Base"}`, `{"time_zone":"Local"}`} {
		if status, _ := h.api("PUT", "/accounts/carol", crm, bad); status != http.StatusBadRequest {
			t.Errorf("PUT %s: %d, want 400", bad, status)
		}
	}
	if status, body := h.api("PUT", "/accounts/carol", crm, `{"language":"","time_zone":""}`); status != http.StatusOK ||
		body["language"] != "" || body["time_zone"] != "" {
		t.Fatalf("PUT clearing language and zone: %d %v", status, body)
	}
}

// roleChanges lists the audited role changes of an account as "actor:from>to".
func (h *harness) roleChanges(username string) []string {
	h.t.Helper()
	rows, err := h.db.Pool.Query(context.Background(), `SELECT actor, details::jsonb->>'from', details::jsonb->>'to' FROM audit_events
		WHERE action = 'account.role_changed' AND lower(username) = lower($1) ORDER BY id`, username)
	if err != nil {
		h.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var actor, from, to string
		if err := rows.Scan(&actor, &from, &to); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, actor+":"+from+">"+to)
	}
	return out
}

func (h *harness) signedOut(c *http.Client, who string) {
	h.t.Helper()
	if res := h.get(c, "/account"); res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/login") {
		h.t.Fatalf("%s: the session still works after a role change (%d %s)", who, res.status, res.header.Get("Location"))
	}
}

// An administrator's role change through the API ends the account's sessions and is audited.
func TestAPIRoleChangeEndsSessionsAndIsAudited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	browser := h.client()
	if res := h.signIn(browser, "alice", goodPassword); res.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.status)
	}
	if res := h.get(browser, "/account"); res.status != http.StatusOK {
		t.Fatalf("signed in: %d", res.status)
	}
	admin := h.token("root", account.RoleAdmin)
	if status, body := h.api("PUT", "/accounts/alice", admin, `{"email":"alice@example.com","role":"auditor"}`); status != http.StatusOK || body["role"] != "auditor" {
		t.Fatalf("admin token grants auditor: %d %v", status, body)
	}
	h.signedOut(browser, "alice")
	if got := strings.Join(h.roleChanges("alice"), ","); got != "token:root:user>auditor" {
		t.Fatalf("role changes audited: %q", got)
	}
	// The same role again is no change: nothing more is recorded.
	h.api("PUT", "/accounts/alice", admin, `{"role":"auditor"}`)
	if got := len(h.roleChanges("alice")); got != 1 {
		t.Fatalf("%d role changes after a PUT of the same role", got)
	}
}

// An import that changes a role ends the account's sessions and is audited; a row without a role
// keeps the role the account has.
func TestImportRoleChangeEndsSessionsAndIsAudited(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.addAccount("alice")
	h.addWithRole("ad", account.RoleAdmin, "")
	browser := h.client()
	h.signIn(browser, "alice", goodPassword)
	if res := h.get(browser, "/account"); res.status != http.StatusOK {
		t.Fatalf("signed in: %d", res.status)
	}
	file := "username,email,phone,display_name,role,password_hash\n" +
		"alice,alice@example.com,,Alice,helpdesk,\n" +
		"ad,ad@example.com,,Ada,,\n"
	rows, err := account.ParseImport(strings.NewReader(file), secret.ValidateHash, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.accounts.Accounts.ImportAccounts(ctx, rows, account.Actor{Name: "cli"}); err != nil {
		t.Fatal(err)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(ctx, "alice"); a.Role != account.RoleHelpdesk {
		t.Fatalf("import: alice is %s", a.Role)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(ctx, "ad"); a.Role != account.RoleAdmin {
		t.Fatalf("an import row without a role made an administrator %s", a.Role)
	}
	h.signedOut(browser, "alice")
	if got := strings.Join(h.roleChanges("alice"), ","); got != "cli:user>helpdesk" {
		t.Fatalf("role changes audited: %q", got)
	}
	if got := h.roleChanges("ad"); len(got) != 1 || got[0] != "test:>admin" {
		t.Fatalf("ad's role changes: %q, want only the grant at creation", got)
	}
}
