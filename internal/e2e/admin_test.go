package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The administrators' dashboard in a real browser: staff sign in, turn on an authenticator (the
// dashboard stays shut until they do), find a locked account and unlock it with a reason, the
// roles that may not act are refused, the policy page changes the lockout at once, and every
// dashboard page passes the accessibility audit in English and Chinese.

// lockReason is the reason the server records for an automatic lock (internal/postgres/lockout.go),
// as the lock history shows it; the account's facts say it in words (status_lock_temporary).
const lockReason = "too many failed sign-ins"

// signInStaff signs a staff account in (it has no second factor yet), checks the dashboard sends
// it to turn on an authenticator first, enrols one and checks the dashboard then opens. The sign-in
// is fresh, so actions that need a recent sign-in work for the next ten minutes.
func (p *tab) signInStaff(t *testing.T, lang, username, password string) *authenticator {
	t.Helper()
	p.signIn(t, username, password)
	// Staff land on the dashboard, which sends them to turn on an authenticator first.
	if got := p.path(t); got != "/account/totp" {
		t.Fatalf("staff %s without a second factor signing in landed on %s, want /account/totp", username, got)
	}
	// The page says why staff were sent here.
	if got := p.notice(t, "info"); got != msg(t, lang, "staff_need_totp") {
		t.Errorf("/account/totp after the dashboard's redirect shows info notice %q, want %q", got, msg(t, lang, "staff_need_totp"))
	}
	p.open(t, "/account")
	app := p.enrollTOTP(t, lang)
	if resp := p.open(t, "/admin"); resp.Status != http.StatusOK || p.path(t) != "/admin" {
		t.Fatalf("after enrolling, /admin answered %d at %s, want 200 at /admin", resp.Status, p.path(t))
	}
	if got := p.text(t, "main h1"); got != msg(t, lang, "admin_title") {
		t.Errorf("dashboard heading = %q, want %q", got, msg(t, lang, "admin_title"))
	}
	return app
}

// trail is the audit trail table of an account page: one [when, action, actor, where, details]
// per row.
func (p *tab) trail(t *testing.T) [][]string {
	t.Helper()
	return eval[[][]string](t, p, `[...document.querySelectorAll('section[aria-labelledby="trail-title"] tbody tr')]
		.map(tr => [...tr.cells].map(td => td.innerText.trim()))`)
}

// act takes an action from an account page as a person would: types the reason, ticks the
// confirmation box and presses the action's button. It returns the response of the page it lands on.
func (p *tab) act(t *testing.T, username, action, reason string) *network.Response {
	t.Helper()
	form := fmt.Sprintf(`main form[action="/admin/accounts/%s/%s"]`, username, action)
	p.fill(t, "reason-"+action, reason)
	if p.count(t, form+` input[type=checkbox][name=confirm]`) == 1 {
		p.do(t, chromedp.Click(chromedp.CSS(form+` input[type=checkbox][name=confirm]`)))
	}
	return p.click(t, form+` button[type=submit]`)
}

