package server_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// staff makes a staff account with an authenticator and a browser signed in as it.
func (h *harness) staff(username string, role account.Role) *http.Client {
	h.t.Helper()
	ctx := context.Background()
	a, err := h.accounts.Accounts.AddAccount(ctx, account.NewAccount{Username: username, Email: username + "@example.com",
		Role: role, Password: goodPassword}, testActor)
	if err != nil {
		h.t.Fatal(err)
	}
	key, err := secret.NewTOTPKey("unlockd", username)
	if err != nil {
		h.t.Fatal(err)
	}
	// Enrol with the previous step's code, so the current one is still free for the sign-in.
	prev, _ := secret.TOTPCode(key.Secret, time.Now().Add(-30*time.Second))
	if err := h.accounts.SecondFactors.ConfirmTOTP(ctx, a, key.Secret, prev, "", "", "en"); err != nil {
		h.t.Fatal(err)
	}
	c := h.client()
	if res := h.signIn(c, username, goodPassword); res.header.Get("Location") != "/login/totp" {
		h.t.Fatalf("staff sign-in went to %q", res.header.Get("Location"))
	}
	code, _ := secret.TOTPCode(key.Secret, time.Now())
	if res := h.post(c, "/login/totp", url.Values{"code": {code}}); res.status != http.StatusSeeOther {
		h.t.Fatalf("staff second step: %d", res.status)
	}
	return c
}

func TestAdminRoleMatrix(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice") // the target of the actions
	h.addAccount("bob")   // a plain user trying the dashboard
	clients := map[string]*http.Client{
		"user":     h.client(),
		"helpdesk": h.staff("hd", account.RoleHelpdesk),
		"auditor":  h.staff("au", account.RoleAuditor),
		"admin":    h.staff("ad", account.RoleAdmin),
	}
	routes := []struct {
		method, path string
		form         url.Values
		allowed      []string
	}{
		{"GET", "/admin", nil, []string{"helpdesk", "auditor", "admin"}},
		{"GET", "/admin/accounts?q=ali", nil, []string{"helpdesk", "auditor", "admin"}},
		{"GET", "/admin/accounts/alice", nil, []string{"helpdesk", "auditor", "admin"}},
		{"GET", "/admin/requests", nil, []string{"helpdesk", "auditor", "admin"}},
		{"GET", "/admin/audit", nil, []string{"auditor", "admin"}},
		{"GET", "/admin/audit.csv", nil, []string{"auditor", "admin"}},
		{"GET", "/admin/policy", nil, []string{"helpdesk", "auditor", "admin"}},
		{"POST", "/admin/policy", url.Values{"lockout.threshold": {"10"}}, []string{"admin"}},
		{"POST", "/admin/accounts/alice/send-reset", url.Values{"reason": {"asked by phone"}, "confirm": {"yes"}}, []string{"helpdesk", "admin"}},
		{"POST", "/admin/accounts/alice/end-sessions", url.Values{"reason": {"lost laptop"}, "confirm": {"yes"}}, []string{"admin"}},
		{"POST", "/admin/accounts/alice/reset-mfa", url.Values{"reason": {"lost phone"}, "confirm": {"yes"}}, []string{"admin"}},
		{"POST", "/admin/accounts/alice/expiry", url.Values{"reason": {"contract end"}, "until": {"2030-01-01T00:00"}, "confirm": {"yes"}}, []string{"admin"}},
		{"POST", "/admin/requests/999/approve", url.Values{}, []string{"helpdesk", "admin"}},
		{"POST", "/admin/bulk-unlock", url.Values{"reason": {"r"}, "confirm": {"yes"}}, []string{"helpdesk", "admin"}},
		{"GET", "/admin/unlock-all?since=1h", nil, []string{"admin"}},
		{"GET", "/admin/staff", nil, []string{"admin"}},
		{"GET", "/admin/tokens", nil, []string{"admin"}},
		{"GET", "/admin/maintenance", nil, []string{"admin"}},
		{"POST", "/admin/accounts/alice/freeze", url.Values{"reason": {"matrix"}, "confirm": {"yes"}}, []string{"admin"}},
		{"POST", "/admin/accounts/alice/unfreeze", url.Values{"reason": {"matrix"}, "confirm": {"yes"}}, []string{"admin"}},
	}
	for _, rt := range routes {
		for who, c := range clients {
			if who == "user" {
				// Sign in afresh so each check runs signed in.
				c = h.client()
				h.signIn(c, "bob", goodPassword)
			}
			res := h.do(c, rt.method, rt.path, rt.form)
			allowed := false
			for _, a := range rt.allowed {
				allowed = allowed || a == who
			}
			if allowed && (res.status == http.StatusForbidden || res.status >= 500) {
				t.Errorf("%s %s as %s: %d, want allowed", rt.method, rt.path, who, res.status)
			}
			if !allowed && res.status != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", rt.method, rt.path, who, res.status)
			}
		}
	}
	// Refusals are audited.
	events, _ := h.accounts.Audit.AuditEvents(context.Background(), account.AuditQuery{Action: "admin.refused", Limit: 1000})
	if len(events) < 10 {
		t.Fatalf("%d refusals audited", len(events))
	}
}

