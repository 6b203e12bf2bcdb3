package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The self-service journeys: a person locked out gets back in by themselves, in a real browser,
// with the codes and links the server really sends (mail through mailpit, SMS through a webhook
// recorder).

// shownAccount is what `unlockd user show --json` prints.
type shownAccount struct {
	Username       string  `json:"username"`
	Email          string  `json:"email"`
	Phone          string  `json:"phone"`
	Role           string  `json:"role"`
	State          string  `json:"state"`
	Reason         string  `json:"reason"`
	LockedUntil    *string `json:"locked_until"`
	FailedAttempts int     `json:"failed_attempts"`
}

func (s *testServer) show(t *testing.T, username string) shownAccount {
	t.Helper()
	var a shownAccount
	out := s.cli(t, "user", "show", username, "--json")
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("user show --json: %v\n%s", err, out)
	}
	return a
}

// lockoutThreshold is the policy's lockout.threshold, which the tests leave at its default.
const lockoutThreshold = 10

// lockByHTTP posts lockout.threshold different wrong passwords to /login, as a script (or a phone
// with an old saved password) would, with the given User-Agent, and checks the account is locked.
func (s *testServer) lockByHTTP(t *testing.T, username, userAgent string) {
	t.Helper()
	s.failSignIns(t, username, lockoutThreshold, userAgent)
	if a := s.show(t, username); a.State != "locked_temporarily" || a.LockedUntil == nil {
		t.Fatalf("after %d wrong passwords %s is %s (locked_until %v), want locked_temporarily", lockoutThreshold, username, a.State, a.LockedUntil)
	}
}

// failSignIns posts n different wrong passwords to /login with the User-Agent.
func (s *testServer) failSignIns(t *testing.T, username string, n int, userAgent string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i := range n {
		form := url.Values{"username": {username}, "password": {fmt.Sprintf("wrong guess number %d", i)}}
		req, err := http.NewRequest(http.MethodPost, s.URL+"/login", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("User-Agent", userAgent)
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST /login: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("wrong password %d for %s: status %d, want 200 (the failure page)", i+1, username, res.StatusCode)
		}
	}
}

// desktopUA is the browser the scripted failures claim to come from.
const desktopUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"

// startFlow fills the username on a code flow's start page (/unlock, /status, /login/code), picks
// the method when one is given, sends the form and checks it lands on the code form.
func (p *tab) startFlow(t *testing.T, flow, username, method string) {
	t.Helper()
	p.fill(t, "username", username)
	if method != "" {
		radio := fmt.Sprintf(`main form[action=%q] input[type=radio][name=method][value=%q]`, flow, method)
		if p.count(t, radio) != 1 {
			t.Fatalf("%s offers no %s method (%s)", flow, method, radio)
		}
		p.do(t, chromedp.Click(chromedp.CSS(radio)))
		if !eval[bool](t, p, fmt.Sprintf(`document.querySelector(%q).checked`, radio)) {
			t.Fatalf("clicking the %s radio button did not select it", method)
		}
	}
	resp := p.click(t, fmt.Sprintf(`main form[action=%q] button[type=submit]`, flow))
	if got := p.path(t); got != flow+"/verify" || resp.Status != http.StatusOK {
		t.Fatalf("sending the %s form: at %s with status %d, want %s/verify with 200", flow, got, resp.Status, flow)
	}
}

// enterCode types a code into the code form of a flow and sends it.
func (p *tab) enterCode(t *testing.T, flow, code string) *network.Response {
	t.Helper()
	p.fill(t, "code", code)
	return p.click(t, fmt.Sprintf(`main form[action="%s/verify"] button[type=submit]`, flow))
}

// switchTo selects the button of the code form that asks for a code by another method instead.
func switchTo(method string) string {
	return fmt.Sprintf(`main form.alt:not(.again):has(input[type=hidden][name=method][value=%q]) button[type=submit]`, method)
}

// notice is the text of the page's notice of a kind: ok, info or error.
func (p *tab) notice(t *testing.T, kind string) string {
	t.Helper()
	return p.text(t, "main .notice."+kind)
}