// postFrom sends a form POST from the page with fetch (the tab's cookies go with it, and it is
// same-origin) and returns the status of the answer, without following a redirect.
func (p *tab) postFrom(t *testing.T, path string, form map[string]string) int {
	t.Helper()
	var body []string
	for k, v := range form {
		body = append(body, fmt.Sprintf("[%q, %q]", k, v))
	}
	js := fmt.Sprintf(`fetch(%q, {method: "POST", redirect: "manual", credentials: "same-origin",
		body: new URLSearchParams([%s])}).then(r => r.type === "opaqueredirect" ? 303 : r.status)`, path, strings.Join(body, ", "))
	return run(t, p, "POST "+path, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

func TestHelpdeskUnlocksALockedAccount(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const user, staff, password = "oskar.lindqvist", "hd.maria", "the help desk has a long passphrase"
	srv.addUser(t, user, user+"@example.com", "oskar's own long passphrase", "--display-name", "Oskar Lindqvist")
	srv.addUser(t, "oskar.other", "oskar.other@example.com", "another long passphrase here") // active: filtered out
	srv.addUser(t, staff, staff+"@example.com", password, "--role", "helpdesk", "--display-name", "Maria (help desk)")
	srv.lockByHTTP(t, user, desktopUA)

	p := b.newTab(t, srv.URL, "en")
	p.signInStaff(t, "en", staff, password)

	// Search for part of the username, locked accounts only.
	p.click(t, `nav.subnav a[href="/admin/accounts"]`)
	p.fill(t, "q", "LINDQ")
	p.do(t, chromedp.SetValue(chromedp.CSS(`#state`), "locked_temporarily"))
	p.click(t, `main form[action="/admin/accounts"] button[type=submit]`)
	if got := p.path(t); got != "/admin/accounts" {
		t.Fatalf("the search landed on %s", got)
	}
	if got := eval[string](t, p, `location.search`); !strings.Contains(got, "state=locked_temporarily") || !strings.Contains(got, "q=LINDQ") {
		t.Errorf("the search asked %q, want q=LINDQ and state=locked_temporarily", got)
	}
	rows := eval[[]string](t, p, `[...document.querySelectorAll("main table.list tbody tr a")].map(a => a.innerText.trim())`)
	if len(rows) != 1 || rows[0] != user {
		t.Fatalf("the search found %q, want only %s", rows, user)
	}
	if got := p.text(t, "main table.list tbody tr .state"); got != msg(t, "en", "state_locked_temporarily") {
		t.Errorf("the result's state = %q, want %q", got, msg(t, "en", "state_locked_temporarily"))
	}

	// The account page says why it is locked.
	p.click(t, fmt.Sprintf(`main table.list a[href="/admin/accounts/%s"]`, user))
	if got := p.text(t, "main h1"); got != user {
		t.Fatalf("account page heading = %q, want %s", got, user)
	}
	if got, want := p.accountFact(t, msg(t, "en", "status_why")), msg(t, "en", "status_lock_temporary"); got != want {
		t.Errorf("the account page gives the reason %q, want it in words, %q", got, want)
	}
	if got := p.accountFact(t, msg(t, "en", "account_state")); got != msg(t, "en", "state_locked_temporarily") {
		t.Errorf("the account page gives the state %q, want %q", got, msg(t, "en", "state_locked_temporarily"))
	}
	if got := p.text(t, `section[aria-labelledby="locks-title"] tbody`); !strings.Contains(got, lockReason) {
		t.Errorf("the lock history does not give the reason: %q", got)
	}
	// The help desk may unlock and send a reset link, nothing more.
	actions := eval[[]string](t, p, `[...document.querySelectorAll("main form.action")].map(f => f.getAttribute("action"))`)
	if want := []string{"/admin/accounts/" + user + "/unlock", "/admin/accounts/" + user + "/send-reset"}; fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Errorf("the help desk is offered %q, want %q", actions, want)
	}

	// Every action is named in words, never by its message id.
	if raw := eval[[]string](t, p, `[...document.querySelectorAll("main form.action h3, main form.action button")]
		.map(e => e.innerText.trim()).filter(s => s.startsWith("admin_"))`); len(raw) > 0 {
		t.Errorf("the account page shows untranslated message ids: %q", raw)
	}

	// Unlock with a reason.
	const reason = "verified by phone, ticket 4711"
	resp := p.act(t, user, "unlock", reason)
	if got := p.path(t); got != "/admin/accounts/"+user || resp.Status != http.StatusOK {
		t.Fatalf("unlocking: at %s with status %d, want the account page with 200", got, resp.Status)
	}
	p.wantNotice(t, "ok", msg(t, "en", "admin_done_unlock"))
	if got := p.accountFact(t, msg(t, "en", "account_state")); got != msg(t, "en", "state_active") {
		t.Errorf("after the unlock the account page gives the state %q, want %q", got, msg(t, "en", "state_active"))
	}
	if a := srv.show(t, user); a.State != "active" || a.LockedUntil != nil || a.FailedAttempts != 0 {
		t.Fatalf("after the unlock: %+v, want active with no lock and no failures", a)
	}

	// The audit trail on the page names the help desk and quotes the reason.
	found := false
	for _, row := range p.trail(t) {
		if len(row) == 5 && row[1] == msg(t, "en", "audit_account_unlocked") { // the action in words
			found = true
			if want := staff + " (" + msg(t, "en", "role_helpdesk") + ")"; row[2] != want {
				t.Errorf("account.unlocked by %q, want %q", row[2], want)
			}
			if !strings.Contains(row[4], "ticket 4711") {
				t.Errorf("account.unlocked details %q do not quote the reason", row[4])
			}
		}
	}
	if !found {
		t.Errorf("the audit trail has no account.unlocked: %q", p.trail(t))
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

func TestAuditorCannotUnlock(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const user, staff, password = "priya.nair", "au.jonas", "the auditor keeps a long passphrase"
	srv.addUser(t, user, user+"@example.com", "priya's own long passphrase", "--display-name", "Priya Nair")
	srv.addUser(t, staff, staff+"@example.com", password, "--role", "auditor")
	srv.lockByHTTP(t, user, desktopUA)

	p := b.newTab(t, srv.URL, "en")
	p.signInStaff(t, "en", staff, password)
	if resp := p.open(t, "/admin/accounts/"+user); resp.Status != http.StatusOK {
		t.Fatalf("the auditor's account page answered %d", resp.Status)
	}
	if got, want := p.accountFact(t, msg(t, "en", "status_why")), msg(t, "en", "status_lock_temporary"); got != want {
		t.Errorf("the auditor sees the reason %q, want %q", got, want)
	}
	if n := p.count(t, "main form.action"); n != 0 {
		t.Errorf("the auditor is offered %d action forms, want none", n)
	}
	if n := p.count(t, `main form[action$="/unlock"], #reason-unlock`); n != 0 {
		t.Errorf("the auditor is offered an unlock form")
	}
	// The auditor's own browser posts the unlock anyway: refused.
	if status := p.postFrom(t, "/admin/accounts/"+user+"/unlock", map[string]string{"reason": "just curious"}); status != http.StatusForbidden {
		t.Errorf("POST unlock from the auditor's browser answered %d, want 403", status)
	}
	if a := srv.show(t, user); a.State != "locked_temporarily" {
		t.Fatalf("after the auditor's POST %s is %s, want still locked_temporarily", user, a.State)
	}
	// The refusal is on the record.
	p.open(t, "/admin/audit?action=admin.refused")
	if got, by := p.text(t, "main table.list tbody"), staff+" ("+msg(t, "en", "role_auditor")+")"; !strings.Contains(got, by) {
		t.Errorf("the audit log shows no refusal by %s: %q", by, got)
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

func TestAdminChangesPolicy(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const user, staff, password = "leon.weber", "ad.ines", "the administrator has a long passphrase"
	const other = "mina.park"
	srv.addUser(t, user, user+"@example.com", "leon's own long passphrase")
	srv.addUser(t, other, other+"@example.com", "mina's own long passphrase")
	srv.addUser(t, staff, staff+"@example.com", password, "--role", "admin")

	p := b.newTab(t, srv.URL, "en")
	p.signInStaff(t, "en", staff, password)
	p.click(t, `nav.subnav a[href="/admin/policy"]`)
	const field = `[id="p-lockout.threshold"]` // the id has a dot: no #id selector
	if got := p.attr(t, field, "value"); got != fmt.Sprint(lockoutThreshold) {
		t.Fatalf("lockout.threshold shows %q, want %d", got, lockoutThreshold)
	}
	eval[bool](t, p, `(el => { el.value = ""; return true })(document.getElementById("p-lockout.threshold"))`)
	p.do(t, chromedp.SendKeys(chromedp.CSS(field), "3"))
	p.click(t, `main form[action="/admin/policy"] button[type=submit]`)
	p.wantNotice(t, "ok", msg(t, "en", "admin_policy_saved"))
	if got := eval[string](t, p, `document.getElementById("p-lockout.threshold").value`); got != "3" {
		t.Fatalf("after saving, lockout.threshold shows %q, want 3", got)
	}

	// failSignIns sends "wrong guess number 0", 1, …: a second call would repeat the first call's
	// passwords, which the policy does not count again (lockout.ignore_repeated). So one account
	// gets two wrong passwords, another three.
	srv.failSignIns(t, other, 2, desktopUA)
	if a := srv.show(t, other); a.State != "active" || a.FailedAttempts != 2 {
		t.Fatalf("after 2 wrong passwords %s is %s with %d failures, want active with 2", other, a.State, a.FailedAttempts)
	}
	srv.failSignIns(t, user, 3, desktopUA)
	if a := srv.show(t, user); a.State != "locked_temporarily" || a.LockedUntil == nil {
		t.Fatalf("after 3 wrong passwords %s is %s, want locked_temporarily at the new threshold", user, a.State)
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

// TestAdminPagesAccessibility runs axe on every dashboard page, with content on it, as an
// administrator in English and in Chinese.
func TestAdminPagesAccessibility(t *testing.T) {
	t.Parallel()
	axeSource(t) // skip (or fail in CI) before starting anything when axe-core is missing
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const password = "an accessible dashboard passphrase"
	srv.addUser(t, "zhang.wei", "zhang.wei@example.com", "zhang wei's long passphrase", "--display-name", "张伟")
	srv.addUser(t, "ada.byron", "ada.byron@example.com", "ada's own long passphrase", "--display-name", "Ada Byron")
	srv.lockByHTTP(t, "zhang.wei", desktopUA)
	srv.lockByHTTP(t, "ada.byron", desktopUA)

	// One open request, filed through the help form.
	r := b.newTab(t, srv.URL, "en")
	r.open(t, "/help/request")
	r.fill(t, "username", "zhang.wei")
	r.fill(t, "message", "Locked out after a trip")
	r.click(t, `main form[action="/help/request"] button[type=submit]`)
	if ref := r.text(t, "main #reference"); !referenceRE.MatchString(ref) {
		t.Fatalf("reference = %q, want UR-XXXX-XXXX", ref)
	}

	for _, lang := range []struct{ tag, acceptLanguage string }{
		{"en", "en"},
		{"zh-CN", "zh-CN,zh;q=0.9"},
	} {
		t.Run(lang.tag, func(t *testing.T) {
			staff := "admin." + strings.ToLower(lang.tag)
			srv.addUser(t, staff, staff+"@example.com", password, "--role", "admin", "--display-name", "Admin 管理员")
			p := b.newTab(t, srv.URL, lang.acceptLanguage)
			p.signInStaff(t, lang.tag, staff, password)
			for _, pg := range []struct{ name, path, want string }{
				{"overview", "/admin", ""},
				{"accounts", "/admin/accounts", "main table.list tbody tr a"},
				{"accounts locked", "/admin/accounts?q=zhang&state=locked_temporarily", "main table.list tbody tr a"},
				{"account", "/admin/accounts/zhang.wei", "main form.action"},
				{"requests", "/admin/requests", "main section.request"},
				{"audit", "/admin/audit", "main table.list tbody tr"},
				{"policy", "/admin/policy", "main form[action='/admin/policy'] input"},
				{"staff", "/admin/staff", ""},
				{"tokens", "/admin/tokens", ""},
				{"maintenance", "/admin/maintenance", ""},
				{"unlock all", "/admin/unlock-all", ""},
			} {
				t.Run(pg.name, func(t *testing.T) {
					if resp := p.open(t, pg.path); resp.Status != http.StatusOK {
						t.Fatalf("GET %s: status %d, want 200", pg.path, resp.Status)
					}
					if pg.want != "" && p.count(t, pg.want) == 0 {
						t.Errorf("%s shows nothing matching %s", pg.path, pg.want)
					}
					if got := p.lang(t); got != lang.tag {
						t.Errorf("html lang = %q, want %q", got, lang.tag)
					}
					audit(t, p)
					readsWell(t, p, lang.tag)
				})
			}
		})
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

// TestAdminScreenshots renders the dashboard's overview (after some locks and an unlock, so the
// chart has bars) and the page of a locked account. With UNLOCKD_SCREENSHOTS=1 it writes
// admin-overview.png and admin-account.png to docs/screenshots/; otherwise it only checks them.
func TestAdminScreenshots(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServer(t)
	const staff, password = "ad.grace", "the screenshot admin's long passphrase"
	srv.addUser(t, staff, staff+"@example.com", password, "--role", "admin", "--display-name", "Grace Hopper")
	for i, u := range []struct{ name, display string }{
		{"jamie.lee", "Jamie Lee"}, {"wang.fang", "王芳"}, {"sam.okafor", "Sam Okafor"}, {"elena.rossi", "Elena Rossi"},
	} {
		srv.addUser(t, u.name, u.name+"@example.com", "a long passphrase for "+u.name, "--display-name", u.display, "--phone", fmt.Sprintf("+49151123456%02d", i))
		srv.lockByHTTP(t, u.name, desktopUA)
	}

	shoot := screenshotter(t)

	p := b.newTab(t, srv.URL, "en")
	p.signInStaff(t, "en", staff, password)
	// One unlock from the dashboard, so the chart has a bar of each kind.
	p.open(t, "/admin/accounts/sam.okafor")
	p.act(t, "sam.okafor", "unlock", "verified in person")
	p.wantNotice(t, "ok", msg(t, "en", "admin_done_unlock"))

	t.Run("overview", func(t *testing.T) {
		p.open(t, "/admin")
		if n := p.count(t, "main svg.chart rect.bar-lock"); n == 0 {
			t.Fatal("the overview chart has no lock bar")
		}
		if got := p.text(t, "main ul.stats li:first-child .num"); got != "3" {
			t.Errorf("the overview says %q accounts are locked now, want 3", got)
		}
		shoot(t, p, "admin-overview.png")
	})
	t.Run("account", func(t *testing.T) {
		p.open(t, "/admin/accounts/jamie.lee")
		if got, want := p.accountFact(t, msg(t, "en", "status_why")), msg(t, "en", "status_lock_temporary"); got != want {
			t.Fatalf("the account page gives the reason %q, want %q", got, want)
		}
		shoot(t, p, "admin-account.png")
		shoot(t, p, "admin-account-phone.png")
	})
}
