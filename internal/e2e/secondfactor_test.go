package e2e

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/unlockd/unlockd/internal/secret"
)

// The second factors in a real browser: an authenticator app (TOTP) and recovery codes on the
// account page, the second step of sign-in at /login/totp, the unlock with the authenticator
// alone, the password change on the account page, and the accessibility of these pages.
//
// A TOTP time step works only once (replay protection), and the step of the code that confirms
// the app counts as used: a test that signs in with the app after enrolling it waits for the next
// 30-second step (authenticator.next), and does whatever else it has to do first (sign out, sign
// in with the password, lock the account, try a wrong code), so that it waits as little as it can.
// The other tests (recovery codes, password, accessibility) need no wait: they finish second-step
// sign-ins with recovery codes.

// authenticator is the test's authenticator app: the codes of one secret, and the last time step
// it gave a code for.
type authenticator struct {
	key      string
	lastStep int64
	lastCode string
}

func totpStep(at time.Time) int64 { return at.Unix() / int64(secret.TOTPPeriod/time.Second) }

func (a *authenticator) codeAt(t *testing.T, at time.Time) string {
	t.Helper()
	code, err := secret.TOTPCode(a.key, at)
	if err != nil {
		t.Fatalf("TOTP code of the key %q: %v", a.key, err)
	}
	return code
}

// current is the code the app shows now; its step is then used.
func (a *authenticator) current(t *testing.T) string {
	t.Helper()
	now := time.Now()
	code := a.codeAt(t, now)
	a.lastStep, a.lastCode = totpStep(now), code
	return code
}

// next waits until the app shows a code of a step after the last one used (and different from
// the last code), and returns it; its step is then used.
func (a *authenticator) next(t *testing.T) string {
	t.Helper()
	start := time.Now()
	deadline := start.Add(2*secret.TOTPPeriod + 5*time.Second)
	for {
		now := time.Now()
		if step := totpStep(now); step > a.lastStep {
			if code := a.codeAt(t, now); code != a.lastCode {
				if waited := time.Since(start); waited > 100*time.Millisecond {
					t.Logf("waited %s for the next TOTP time step", waited.Round(100*time.Millisecond))
				}
				a.lastStep, a.lastCode = step, code
				return code
			}
		}
		if now.After(deadline) {
			t.Fatalf("no new TOTP code within %s", deadline.Sub(start))
		}
		// Until just after the next step begins.
		boundary := time.Unix((totpStep(now)+1)*int64(secret.TOTPPeriod/time.Second), 0)
		time.Sleep(min(time.Until(boundary)+20*time.Millisecond, secret.TOTPPeriod))
	}
}

// wrong is a 6-digit code that matches none of the steps the server accepts now or soon.
func (a *authenticator) wrong(t *testing.T) string {
	t.Helper()
	now := time.Now()
	var taken []string
	for d := -2; d <= 3; d++ {
		taken = append(taken, a.codeAt(t, now.Add(time.Duration(d)*secret.TOTPPeriod)))
	}
	for i := 0; ; i++ {
		if c := strings.Repeat(strconv.Itoa(i), 6); !slices.Contains(taken, c) {
			return c
		}
	}
}

var totpKeyRE = regexp.MustCompile(`^[A-Z2-7]{16,}$`)