// wantNotice fails unless the page shows exactly the message as a notice of the kind.
func (p *tab) wantNotice(t *testing.T, kind, want string) {
	t.Helper()
	if got := p.notice(t, kind); got != want {
		t.Fatalf("on %s: %s notice = %q, want %q", p.path(t), kind, got, want)
	}
}

// wantErrorOn fails unless the form field with the id is marked invalid and described by the
// page's error notice, so a screen reader on the field hears what is wrong.
func (p *tab) wantErrorOn(t *testing.T, id string) {
	t.Helper()
	if got := p.attr(t, "#"+id, "aria-invalid"); got != "true" {
		t.Errorf("on %s after an error the field #%s has aria-invalid=%q, want true", p.path(t), id, got)
	}
	errID := p.attr(t, "main .notice.error", "id")
	described := strings.Fields(p.attr(t, "#"+id, "aria-describedby"))
	if errID == "" || !slices.Contains(described, errID) {
		t.Errorf("on %s the field #%s is described by %q, not by the error notice (id %q)", p.path(t), id, described, errID)
	}
}

// chooseNewPassword fills and sends the new-password form of a reset link.
func (p *tab) chooseNewPassword(t *testing.T, password, confirm string) *network.Response {
	t.Helper()
	p.fill(t, "password", password)
	p.fill(t, "password_confirm", confirm)
	return p.click(t, `main form[method=post] button[type=submit]`)
}

const newPassword = "lanterns drift over the quiet harbour"