func TestHelpdeskFindsALockedAccountAndUnlocksIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	hd := h.staff("hd", account.RoleHelpdesk)
	list := h.get(hd, "/admin/accounts?q=ALI&state=locked_temporarily")
	if !strings.Contains(list.body, `href="/admin/accounts/alice"`) {
		t.Fatal("search did not find the locked account")
	}
	page := h.get(hd, "/admin/accounts/alice")
	if !strings.Contains(page.body, "too many failed sign-ins") || !strings.Contains(page.body, "account.locked") {
		t.Fatal("the account page does not say why it is locked")
	}
	// Every action's form has a confirmation box the browser will not submit unticked (no
	// JavaScript dialog). The route itself takes the contract's fields alone.
	if strings.Count(page.body, `name="confirm" value="yes" required`) < 2 {
		t.Fatal("the actions have no confirmation box")
	}
	if res := h.post(hd, "/admin/accounts/alice/unlock", url.Values{"reason": {""}, "confirm": {"yes"}}); res.status != http.StatusSeeOther {
		t.Fatalf("unlock without a reason: %d", res.status)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateLockedTemporarily {
		t.Fatal("unlocked without a reason")
	}
	if res := h.post(hd, "/admin/accounts/alice/unlock", url.Values{"reason": {"verified by phone, ticket 4711"}, "confirm": {"yes"}}); res.status != http.StatusSeeOther {
		t.Fatalf("unlock: %d", res.status)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateActive {
		t.Fatalf("state %s after unlock", a.State)
	}
	if res := h.post(hd, "/admin/accounts/alice/freeze", url.Values{"reason": {"x"}, "confirm": {"yes"}}); res.status != http.StatusForbidden {
		t.Fatalf("help desk froze an account: %d", res.status)
	}
	events, _ := h.accounts.Audit.AuditEvents(context.Background(), account.AuditQuery{Action: "account.unlocked", Limit: 10})
	if len(events) == 0 || events[0].Actor != "helpdesk:hd" || !strings.Contains(events[0].Details, "ticket 4711") {
		t.Fatalf("unlock audit: %+v", events)
	}
	h.lastMessage("alice@example.com", "unlocked")
}

func TestAdminChangesThePolicyAndItApplies(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	ad := h.staff("ad", account.RoleAdmin)
	if res := h.post(ad, "/admin/policy", url.Values{"lockout.threshold": {"0"}}); !strings.Contains(res.body, "lockout.threshold") {
		t.Fatal("an invalid threshold was not refused with the key named")
	}
	if res := h.post(ad, "/admin/policy", url.Values{"lockout.threshold": {"3"}}); res.status != http.StatusSeeOther {
		t.Fatalf("policy: %d", res.status)
	}
	for i := 0; i < 3; i++ {
		h.signIn(h.client(), "alice", "wrong guess "+string(rune('a'+i)))
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateLockedTemporarily {
		t.Fatalf("the new threshold did not apply: %s", a.State)
	}
}

func TestStaffWithoutASecondFactorIsSentToEnrol(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.accounts.Accounts.AddAccount(context.Background(), account.NewAccount{Username: "newadmin", Email: "na@example.com",
		Role: account.RoleAdmin, Password: goodPassword}, testActor); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	h.signIn(c, "newadmin", goodPassword)
	if res := h.get(c, "/admin"); res.status != http.StatusSeeOther || res.header.Get("Location") != "/account/totp" {
		t.Fatalf("staff without TOTP: %d %s", res.status, res.header.Get("Location"))
	}
}

func TestRequestApprovalUnlocksAndTellsTheRequester(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	h.post(h.client(), "/help/request", url.Values{"username": {"alice"}, "message": {"locked out before a client call"}})
	hd := h.staff("hd", account.RoleHelpdesk)
	page := h.get(hd, "/admin/requests")
	if !strings.Contains(page.body, "locked out before a client call") {
		t.Fatal("the request is not in the queue")
	}
	reqs, _ := h.accounts.Oversight.Requests(context.Background(), "open")
	if len(reqs) != 1 {
		t.Fatalf("%d open requests", len(reqs))
	}
	if res := h.post(hd, "/admin/requests/"+itoa(reqs[0].ID)+"/approve", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("approve: %d", res.status)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateActive {
		t.Fatalf("approval did not unlock: %s", a.State)
	}
	if got := h.lastMessage("alice@example.com", "request_handled"); got["Outcome"] != "approved" || got["Reference"] != reqs[0].Reference {
		t.Fatalf("requester told %v", got)
	}
	if res := h.post(hd, "/admin/requests/"+itoa(reqs[0].ID)+"/deny", url.Values{"message": {"no"}}); res.status != http.StatusSeeOther {
		t.Fatal("second decision")
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestBulkAndEmergencyUnlock(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, u := range []string{"a1", "a2", "a3"} {
		h.addAccount(u)
		h.lock(u)
	}
	hd := h.staff("hd", account.RoleHelpdesk)
	res := h.post(hd, "/admin/bulk-unlock", url.Values{"account": {"a1", "a2"}, "reason": {"wave cleared"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("bulk: %d", res.status)
	}
	if page := h.get(hd, "/admin/accounts"); !strings.Contains(page.body, "2 unlocked, 0 skipped") {
		t.Fatal("the bulk result is not shown")
	}
	if res := h.get(hd, "/admin/unlock-all?since=2h"); res.status != http.StatusForbidden {
		t.Fatalf("help desk reached the emergency unlock: %d", res.status)
	}
	ad := h.staff("ad", account.RoleAdmin)
	if page := h.get(ad, "/admin/unlock-all?since=2h"); !strings.Contains(page.body, "This unlocks 1 account.") {
		t.Fatalf("preview:\n%s", page.body)
	}
	if page := h.post(ad, "/admin/unlock-all", url.Values{"since": {"2h"}, "reason": {"stuffing wave"}}); !strings.Contains(page.body, "1 account unlocked") {
		t.Fatal("emergency unlock did not report")
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "a3"); a.State != account.StateActive {
		t.Fatalf("a3: %s", a.State)
	}
}

func TestAdminManagesStaffAndTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("carol")
	carol := h.client()
	h.signIn(carol, "carol", goodPassword)
	ad := h.staff("ad", account.RoleAdmin)
	if res := h.post(ad, "/admin/staff", url.Values{"username": {"carol"}, "role": {"helpdesk"}, "reason": {"joined the desk"}}); res.status != http.StatusSeeOther {
		t.Fatalf("set role: %d", res.status)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "carol"); a.Role != account.RoleHelpdesk {
		t.Fatalf("role %s", a.Role)
	}
	if res := h.get(carol, "/account"); res.status != http.StatusSeeOther {
		t.Fatal("a role change did not end the session")
	}
	if page := h.get(ad, "/admin/staff"); !strings.Contains(page.body, "carol") {
		t.Fatal("carol is not listed as staff")
	}
	page := h.post(ad, "/admin/tokens", url.Values{"name": {"crm"}, "role": {"service"}})
	tok := regexp.MustCompile(`id="new-token">(ulk_[A-Za-z0-9_-]+)<`).FindStringSubmatch(page.body)
	if tok == nil {
		t.Fatal("the new token is not shown")
	}
	if status, _ := h.api("POST", "/authenticate", tok[1], `{"username":"carol","password":"x"}`); status != http.StatusOK {
		t.Fatalf("the new token does not work: %d", status)
	}
	h.post(ad, "/admin/tokens", url.Values{"revoke": {"crm"}})
	if status, _ := h.api("POST", "/authenticate", tok[1], `{"username":"carol","password":"x"}`); status != http.StatusUnauthorized {
		t.Fatalf("a revoked token works: %d", status)
	}
	hd := h.staff("hd", account.RoleHelpdesk)
	if res := h.get(hd, "/admin/tokens"); res.status != http.StatusForbidden {
		t.Fatal("help desk reached the tokens page")
	}
}

func TestMaintenanceWindowPausesSignInAndUnlock(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, withClock(clock))
	h.addAccount("alice")
	ad := h.staff("ad", account.RoleAdmin)
	start := now.Add(2 * time.Hour).UTC()
	res := h.post(ad, "/admin/maintenance", url.Values{"starts_at": {start.Format("2006-01-02T15:04")},
		"ends_at": {start.Add(time.Hour).Format("2006-01-02T15:04")}, "message_en": {"The CRM is being upgraded."},
		"message_zh": {"CRM 正在升级。"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("schedule: %d\n%s", res.status, res.body)
	}
	if page := h.get(h.client(), "/login"); !strings.Contains(page.body, "Planned maintenance:") || !strings.Contains(page.body, "The CRM is being upgraded.") {
		t.Fatal("no banner before the window")
	}
	if page := h.get(h.client(), "/login", "Accept-Language", "zh-CN"); !strings.Contains(page.body, "CRM 正在升级。") {
		t.Fatal("no Chinese banner")
	}
	mu.Lock()
	now = start.Add(time.Minute)
	mu.Unlock() // the banner cache follows the clock
	res = h.signIn(h.client(), "alice", goodPassword)
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" || !strings.Contains(res.body, "Maintenance in progress") {
		t.Fatalf("sign-in during maintenance: %d", res.status)
	}
	if res := h.post(h.client(), "/unlock", url.Values{"username": {"alice"}}); res.status != http.StatusServiceUnavailable {
		t.Fatalf("unlock during maintenance: %d", res.status)
	}
	mu.Lock()
	now = start.Add(time.Hour + time.Minute)
	mu.Unlock() // the banner cache follows the clock
	if res := h.signIn(h.client(), "alice", goodPassword); res.status != http.StatusSeeOther {
		t.Fatalf("after the window: %d", res.status)
	}
}

func TestALockoutWaveEmailsTheAdministratorsOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	adm := h.staff("ad", account.RoleAdmin)
	for i := 0; i < account.WaveLocks+3; i++ {
		u := fmt.Sprintf("victim%d", i)
		h.addAccount(u)
		if _, err := h.accounts.Staff.SetPolicy(context.Background(), map[string]string{"lockout.threshold": "1"}, testActor); err != nil && i == 0 {
			t.Fatal(err)
		}
		// One wrong password locks at threshold 1; different clients so the spraying throttle stays out of it.
		h.signIn(h.client(), u, "wrong")
		h.db.Pool.Exec(context.Background(), `DELETE FROM client_failures`)
	}
	if n := h.countMessages("staff_alert"); n != 1 {
		t.Fatalf("%d alerts for one wave, want 1", n)
	}
	o := h.get(adm, "/admin")
	if !strings.Contains(o.body, "A lockout wave") {
		t.Fatal("the overview does not show the wave")
	}
}

func TestAuditChainIsCheckedOnRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	au := h.staff("au", account.RoleAuditor)
	if page := h.get(au, "/admin/audit"); strings.Contains(page.body, "The audit chain is intact") || !strings.Contains(page.body, "Check the whole chain now") {
		t.Fatal("the chain was walked on a plain look at the log")
	}
	if page := h.get(au, "/admin/audit?verify=1"); !strings.Contains(page.body, "The audit chain is intact") {
		t.Fatal("no chain result when asked")
	}
	if _, err := h.db.Pool.Exec(context.Background(), `ALTER TABLE audit_events DISABLE TRIGGER USER;
		UPDATE audit_events SET actor = 'mallory' WHERE id = 1; ALTER TABLE audit_events ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	if page := h.get(au, "/admin/audit?verify=1"); !strings.Contains(page.body, "The audit chain is broken") {
		t.Fatal("tampering not shown")
	}
}

func TestAdminResetLinkIsAuditedWithWhoAndWhy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	hd := h.staff("hd", account.RoleHelpdesk)
	h.post(hd, "/admin/accounts/alice/send-reset", url.Values{"reason": {"caller verified, ticket 99"}, "confirm": {"yes"}})
	events, _ := h.accounts.Audit.AuditEvents(context.Background(), account.AuditQuery{Action: "reset.requested", Limit: 5})
	if len(events) != 1 || events[0].Actor != "helpdesk:hd" || !strings.Contains(events[0].Details, "ticket 99") {
		t.Fatalf("reset audit: %+v", events)
	}
	h.lastMessage("alice@example.com", "reset_link")
}

// The accounts page pages through a search by its own links, usernames that start with the
// query first, and takes any input without an error.
func TestDashboardSearchPagesThroughEveryMatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.db.Pool.Exec(ctx, `INSERT INTO accounts (username, email, display_name)
		SELECT CASE WHEN g % 2 = 0 THEN 'wang.' || g ELSE 'a.wang' || g END, 'w' || g || '@corp.example.com', '王' || g
		FROM generate_series(1, 120) g`); err != nil {
		t.Fatal(err)
	}
	hd := h.staff("hd", account.RoleHelpdesk)
	link := regexp.MustCompile(`href="/admin/accounts/([^"]+)"`)
	next := regexp.MustCompile(`href="(/admin/accounts\?[^"]*after=[^"]*)"`)
	var seen []string
	path := "/admin/accounts?q=WANG"
	for range 10 {
		res := h.get(hd, path)
		if res.status != http.StatusOK {
			t.Fatalf("%s: %d", path, res.status)
		}
		for _, m := range link.FindAllStringSubmatch(res.body, -1) {
			seen = append(seen, m[1])
		}
		m := next.FindStringSubmatch(res.body)
		if m == nil {
			break
		}
		path = html.UnescapeString(m[1])
	}
	if len(seen) != 120 {
		t.Fatalf("%d accounts over the pages, want 120", len(seen))
	}
	for i, u := range seen {
		if first := i < 60; first != strings.HasPrefix(u, "wang.") {
			t.Fatalf("result %d is %s: usernames starting with the query come first", i, u)
		}
	}
	for _, q := range []string{"%00", "%FF%FE", "%25%5F%5C", strings.Repeat("%E7%8E%8B", 150), "a&state=bogus&after=%00"} {
		if res := h.get(hd, "/admin/accounts?q="+q); res.status != http.StatusOK {
			t.Errorf("search for %q: %d", q, res.status)
		}
	}
}

// Two letters that few accounts hold, and no index serves, are searched a bounded stretch of
// accounts a page: the page says how far it got, in the staff member's language, and its link
// searches on from there, among the other matches even when the username it stopped at starts
// with the query.
func TestDashboardSearchSaysWhereAPartialSearchStopped(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	// In username order: a.qz (another match), 40,000 that do not match, 20,000 usernames starting
	// with the query, and zz.qz (another match) at the far end, out of a page's reach.
	if _, err := h.db.Pool.Exec(ctx, `INSERT INTO accounts (username, email, display_name)
		SELECT 'a' || lpad(g::text, 5, '0'), 'a' || g || '@corp.example.com', '' FROM generate_series(0, 39999) g
		UNION ALL SELECT 'qz' || lpad(g::text, 5, '0'), 'q' || g || '@corp.example.com', '' FROM generate_series(0, 19999) g
		UNION ALL VALUES ('a.qz', 'a@corp.example.com', ''), ('zz.qz', 'z@corp.example.com', '')`); err != nil {
		t.Fatal(err)
	}
	hd := h.staff("hd", account.RoleHelpdesk)
	link := regexp.MustCompile(`href="/admin/accounts/([^"]+)"`)
	searchOn := regexp.MustCompile(`<a href="(/admin/accounts\?[^"]*after=([^"&]*)[^"]*others=true[^"]*)">Search on after ([^<]*)</a>`)
	shown := func(body string) (out []string) {
		for _, m := range link.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}

	// Where the last Next link of the usernames that start with "qz" leads.
	res := h.get(hd, "/admin/accounts?q=qz&after=qz19990")
	want := []string{"qz19991", "qz19992", "qz19993", "qz19994", "qz19995", "qz19996", "qz19997", "qz19998", "qz19999", "a.qz"}
	if got := shown(res.body); res.status != http.StatusOK || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("first page: %d, shows %q, want %q", res.status, got, want)
	}
	m := searchOn.FindStringSubmatch(res.body)
	if m == nil {
		t.Fatalf("the partial page offers no link to search on:\n%s", res.body)
	}
	stop := m[2]
	if !strings.HasPrefix(stop, "qz") || m[3] != stop {
		t.Fatalf("the search stopped at %q (the link says %q): this test wants a stop among usernames starting with the query", stop, m[3])
	}
	for _, words := range []string{"One or two letters that few accounts hold are slow to find",
		"searched the accounts up to “" + stop + "”", "Or type more letters", `role="status"`} {
		if !strings.Contains(res.body, words) {
			t.Errorf("the partial page does not say %q", words)
		}
	}
	if strings.Contains(res.body, ">Next page<") {
		t.Error("a partial page offers a next page as if it were full")
	}
	zh := h.get(hd, "/admin/accounts?q=qz&after=qz19990", "Accept-Language", "zh-CN")
	for _, words := range []string{"很少有账号包含的一两个字母查找起来较慢", "本页按用户名顺序查到了“" + stop + "”",
		"从“" + stop + "”之后继续查找", "也可以多输入几个字母"} {
		if !strings.Contains(zh.body, words) {
			t.Errorf("the partial page in Chinese does not say %q", words)
		}
	}

	// On from there: the one match left, nothing listed again, and the search is whole.
	res = h.get(hd, html.UnescapeString(m[1]))
	if got := shown(res.body); res.status != http.StatusOK || strings.Join(got, " ") != "zz.qz" {
		t.Fatalf("searching on from %s: %d, shows %q, want only zz.qz", m[1], res.status, got)
	}
	if strings.Contains(res.body, "Search on after") || strings.Contains(res.body, "slow to find") {
		t.Error("the search reached the last account, yet says it stopped short")
	}
}

// Only an administrator lifts a freeze (CONTRACT.md): the help desk's unlock refuses it.
func TestOnlyAnAdministratorLiftsAFreeze(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	ctx := context.Background()
	if _, err := h.accounts.Staff.Freeze(ctx, "alice", "compliance hold", "Call the compliance desk.", nil, testActor); err != nil {
		t.Fatal(err)
	}
	// The owner is told, with the message meant for them and not the reason for the record.
	if m := h.lastMessage("alice@example.com", "locked"); m["Administrator"] != "yes" || m["Message"] != "Call the compliance desk." {
		t.Fatalf("the owner's notice of the freeze: %v", m)
	}
	unlock := url.Values{"reason": {"asked nicely"}, "confirm": {"yes"}}
	h.post(h.staff("hd", account.RoleHelpdesk), "/admin/accounts/alice/unlock", unlock)
	if a, _ := h.accounts.Accounts.AccountByLogin(ctx, "alice"); a.State != account.StateFrozen {
		t.Fatalf("the help desk lifted a freeze: %s", a.State)
	}
	// The page offers an administrator "unfreeze", not "unlock", on a frozen account.
	ad := h.staff("ad", account.RoleAdmin)
	page := h.get(ad, "/admin/accounts/alice")
	if strings.Contains(page.body, `action="/admin/accounts/alice/unlock"`) || !strings.Contains(page.body, `action="/admin/accounts/alice/unfreeze"`) {
		t.Fatal("a frozen account's page offers unlock, or no unfreeze")
	}
	h.post(ad, "/admin/accounts/alice/unfreeze", unlock)
	if a, _ := h.accounts.Accounts.AccountByLogin(ctx, "alice"); a.State != account.StateActive {
		t.Fatalf("an administrator's unlock left the account %s", a.State)
	}
}

// An administrator cannot change their own role, however they name themselves.
func TestStaffCannotChangeTheirOwnRole(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ad := h.staff("ad", account.RoleAdmin)
	for _, name := range []string{"ad", "AD", "ad@example.com"} {
		h.post(ad, "/admin/staff", url.Values{"username": {name}, "role": {"user"}, "reason": {"oops"}})
		if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "ad"); a.Role != account.RoleAdmin {
			t.Fatalf("naming themselves %q, an administrator became %s", name, a.Role)
		}
	}
}

// A bulk unlock with an unusable reason says so, rather than reporting every account skipped.
func TestBulkUnlockChecksTheReasonOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	hd := h.staff("hd", account.RoleHelpdesk)
	h.post(hd, "/admin/bulk-unlock", url.Values{"account": {"alice"}, "reason": {strings.Repeat("x", 600)}})
	if page := h.get(hd, "/admin/accounts"); !strings.Contains(page.body, "at most 500 characters") {
		t.Fatal("the page does not say the reason is too long")
	}
	h.post(hd, "/admin/bulk-unlock", url.Values{"account": {"alice", "nobody"}, "reason": {"wave over"}})
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateActive {
		t.Fatalf("bulk unlock left alice %s", a.State)
	}
}

// The policy page names each key in words and shows durations as people type them; sending the
// page back as shown changes nothing.
func TestPolicyPageReadsAsWordsAndSendsBackUnchanged(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ad := h.staff("ad", account.RoleAdmin)
	page := h.get(ad, "/admin/policy")
	for _, want := range []string{"First lock lasts", `value="15m"`, "<code class=\"key\">lockout.duration</code>"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the policy page lacks %q", want)
		}
	}
	if strings.Contains(page.body, "15m0s") {
		t.Error("the policy page shows a Go duration")
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`name="([a-z_.]+)" type="text" value="([^"]*)"`).FindAllStringSubmatch(page.body, -1) {
		form.Set(m[1], m[2])
	}
	if len(form) < 10 {
		t.Fatalf("%d fields on the policy page", len(form))
	}
	res := h.post(ad, "/admin/policy", form)
	if res.status != http.StatusSeeOther {
		t.Fatalf("sending the page back: %d", res.status)
	}
	if after := h.get(ad, "/admin/policy"); !strings.Contains(after.body, "Nothing changed.") {
		t.Error("sending the page back as shown changed the policy")
	}
}