// enrollTOTP follows the account page's link to the authenticator page, reads the key as a
// person would type it into an app, checks the QR code loads, confirms the app with the code it
// shows now and checks the account page says the app is on. The tab is signed in, at /account.
func (p *tab) enrollTOTP(t *testing.T, lang string) *authenticator {
	t.Helper()
	p.click(t, `main a[href="/account/totp"]`)
	if got := p.path(t); got != "/account/totp" {
		t.Fatalf("the authenticator link led to %s, want /account/totp", got)
	}
	if got := p.text(t, "main h1"); got != msg(t, lang, "totp_title") {
		t.Errorf("authenticator page heading = %q, want %q", got, msg(t, lang, "totp_title"))
	}
	key := p.text(t, "#totp-secret")
	if !totpKeyRE.MatchString(key) {
		t.Fatalf("the key in #totp-secret is %q, want base32", key)
	}
	// The QR code is an image the server makes; the page is complete when it loads, but wait for
	// the image anyway.
	qr := run(t, p, "wait for the QR code", chromedp.Evaluate[[]any](`(async () => {
		const img = document.querySelector('main img[src="/account/totp/qr.png"]');
		if (!img) return [-1, ""];
		if (!img.complete) await new Promise(done => {
			img.addEventListener("load", done, {once: true});
			img.addEventListener("error", done, {once: true});
		});
		return [img.naturalWidth, img.alt];
	})()`, chromedp.EvalAwaitPromise))
	if w, _ := qr[0].(float64); w <= 0 {
		t.Fatalf("the QR code did not load (naturalWidth %v)", qr[0])
	}
	if alt, _ := qr[1].(string); alt != msg(t, lang, "totp_qr_alt") {
		t.Errorf("the QR code's alt text = %q, want %q", alt, msg(t, lang, "totp_qr_alt"))
	}
	app := &authenticator{key: key}
	p.fill(t, "code", app.current(t))
	resp := p.click(t, `main form[action="/account/totp"] button[type=submit]`)
	if resp.Status != http.StatusOK {
		t.Fatalf("confirming the app: status %d (notice %q)", resp.Status, p.notice(t, "error"))
	}
	if p.path(t) == "/account/totp" {
		// An account without recovery codes is shown its ten at once.
		if got := p.text(t, "main h1"); got != msg(t, lang, "recovery_title") {
			t.Fatalf("confirming the app led to a page titled %q, want %q (notice %q)", got, msg(t, lang, "recovery_title"), p.notice(t, "error"))
		}
		p.wantNotice(t, "ok", msg(t, lang, "totp_enrolled_codes"))
		if codes := eval[[]string](t, p, `[...document.querySelectorAll(".recovery-code")].map(e => e.innerText.trim())`); len(codes) != 10 {
			t.Fatalf("%d recovery codes shown after confirming the app, want 10", len(codes))
		}
		p.click(t, `main a[href="/account"]`) // "I have saved them"
	} else {
		p.wantNotice(t, "ok", msg(t, lang, "totp_enrolled"))
	}
	if got := p.path(t); got != "/account" {
		t.Fatalf("after confirming the app: at %s, want /account", got)
	}
	if got := p.accountFact(t, msg(t, lang, "account_totp")); !strings.HasPrefix(got, msg(t, lang, "account_totp_on")) {
		t.Errorf("after confirming the app the account page says %q about it, want %q", got, msg(t, lang, "account_totp_on"))
	}
	return app
}

// accountFact is the text of the row of the account page's lists whose label is the given text.
func (p *tab) accountFact(t *testing.T, label string) string {
	t.Helper()
	return eval[string](t, p, fmt.Sprintf(`([...document.querySelectorAll("main dl.facts > div")]
		.find(d => d.querySelector("dt")?.innerText.trim() === %q)?.querySelector("dd")?.innerText ?? "").trim()`, label))
}

// signOutByHeader clicks the header's sign-out button and checks the tab lands on /login.
func (p *tab) signOutByHeader(t *testing.T) {
	t.Helper()
	p.click(t, `header form[action="/logout"] button[type=submit]`)
	if got := p.path(t); got != "/login" {
		t.Fatalf("signing out landed on %s, want /login", got)
	}
}

// signInToSecondStep signs in with the password and checks the tab is asked for the second factor.
func (p *tab) signInToSecondStep(t *testing.T, lang, username, password string) {
	t.Helper()
	resp := p.signIn(t, username, password)
	if got := p.path(t); got != "/login/totp" || resp.Status != http.StatusOK {
		t.Fatalf("the password of an account with a second factor: at %s with status %d, want /login/totp with 200", got, resp.Status)
	}
	if got := p.text(t, "main h1"); got != msg(t, lang, "logintotp_title") {
		t.Errorf("second step heading = %q, want %q", got, msg(t, lang, "logintotp_title"))
	}
}

// secondStep types a code into /login/totp and sends it.
func (p *tab) secondStep(t *testing.T, code string) *network.Response {
	t.Helper()
	p.fill(t, "code", code)
	return p.click(t, `main form[action="/login/totp"] button[type=submit]`)
}