func TestUnlockByEmailCode(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true})
	const user, email, oldPassword = "dana.wu", "dana.wu@example.com", "dana chose this long one first"
	srv.addUser(t, user, email, oldPassword, "--display-name", "Dana Wu")
	p := b.newTab(t, srv.URL, "en")

	// Ten different wrong passwords lock the account: nine from a script (a phone retrying, say),
	// the last one typed into the sign-in page, which answers as for any other failure.
	srv.failSignIns(t, user, lockoutThreshold-1, desktopUA)
	if a := srv.show(t, user); a.State != "active" || a.FailedAttempts != lockoutThreshold-1 {
		t.Fatalf("after %d wrong passwords: %+v, want active with %[1]d failed attempts", lockoutThreshold-1, a)
	}
	p.signIn(t, user, "is it this one then")
	p.wantNotice(t, "error", msg(t, "en", "login_failed"))
	if a := srv.show(t, user); a.State != "locked_temporarily" || a.LockedUntil == nil {
		t.Fatalf("after %d wrong passwords: %+v, want locked_temporarily with locked_until", lockoutThreshold, a)
	}

	// The owner is told, with a link to unlock built from the server's base URL.
	locked := srv.waitMail(t, email, subject(t, "en", "locked", nil))
	link := linkTo(t, locked.Text, srv.URL+"/unlock")
	if link != srv.URL+"/unlock" {
		t.Errorf("unlock link in the lock notice = %q, want %s/unlock", link, srv.URL)
	}
	if !strings.Contains(locked.HTML, `href="`+link+`"`) {
		t.Errorf("the HTML part of the lock notice does not link to %s", link)
	}
	for _, l := range append(links(locked.Text), links(locked.HTML)...) {
		if !strings.HasPrefix(l, srv.URL+"/") {
			t.Errorf("the lock notice links to %s, not built from UNLOCKD_BASE_URL %s", l, srv.URL)
		}
	}

	// The link opens the unlock page; without an SMS gateway there is no choice of method.
	p.open(t, strings.TrimPrefix(link, srv.URL))
	if got := p.text(t, "main h1"); got != msg(t, "en", "unlock_title") {
		t.Fatalf("the unlock link opened a page titled %q, want %q", got, msg(t, "en", "unlock_title"))
	}
	if n := p.count(t, "input[name=method][value=sms]"); n != 0 {
		t.Errorf("the unlock page offers SMS without an SMS gateway")
	}
	p.startFlow(t, "/unlock", user, "")
	// It says when the code went out, and when another may be asked for.
	sentAt, _, _ := strings.Cut(msg(t, "en", "flow_code_sent_at"), "{{")
	if !strings.Contains(p.text(t, "main"), sentAt) {
		t.Errorf("the code form does not say when a code was sent")
	}

	code := oneTimeCode(t, srv.waitMail(t, email, subject(t, "en", "code", map[string]string{"Purpose": "unlock"})).Text)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p.enterCode(t, "/unlock", wrong)
	p.wantNotice(t, "error", msg(t, "en", "flow_code_wrong"))
	p.wantErrorOn(t, "code")
	if a := srv.show(t, user); a.State != "locked_temporarily" {
		t.Fatalf("a wrong code changed the state to %s", a.State)
	}

	p.enterCode(t, "/unlock", code)
	p.wantNotice(t, "ok", msg(t, "en", "unlock_done"))
	if a := srv.show(t, user); a.State != "active" || a.FailedAttempts != 0 || a.LockedUntil != nil {
		t.Fatalf("after the unlock: %+v, want active with no failures", a)
	}
	srv.waitMail(t, email, subject(t, "en", "unlocked", nil))

	// "Choose a new password" leads to a new-password form through a link only this page holds.
	setPassword := `main a.button[href^="/reset/"]`
	if got := p.text(t, setPassword); got != msg(t, "en", "unlock_set_password") {
		t.Fatalf("the unlocked page's new-password link = %q, want %q", got, msg(t, "en", "unlock_set_password"))
	}
	if resp := p.click(t, setPassword); resp.Status != http.StatusOK {
		t.Fatalf("the new-password link answered %d", resp.Status)
	}
	if got := p.text(t, "main h1"); got != msg(t, "en", "reset_choose") {
		t.Fatalf("the new-password page is titled %q, want %q", got, msg(t, "en", "reset_choose"))
	}
	p.chooseNewPassword(t, newPassword, newPassword)
	p.wantNotice(t, "ok", msg(t, "en", "reset_done"))
	srv.waitMail(t, email, subject(t, "en", "password_changed", nil))

	// The old password is gone; the new one signs in.
	p.signIn(t, user, oldPassword)
	p.wantNotice(t, "error", msg(t, "en", "login_failed"))
	p.signIn(t, user, newPassword)
	if got := p.path(t); got != "/account" {
		t.Fatalf("signing in with the new password landed on %s, want /account", got)
	}
	if got := p.text(t, "main h1"); got != msg(t, "en", "account_title") {
		t.Errorf("account page heading = %q, want %q", got, msg(t, "en", "account_title"))
	}

	// The link to the new password was on the page only: no reset link went by mail.
	if got := srv.mailsTo(t, email); slices.Contains(got, subject(t, "en", "reset_link", nil)) {
		t.Errorf("a reset link was mailed during the unlock; the mailbox holds %q", got)
	}
}

func TestUnlockBySMS(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true, SMS: true, SMSToken: "sms-gateway-test-token"})
	// The second part asks for a second code right after the first; the default gap between two
	// codes to one account (code.resend_interval, 60 s) would make it wait a minute.
	srv.cli(t, "policy", "set", "code.resend_interval=1s")
	const user, email, phone = "lei.zhang", "lei.zhang@example.com", "+8613800138001"
	srv.addUser(t, user, email, "lei has a long passphrase too", "--phone", phone, "--display-name", "Lei Zhang")
	srv.lockByHTTP(t, user, desktopUA)
	srv.waitMail(t, email, subject(t, "en", "locked", nil))

	if !t.Run("SMS chosen on the start page", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/unlock")
		if got := p.text(t, "main fieldset legend"); got != msg(t, "en", "flow_prove_legend") {
			t.Errorf("method choice legend = %q, want %q", got, msg(t, "en", "flow_prove_legend"))
		}
		if !eval[bool](t, p, `document.querySelector("input[name=method][value=email]").checked`) {
			t.Errorf("email is not the method chosen by default")
		}
		// Signing in by phone number works too (any identifier on file).
		p.startFlow(t, "/unlock", phone, "sms")
		text := srv.waitSMS(t, phone, hasCode).Text
		code := oneTimeCode(t, text)
		// Having chosen SMS, the way back is email.
		if got := p.text(t, switchTo("email")); got != msg(t, "en", "flow_switch_email") {
			t.Errorf("switch button after choosing SMS = %q, want %q", got, msg(t, "en", "flow_switch_email"))
		}
		if n := p.count(t, switchTo("sms")); n != 0 {
			t.Errorf("after choosing SMS the code form still offers to switch to SMS")
		}
		p.enterCode(t, "/unlock", code)
		p.wantNotice(t, "ok", msg(t, "en", "unlock_done"))
		if a := srv.show(t, user); a.State != "active" {
			t.Fatalf("after the SMS unlock the account is %s", a.State)
		}
		srv.waitMail(t, email, subject(t, "en", "unlocked", nil))
		if got := srv.mailsTo(t, email); slices.Contains(got, subject(t, "en", "code", map[string]string{"Purpose": "unlock"})) {
			t.Errorf("choosing SMS also sent the code by email: %q", got)
		}
	}) {
		return
	}

	t.Run("switch to SMS on the code form", func(t *testing.T) {
		srv.lockByHTTP(t, user, desktopUA)
		srv.waitMail(t, email, subject(t, "en", "locked", nil))
		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/unlock")
		p.startFlow(t, "/unlock", user, "") // email, the default
		srv.waitMail(t, email, subject(t, "en", "code", map[string]string{"Purpose": "unlock"}))
		sendBySMS := switchTo("sms")
		if got := p.text(t, sendBySMS); got != msg(t, "en", "flow_switch_sms") {
			t.Fatalf("switch button = %q, want %q", got, msg(t, "en", "flow_switch_sms"))
		}
		time.Sleep(1100 * time.Millisecond) // code.resend_interval
		p.click(t, sendBySMS)
		if got := p.path(t); got != "/unlock/verify" {
			t.Fatalf("the switch landed on %s, want /unlock/verify", got)
		}
		p.wantNotice(t, "info", msg(t, "en", "flow_code_resent"))
		if got := p.text(t, switchTo("email")); got != msg(t, "en", "flow_switch_email") {
			t.Errorf("switch button after switching = %q, want %q", got, msg(t, "en", "flow_switch_email"))
		}
		code := oneTimeCode(t, srv.waitSMS(t, phone, hasCode).Text)
		p.enterCode(t, "/unlock", code)
		p.wantNotice(t, "ok", msg(t, "en", "unlock_done"))
		if a := srv.show(t, user); a.State != "active" {
			t.Fatalf("after the SMS unlock the account is %s", a.State)
		}
	})
}