// wantSignedIn checks the second step led to the account page.
func (p *tab) wantSignedIn(t *testing.T, resp *network.Response, what string) {
	t.Helper()
	if got := p.path(t); got != "/account" || resp.Status != http.StatusOK {
		t.Fatalf("%s: at %s with status %d, want /account with 200 (error notice %q)", what, got, resp.Status, p.notice(t, "error"))
	}
}

// wantSecondStepRefused checks /login/totp refused the code: the same page, the error notice, the
// field marked invalid.
func (p *tab) wantSecondStepRefused(t *testing.T, lang, what string) {
	t.Helper()
	if got := p.path(t); got != "/login/totp" {
		t.Fatalf("%s: at %s, want refused at /login/totp", what, got)
	}
	p.wantNotice(t, "error", msg(t, lang, "logintotp_wrong"))
	if got := p.attr(t, "#code", "aria-invalid"); got != "true" {
		t.Errorf("%s: the code field has aria-invalid=%q, want true", what, got)
	}
}

// withCount fills the {{.Count}} of a message.
func withCount(t *testing.T, lang, id string, n int) string {
	t.Helper()
	return strings.ReplaceAll(msg(t, lang, id), "{{.Count}}", strconv.Itoa(n))
}

func TestEnrollTOTPAndSignInWithIt(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const user, password = "tomas.berg", "tomas keeps a long passphrase"
	srv.addUser(t, user, "tomas.berg@example.com", password, "--display-name", "Tomas Berg")
	p := b.newTab(t, srv.URL, "en")

	p.signIn(t, user, password)
	if got := p.path(t); got != "/account" {
		t.Fatalf("signing in landed on %s, want /account", got)
	}
	if got := p.accountFact(t, msg(t, "en", "account_totp")); !strings.HasPrefix(got, msg(t, "en", "account_totp_off")) {
		t.Errorf("before enrolling, the account page says %q about the authenticator, want %q", got, msg(t, "en", "account_totp_off"))
	}
	app := p.enrollTOTP(t, "en")
	enrolStep, enrolCode := app.lastStep, app.lastCode

	// The password alone is now only the first step.
	p.signOutByHeader(t)
	p.signInToSecondStep(t, "en", user, password)
	// The code that confirmed the app is used: it does not sign in.
	if totpStep(time.Now()) <= enrolStep+1 {
		p.secondStep(t, enrolCode)
		p.wantSecondStepRefused(t, "en", "the code that confirmed the app")
	}
	resp := p.secondStep(t, app.next(t))
	p.wantSignedIn(t, resp, "a fresh authenticator code")
	if got := p.accountFact(t, msg(t, "en", "account_totp")); !strings.HasPrefix(got, msg(t, "en", "account_totp_on")) {
		t.Errorf("the account page says %q about the authenticator, want %q", got, msg(t, "en", "account_totp_on"))
	}

	// The same code again, after signing out: refused (it would still be within the accepted
	// window of one step either side, so it is the replay protection that refuses it).
	p.signOutByHeader(t)
	p.signInToSecondStep(t, "en", user, password)
	if totpStep(time.Now()) > app.lastStep+1 {
		t.Logf("the replayed code is also past its time window: this run does not tell replay protection from expiry")
	}
	p.secondStep(t, app.lastCode)
	p.wantSecondStepRefused(t, "en", "the same authenticator code again")
	p.open(t, "/account")
	if got := p.path(t); got != "/login" {
		t.Fatalf("after the refused code, GET /account landed on %s, want /login", got)
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

func TestUnlockWithTOTPAlone(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t) // no mail server: the authenticator needs no message
	const user, password = "nadia.karim", "nadia has a long passphrase"
	srv.addUser(t, user, "nadia.karim@example.com", password, "--display-name", "Nadia Karim")

	p := b.newTab(t, srv.URL, "en")
	p.signIn(t, user, password)
	if got := p.path(t); got != "/account" {
		t.Fatalf("signing in landed on %s, want /account", got)
	}
	app := p.enrollTOTP(t, "en")

	// Ten wrong passwords lock the account.
	srv.lockByHTTP(t, user, desktopUA)

	// On another device, the owner unlocks with the authenticator app alone.
	u := b.newTab(t, srv.URL, "en")
	u.open(t, "/unlock")
	if got := u.text(t, `main label.choice:has(input[name=method][value=totp])`); got != msg(t, "en", "flow_method_totp") {
		t.Errorf("the authenticator method is labelled %q, want %q", got, msg(t, "en", "flow_method_totp"))
	}
	u.startFlow(t, "/unlock", user, "totp")
	if got := u.text(t, "main"); !strings.Contains(got, msg(t, "en", "flow_enter_totp")) {
		t.Errorf("the code form does not ask for the authenticator's code: %q", got)
	}
	// While the app's step is still the used one: a wrong code is refused and unlocks nothing.
	u.enterCode(t, "/unlock", app.wrong(t))
	u.wantNotice(t, "error", msg(t, "en", "flow_code_wrong"))
	if a := srv.show(t, user); a.State != "locked_temporarily" {
		t.Fatalf("after a wrong authenticator code the account is %s, want still locked_temporarily", a.State)
	}

	resp := u.enterCode(t, "/unlock", app.next(t))
	if resp.Status != http.StatusOK {
		t.Fatalf("the unlock answered %d", resp.Status)
	}
	u.wantNotice(t, "ok", msg(t, "en", "unlock_done"))
	if got := u.text(t, "main h1"); got != msg(t, "en", "unlock_title") {
		t.Errorf("unlocked page heading = %q, want %q", got, msg(t, "en", "unlock_title"))
	}
	if a := srv.show(t, user); a.State != "active" || a.LockedUntil != nil || a.FailedAttempts != 0 {
		t.Fatalf("after the unlock: %+v, want active with no lock and no failures", a)
	}
	// The password works again (and leads to the second step).
	u.open(t, "/login")
	u.signInToSecondStep(t, "en", user, password)
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

var recoveryCodeRE = regexp.MustCompile(`^[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}$`)

func TestRecoveryCodesWorkOnceAndRunOut(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const user, password = "ruth.adler", "ruth prefers long passphrases"
	srv.addUser(t, user, "ruth.adler@example.com", password, "--display-name", "Ruth Adler")
	p := b.newTab(t, srv.URL, "en")

	p.signIn(t, user, password)
	if got := p.path(t); got != "/account" {
		t.Fatalf("signing in landed on %s, want /account", got)
	}
	recoveryRow := msg(t, "en", "account_recovery")
	if got := p.accountFact(t, recoveryRow); !strings.HasPrefix(got, withCount(t, "en", "account_recovery_left", 0)) {
		t.Errorf("before making codes the account page says %q about recovery codes, want %q", got, withCount(t, "en", "account_recovery_left", 0))
	}
	p.click(t, `main form[method=post][action="/account/recovery-codes"] button[type=submit]`)
	if got := p.text(t, "main h1"); got != msg(t, "en", "recovery_title") {
		t.Fatalf("making recovery codes led to a page titled %q, want %q", got, msg(t, "en", "recovery_title"))
	}
	codes := eval[[]string](t, p, `[...document.querySelectorAll(".recovery-code")].map(e => e.innerText.trim())`)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10: %q", len(codes), codes)
	}
	for i, c := range codes {
		if !recoveryCodeRE.MatchString(c) || slices.Index(codes, c) != i {
			t.Fatalf("recovery code %d is %q; want ten different codes like ABCD-EFGH-JKLM-NPQR: %q", i+1, c, codes)
		}
	}
	p.click(t, `main a[href="/account"]`) // "I have saved them"
	if got := p.accountFact(t, recoveryRow); !strings.HasPrefix(got, withCount(t, "en", "account_recovery_left", 10)) {
		t.Errorf("after making codes the account page says %q, want %q", got, withCount(t, "en", "account_recovery_left", 10))
	}

	// The first code, typed as a person might: lower case, spaces for dashes.
	p.signOutByHeader(t)
	p.signInToSecondStep(t, "en", user, password)
	typed := strings.ToLower(strings.ReplaceAll(codes[0], "-", " "))
	p.wantSignedIn(t, p.secondStep(t, typed), fmt.Sprintf("recovery code 1 typed as %q", typed))
	// The same code again, as shown: refused. Another one then works on the same page.
	p.signOutByHeader(t)
	p.signInToSecondStep(t, "en", user, password)
	p.secondStep(t, codes[0])
	p.wantSecondStepRefused(t, "en", "a used recovery code")
	p.wantSignedIn(t, p.secondStep(t, codes[1]), "recovery code 2 after a refused one")
	// The rest, one per sign-in.
	for i := 2; i < len(codes); i++ {
		if got, want := p.accountFact(t, recoveryRow), withCount(t, "en", "account_recovery_left", 10-i); !strings.HasPrefix(got, want) {
			t.Errorf("with %d codes used the account page says %q, want %q", i, got, want)
		}
		p.signOutByHeader(t)
		p.signInToSecondStep(t, "en", user, password)
		p.wantSignedIn(t, p.secondStep(t, codes[i]), fmt.Sprintf("recovery code %d", i+1))
	}
	if got, want := p.accountFact(t, recoveryRow), withCount(t, "en", "account_recovery_left", 0); !strings.HasPrefix(got, want) {
		t.Errorf("with every code used the account page says %q, want %q", got, want)
	}
	// No second factor is left, so the password alone signs in again.
	p.signOutByHeader(t)
	p.signIn(t, user, password)
	if got := p.path(t); got != "/account" {
		t.Errorf("with no second factor left the password led to %s, want /account", got)
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

func TestChangePasswordFromAccountPage(t *testing.T) {
	t.Parallel()
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const user, oldPassword, newPassword = "lucia.ferraro", "lucia picked this long one", "paper boats on a winter canal"
	srv.addUser(t, user, "lucia.ferraro@example.com", oldPassword, "--display-name", "Lucia Ferraro")
	p := b.newTab(t, srv.URL, "en")

	p.signIn(t, user, oldPassword)
	if got := p.path(t); got != "/account" {
		t.Fatalf("signing in landed on %s, want /account", got)
	}
	p.click(t, `main a[href="/account/password"]`)
	if got := p.text(t, "main h1"); got != msg(t, "en", "password_title") {
		t.Fatalf("the password link led to a page titled %q, want %q", got, msg(t, "en", "password_title"))
	}
	// Without a second factor the policy's password.min_length applies (15 by default).
	if got, want := p.text(t, "#password-hint"), strings.ReplaceAll(msg(t, "en", "reset_rules"), "{{.Min}}", "15"); got != want {
		t.Errorf("password hint = %q, want %q", got, want)
	}
	p.fill(t, "current_password", oldPassword)
	p.fill(t, "password", newPassword)
	p.fill(t, "password_confirm", newPassword)
	resp := p.click(t, `main form[action="/account/password"] button[type=submit]`)
	if got := p.path(t); got != "/account" || resp.Status != http.StatusOK {
		t.Fatalf("changing the password: at %s with status %d, want /account with 200 (error notice %q)", got, resp.Status, p.notice(t, "error"))
	}
	p.wantNotice(t, "ok", msg(t, "en", "password_changed_ok"))

	p.signOutByHeader(t)
	p.signIn(t, user, oldPassword)
	p.wantNotice(t, "error", msg(t, "en", "login_failed"))
	p.signIn(t, user, newPassword)
	if got := p.path(t); got != "/account" {
		t.Fatalf("the new password led to %s, want /account", got)
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

// checkReflow fails when the page needs sideways scrolling at 320 CSS pixels wide (WCAG 1.4.10,
// reflow), and puts the viewport back.
func checkReflow(t *testing.T, p *tab) {
	t.Helper()
	p.do(t, chromedp.EmulateViewport(320, 640, chromedp.EmulateMobile, chromedp.EmulateTouch))
	w := eval[[]int](t, p, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	p.do(t, chromedp.ResetViewport())
	if w[0] <= w[1] {
		return
	}
	path := p.path(t)
	t.Errorf("%s scrolls sideways at 320px: content %dpx wide in a %dpx viewport", path, w[0], w[1])
}

// TestSecondFactorPagesAccessibility runs axe on the account pages with second factors and on
// the second step of sign-in, in English and in Chinese (chosen with the header's language link,
// which a cookie then remembers), and checks each page reflows at phone width.
func TestSecondFactorPagesAccessibility(t *testing.T) {
	t.Parallel()
	axeSource(t) // skip (or fail in CI) before starting anything when axe-core is missing
	start := time.Now()
	b := newBrowser(t)
	srv := startServer(t)
	const password = "an accessible and long passphrase"

	for _, lang := range []string{"en", "zh-CN"} {
		t.Run(lang, func(t *testing.T) {
			user := "access." + strings.ToLower(lang)
			srv.addUser(t, user, user+"@example.com", password, "--display-name", "Access 无障碍")
			p := b.newTab(t, srv.URL, "en")
			p.open(t, "/login")
			if lang != "en" {
				p.click(t, fmt.Sprintf(`header nav a[hreflang=%q]`, lang))
			}
			page := func(name string, prepare func(t *testing.T)) {
				t.Helper()
				t.Run(name, func(t *testing.T) {
					prepare(t)
					if got := p.lang(t); got != lang {
						t.Fatalf("html lang = %q, want %q", got, lang)
					}
					audit(t, p)
					checkReflow(t, p)
				})
			}
			var app *authenticator
			var codes []string
			p.signIn(t, user, password)
			if got := p.path(t); got != "/account" {
				t.Fatalf("signing in landed on %s, want /account", got)
			}
			page("authenticator", func(t *testing.T) {
				p.click(t, `main a[href="/account/totp"]`)
				if got := p.path(t); got != "/account/totp" {
					t.Fatalf("at %s, want /account/totp", got)
				}
			})
			page("authenticator wrong code", func(t *testing.T) {
				app = &authenticator{key: p.text(t, "#totp-secret")}
				p.fill(t, "code", app.wrong(t))
				p.click(t, `main form[action="/account/totp"] button[type=submit]`)
				p.wantNotice(t, "error", msg(t, lang, "totp_wrong"))
			})
			page("account with the authenticator on", func(t *testing.T) {
				p.open(t, "/account")
				app = p.enrollTOTP(t, lang)
			})
			page("recovery codes", func(t *testing.T) {
				p.click(t, `main form[method=post][action="/account/recovery-codes"] button[type=submit]`)
				codes = eval[[]string](t, p, `[...document.querySelectorAll(".recovery-code")].map(e => e.innerText.trim())`)
				if len(codes) != 10 {
					t.Fatalf("%d recovery codes shown, want 10", len(codes))
				}
			})
			page("account with both second factors", func(t *testing.T) {
				p.click(t, `main a[href="/account"]`)
				if got, want := p.accountFact(t, msg(t, lang, "account_recovery")), withCount(t, lang, "account_recovery_left", 10); !strings.HasPrefix(got, want) {
					t.Errorf("recovery codes row = %q, want %q", got, want)
				}
			})
			page("change password", func(t *testing.T) {
				p.click(t, `main a[href="/account/password"]`)
				if got := p.path(t); got != "/account/password" {
					t.Fatalf("at %s, want /account/password", got)
				}
			})
			page("change password wrong current", func(t *testing.T) {
				p.fill(t, "current_password", "not the current password at all")
				p.fill(t, "password", "paper boats on a winter canal")
				p.fill(t, "password_confirm", "paper boats on a winter canal")
				p.click(t, `main form[action="/account/password"] button[type=submit]`)
				p.wantNotice(t, "error", msg(t, lang, "password_wrong_current"))
			})
			page("change contact", func(t *testing.T) {
				p.open(t, "/account")
				p.click(t, `main a[href="/account/contact"]`)
				if got := p.path(t); got != "/account/contact" {
					t.Fatalf("at %s, want /account/contact", got)
				}
			})
			page("second step", func(t *testing.T) {
				p.signOutByHeader(t)
				p.signInToSecondStep(t, lang, user, password)
			})
			page("second step wrong code", func(t *testing.T) {
				p.secondStep(t, app.wrong(t))
				p.wantSecondStepRefused(t, lang, "a wrong code")
			})
			// Finish the sign-in with a recovery code: no wait for the next TOTP step.
			if len(codes) > 0 {
				p.wantSignedIn(t, p.secondStep(t, codes[0]), "a recovery code")
			}
		})
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}