func TestStatusPage(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true})
	const user, email = "omar.haddad", "omar.haddad@example.com"
	srv.addUser(t, user, email, "omar keeps a long passphrase", "--display-name", "Omar Haddad")
	lockedAt := time.Now()
	srv.lockByHTTP(t, user, desktopUA)
	lockedBy := time.Now()
	p := b.newTab(t, srv.URL, "en")

	p.open(t, "/")
	p.click(t, `main .cards a[href="/status"]`)
	if got := p.text(t, "main h1"); got != msg(t, "en", "status_title") {
		t.Fatalf("status page heading = %q, want %q", got, msg(t, "en", "status_title"))
	}
	p.startFlow(t, "/status", strings.ToUpper(email), "") // the email address, in any letter case
	code := oneTimeCode(t, srv.waitMail(t, email, subject(t, "en", "code", map[string]string{"Purpose": "status"})).Text)
	p.enterCode(t, "/status", code)

	facts := eval[map[string]string](t, p, `Object.fromEntries([...document.querySelectorAll("main dl.facts > div")]
		.map(d => [d.querySelector("dt").innerText.trim(), d.querySelector("dd").innerText.trim()]))`)
	for label, want := range map[string]string{
		msg(t, "en", "account_username"): user,
		msg(t, "en", "account_state"):    msg(t, "en", "state_locked_temporarily"),
		msg(t, "en", "status_why"):       msg(t, "en", "status_lock_temporary"),
	} {
		if facts[label] != want {
			t.Errorf("status page: %q = %q, want %q (all: %q)", label, facts[label], want, facts)
		}
	}
	if facts[msg(t, "en", "status_until")] == "" {
		t.Errorf("status page shows no %q (all: %q)", msg(t, "en", "status_until"), facts)
	}
	// The first lock lasts lockout.duration (15m by default).
	until, err := time.Parse(time.RFC3339, eval[string](t, p, fmt.Sprintf(`[...document.querySelectorAll("main dl.facts > div")]
		.find(d => d.querySelector("dt").innerText.trim() === %q).querySelector("time").getAttribute("datetime")`,
		msg(t, "en", "status_until"))))
	if err != nil {
		t.Fatalf("locked until: %v", err)
	}
	if until.Before(lockedAt.Add(15*time.Minute-time.Minute)) || until.After(lockedBy.Add(15*time.Minute+time.Minute)) {
		t.Errorf("locked until %s, locked between %s and %s; want 15m later (lockout.duration)", until, lockedAt, lockedBy)
	}

	type failure struct{ When, Where, Device, Datetime string }
	rows := eval[[]failure](t, p, `[...document.querySelectorAll("main table.list tbody tr")].map(r => ({
		When: r.cells[0].innerText.trim(), Where: r.cells[1].innerText.trim(), Device: r.cells[2].innerText.trim(),
		Datetime: r.querySelector("time")?.getAttribute("datetime") ?? ""}))`)
	if len(rows) != lockoutThreshold {
		t.Fatalf("the status page lists %d recent failed sign-ins, want %d: %+v", len(rows), lockoutThreshold, rows)
	}
	// The address, with a word on where it is (a loopback address is the server's own machine).
	where := "127.0.0.1 (" + msg(t, "en", "place_this_machine") + ")"
	for _, r := range rows {
		at, err := time.Parse(time.RFC3339, r.Datetime)
		// The device is the browser and system of the User-Agent (Chrome on Windows), as given
		// or summed up.
		if r.Where != where || !strings.Contains(r.Device, "Chrome") || !strings.Contains(r.Device, "Windows") || r.When == "" || err != nil ||
			at.Before(lockedAt.Add(-time.Minute)) || at.After(time.Now().Add(time.Minute)) {
			t.Errorf("failed sign-in row %+v, want the time of the attempt, %q and Chrome on Windows", r, where)
			break
		}
	}
	if p.count(t, `main .ways-list form[action="/status/unlock"] button`) != 1 {
		t.Errorf("the status page of a locked account does not offer the unlock")
	}
	// Looking does not unlock.
	if a := srv.show(t, user); a.State != "locked_temporarily" {
		t.Errorf("after viewing the status the account is %s, want still locked_temporarily", a.State)
	}
}

func TestSignInWithCode(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true})
	const user, email = "ines.moreau", "ines.moreau@example.com"
	srv.addUser(t, user, email, "ines has a passphrase somewhere", "--display-name", "Inès Moreau")
	p := b.newTab(t, srv.URL, "en")

	p.open(t, "/login")
	p.click(t, `main a[href="/login/code"]`)
	if got := p.text(t, "main h1"); got != msg(t, "en", "logincode_title") {
		t.Fatalf("sign-in-with-code heading = %q, want %q", got, msg(t, "en", "logincode_title"))
	}
	p.click(t, `main form[action="/login/code"] button[type=submit]`)
	p.wantNotice(t, "error", msg(t, "en", "flow_username_required"))
	p.wantErrorOn(t, "username")
	p.startFlow(t, "/login/code", user, "")
	code := oneTimeCode(t, srv.waitMail(t, email, subject(t, "en", "code", map[string]string{"Purpose": "signin"})).Text)
	resp := p.enterCode(t, "/login/code", code)
	if got := p.path(t); got != "/account" || resp.Status != http.StatusOK {
		t.Fatalf("after the code: at %s with status %d, want /account with 200", got, resp.Status)
	}
	if got := p.text(t, "main .lead"); !strings.Contains(got, "Inès Moreau") {
		t.Errorf("account page greeting = %q, want it to name Inès Moreau", got)
	}
	// The code is spent: a new visitor cannot use it again.
	q := b.newTab(t, srv.URL, "en")
	q.open(t, "/login/code")
	q.startFlow(t, "/login/code", user, "")
	q.enterCode(t, "/login/code", code)
	q.wantNotice(t, "error", msg(t, "en", "flow_code_wrong"))
}

func TestPasswordResetByLink(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true})
	const user, email, oldPassword = "kofi.mensah", "kofi.mensah@example.com", "kofi forgot this long passphrase"
	srv.addUser(t, user, email, oldPassword, "--display-name", "Kofi Mensah")
	p := b.newTab(t, srv.URL, "en")

	p.open(t, "/reset")
	// Nothing typed: the form says what is missing, on the field.
	p.click(t, `main form[action="/reset"] button[type=submit]`)
	p.wantNotice(t, "error", msg(t, "en", "flow_username_required"))
	p.wantErrorOn(t, "username")
	p.fill(t, "username", user)
	p.click(t, `main form[action="/reset"] button[type=submit]`)
	if got := p.path(t); got != "/reset" {
		t.Fatalf("asking for a link landed on %s, want /reset", got)
	}
	p.wantNotice(t, "ok", msg(t, "en", "reset_sent"))

	m := srv.waitMail(t, email, subject(t, "en", "reset_link", nil))
	link := linkTo(t, m.Text, srv.URL+"/reset/")
	for _, l := range links(m.Text) {
		if !strings.HasPrefix(l, srv.URL+"/") {
			t.Errorf("the reset mail links to %s, not built from UNLOCKD_BASE_URL %s", l, srv.URL)
		}
	}
	path := strings.TrimPrefix(link, srv.URL)
	if resp := p.open(t, path); resp.Status != http.StatusOK {
		t.Fatalf("the reset link answered %d", resp.Status)
	}
	if got := p.text(t, "main h1"); got != msg(t, "en", "reset_choose") {
		t.Fatalf("reset page heading = %q, want %q", got, msg(t, "en", "reset_choose"))
	}
	if got, want := p.text(t, "#password-hint"), strings.ReplaceAll(msg(t, "en", "reset_rules"), "{{.Min}}", "15"); got != want {
		t.Errorf("password rules = %q, want %q", got, want)
	}

	// A weak password is refused with the reason, and the link still works.
	const weak = "password1234567890"
	p.chooseNewPassword(t, weak, weak)
	if got := p.path(t); got != path {
		t.Fatalf("after a weak password: at %s, want the reset page", got)
	}
	p.wantNotice(t, "error", msg(t, "en", "password_weak_common"))
	p.wantErrorOn(t, "password")

	p.chooseNewPassword(t, newPassword, newPassword)
	p.wantNotice(t, "ok", msg(t, "en", "reset_done"))
	srv.waitMail(t, email, subject(t, "en", "password_changed", nil))
	p.click(t, `main a.button[href="/login"]`)
	p.signIn(t, user, newPassword)
	if got := p.path(t); got != "/account" {
		t.Fatalf("signing in with the new password landed on %s, want /account", got)
	}

	// The link worked once.
	q := b.newTab(t, srv.URL, "en")
	if resp := q.open(t, path); resp.Status != http.StatusNotFound {
		t.Errorf("the used reset link answered %d, want 404", resp.Status)
	}
	q.wantNotice(t, "error", msg(t, "en", "reset_invalid"))
	if q.count(t, "main input[type=password]") != 0 {
		t.Errorf("the used reset link still shows the new-password form")
	}
}

var referenceRE = regexp.MustCompile(`^UR-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`)

func TestHelpRequest(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true})
	const user, email = "yuki.tanaka", "yuki.tanaka@example.com"
	srv.addUser(t, user, email, "yuki has a long passphrase", "--display-name", "Yuki Tanaka")
	p := b.newTab(t, srv.URL, "en")

	p.open(t, "/")
	p.click(t, `main .cards a[href="/help/request"]`)
	if got := p.text(t, "main h1"); got != msg(t, "en", "request_title") {
		t.Fatalf("request page heading = %q, want %q", got, msg(t, "en", "request_title"))
	}
	p.click(t, `main form[action="/help/request"] button[type=submit]`)
	p.wantNotice(t, "error", msg(t, "en", "flow_username_required"))
	p.wantErrorOn(t, "username")
	p.fill(t, "username", user)
	p.fill(t, "contact", "+81 90 1234 5678")
	p.fill(t, "message", "My account was frozen while I was travelling.")
	p.click(t, `main form[action="/help/request"] button[type=submit]`)
	p.wantNotice(t, "ok", msg(t, "en", "request_done"))
	ref := p.text(t, "main #reference")
	if !referenceRE.MatchString(ref) {
		t.Fatalf("reference on the page = %q, want UR-XXXX-XXXX", ref)
	}

	m := srv.waitMail(t, email, subject(t, "en", "request_received", map[string]string{"Reference": ref}))
	if !strings.Contains(m.Text, ref) || !strings.Contains(m.HTML, ref) {
		t.Errorf("the confirmation mail does not quote the reference %s:\n%s", ref, m.Text)
	}
}

func TestFrozenAccountIsNotUnlockedHere(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true})
	srv.cli(t, "policy", "set", "code.resend_interval=1s") // a status code right after the unlock code
	const user, email = "alice", "alice.frozen@example.com"
	srv.addUser(t, user, email, alicePassword, "--display-name", "Alice Liddell")
	srv.cli(t, "user", "lock", user, "--reason", "review", "--message", "Call the desk")
	if a := srv.show(t, user); a.State != "frozen" || a.Reason != "review" {
		t.Fatalf("after user lock: %+v, want frozen for review", a)
	}
	p := b.newTab(t, srv.URL, "en")

	p.open(t, "/unlock")
	p.startFlow(t, "/unlock", user, "")
	// A code could not unlock it: the owner is mailed no code but the truth, with the administrator's
	// message and where to ask.
	m := srv.waitMail(t, email, subject(t, "en", "needs_admin", nil))
	for _, want := range []string{"Call the desk", srv.URL + "/help/request"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the mail to the owner of a frozen account lacks %q:\n%s", want, m.Text)
		}
	}
	if slices.Contains(srv.mailsTo(t, email), subject(t, "en", "code", map[string]string{"Purpose": "unlock"})) {
		t.Errorf("the owner of a frozen account was mailed an unlock code")
	}
	p.open(t, "/help/request")
	if got := p.text(t, "main h1"); got != msg(t, "en", "request_title") {
		t.Errorf("the mail's link led to a page titled %q, want %q", got, msg(t, "en", "request_title"))
	}
	if a := srv.show(t, user); a.State != "frozen" || a.Reason != "review" {
		t.Fatalf("after the self-service attempt: %+v, want still frozen for review", a)
	}

	// The status page tells the owner what the administrator wants them told.
	time.Sleep(1100 * time.Millisecond) // code.resend_interval
	p.open(t, "/status")
	p.startFlow(t, "/status", user, "")
	code := oneTimeCode(t, srv.waitMail(t, email, subject(t, "en", "code", map[string]string{"Purpose": "status"})).Text)
	p.enterCode(t, "/status", code)
	page := p.text(t, "main")
	for _, want := range []string{msg(t, "en", "state_frozen"), msg(t, "en", "status_lock_freeze"), "Call the desk"} {
		if !strings.Contains(page, want) {
			t.Errorf("the status page of the frozen account lacks %q:\n%s", want, page)
		}
	}
	if slices.Contains(srv.mailsTo(t, email), subject(t, "en", "unlocked", nil)) {
		t.Errorf("the owner of a frozen account was told it was unlocked")
	}
}
