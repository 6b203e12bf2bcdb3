package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/unlockd/unlockd/internal/pgtest"
)

// axe-core, the accessibility engine, is read once per process from UNLOCKD_AXE_JS (the Makefile
// sets it) or from where `make test` installs it.
var axeJS struct {
	once sync.Once
	src  string
	err  error
}

func axeSource(t *testing.T) string {
	t.Helper()
	axeJS.once.Do(func() {
		path := os.Getenv("UNLOCKD_AXE_JS")
		if path == "" {
			root, err := findModuleRoot()
			if err != nil {
				axeJS.err = err
				return
			}
			path = filepath.Join(root, ".data", "axe", "node_modules", "axe-core", "axe.min.js")
		}
		data, err := os.ReadFile(path)
		if err != nil {
			axeJS.err = fmt.Errorf("axe-core not found (make test installs it with npm into .data/axe; or set UNLOCKD_AXE_JS): %w", err)
			return
		}
		axeJS.src = string(data)
	})
	pgtest.Prerequisite(t, axeJS.err)
	return axeJS.src
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	URL    string `json:"helpUrl"`
	Nodes  []struct {
		Target  []string `json:"target"`
		HTML    string   `json:"html"`
		Summary string   `json:"summary"`
	} `json:"nodes"`
}

type axeResults struct {
	Violations []axeViolation `json:"violations"`
	Passes     int            `json:"passes"`
	Incomplete []string       `json:"incomplete"`
}

// axeRun runs every axe rule on the page. Runtime.evaluate is not subject to the page's
// Content-Security-Policy (script-src 'self': an inline <script> added to the DOM does not run,
// yet the evaluated axe source does), so the audit sees the real, unmodified pages; the check for
// window.axe in runAxe fails loudly if that ever changes.
const axeRun = `axe.run(document, {resultTypes: ['violations']}).then(r => ({
	violations: r.violations.map(v => ({
		id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
		nodes: v.nodes.map(n => ({
			target: n.target.map(s => Array.isArray(s) ? s.join(' >>> ') : String(s)),
			html: n.html, summary: n.failureSummary || '',
		})),
	})),
	passes: r.passes.length,
	incomplete: r.incomplete.map(v => v.id),
}))`

// runAxe injects axe-core into the page the tab shows and runs it.
func runAxe(t *testing.T, p *tab) axeResults {
	t.Helper()
	p.do(t, chromedp.Evaluate[chromedp.Void](axeSource(t)))
	if !eval[bool](t, p, `typeof window.axe === "object" && typeof window.axe.run === "function"`) {
		t.Fatal("axe-core did not load into the page")
	}
	return run(t, p, "axe.run", chromedp.Evaluate[axeResults](axeRun, chromedp.EvalAwaitPromise))
}

// audit runs axe on the page the tab shows: serious and critical violations fail the test, the
// others are logged.
func audit(t *testing.T, p *tab) {
	t.Helper()
	res := runAxe(t, p)
	for _, v := range res.Violations {
		switch v.Impact {
		case "serious", "critical":
			t.Errorf("accessibility violation: %s", v)
		default:
			t.Logf("accessibility note (not failing): %s", v)
		}
	}
	t.Logf("axe: %d rules passed, %d violated, needs review: %v", res.Passes, len(res.Violations), res.Incomplete)
}

func (v axeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] %s (%s)", v.ID, v.Impact, v.Help, v.URL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    %s  %s", strings.Join(n.Target, ", "), n.HTML)
		if n.Summary != "" {
			fmt.Fprintf(&b, "\n      %s", strings.ReplaceAll(n.Summary, "\n", "\n      "))
		}
	}
	return b.String()
}

func TestAccessibility(t *testing.T) {
	t.Parallel()
	axeSource(t) // skip (or fail in CI) before starting anything when axe-core is missing
	b := newBrowser(t)
	// With mail and SMS, as in production: the self-service pages then offer the choice of method.
	srv := startServerWith(t, serverOptions{Mail: true, SMS: true})
	const password = "a long and accessible passphrase"
	srv.addUser(t, "carol", "carol@example.com", password, "--display-name", "Carol 张", "--phone", "+8613800000000")
	// Each language walks the self-service flows with its own accounts: one account gets one code
	// a minute (code.resend_interval). The unlock and status accounts are locked.
	flowUser := func(kind, tag string) (username, email string) {
		username = kind + "." + strings.ToLower(tag)
		return username, username + "@example.com"
	}
	for _, tag := range []string{"en", "zh-CN"} {
		for _, kind := range []string{"unlock", "status", "reset"} {
			u, e := flowUser(kind, tag)
			srv.addUser(t, u, e, "a long passphrase for "+u)
			if kind != "reset" {
				srv.lockByHTTP(t, u, desktopUA)
			}
		}
	}

	// The audit must be able to fail: plant two violations axe rates critical and see it report them.
	t.Run("axe catches a planted violation", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/login")
		p.do(t, chromedp.Evaluate[chromedp.Void](`document.querySelector("main form").insertAdjacentHTML("beforeend",
			'<img src="/static/img/icon.svg" id="planted-img"><input type="text" id="planted-input">')`))
		found := map[string]bool{}
		for _, v := range runAxe(t, p).Violations {
			if v.Impact == "critical" || v.Impact == "serious" {
				found[v.ID] = true
			}
		}
		for _, id := range []string{"image-alt", "label"} {
			if !found[id] {
				t.Errorf("axe did not report the planted %s violation (found %v)", id, found)
			}
		}
	})

	for _, lang := range []struct{ tag, acceptLanguage string }{
		{"en", "en"},
		{"zh-CN", "zh-CN,zh;q=0.9"},
	} {
		t.Run(lang.tag, func(t *testing.T) {
			p := b.newTab(t, srv.URL, lang.acceptLanguage)
			page := func(name, path string, wantStatus int, prepare func(t *testing.T)) {
				t.Run(name, func(t *testing.T) {
					if path != "" {
						if resp := p.open(t, path); resp.Status != int64(wantStatus) {
							t.Fatalf("GET %s: status %d, want %d", path, resp.Status, wantStatus)
						}
					}
					if prepare != nil {
						prepare(t)
					}
					audit(t, p)
					if got := p.lang(t); got != lang.tag {
						t.Errorf("html lang = %q, want %q", got, lang.tag)
					}
					readsWell(t, p, lang.tag)
				})
			}
			page("home", "/", http.StatusOK, nil)
			page("help", "/help", http.StatusOK, nil)
			page("login", "/login", http.StatusOK, nil)
			page("not found", "/no-such-page", http.StatusNotFound, nil)
			page("login error", "", 0, func(t *testing.T) {
				p.signIn(t, "carol", wrongPassword)
				if p.count(t, ".notice.error") != 1 {
					t.Fatal("the failed sign-in shows no error notice")
				}
			})
			page("account", "", 0, func(t *testing.T) {
				p.signIn(t, "carol", password)
				if got := p.path(t); got != "/account" {
					t.Fatalf("signing in landed on %s, want /account", got)
				}
			})
			page("change password", "/account/password", http.StatusOK, nil)
			page("authenticator app", "/account/totp", http.StatusOK, nil)
			page("contact details", "/account/contact", http.StatusOK, nil)
			page("browsers and devices", "/account/devices", http.StatusOK, nil)
			page("signed out", "", 0, func(t *testing.T) {
				p.navigate(t, "click Sign out", chromedp.Click(chromedp.CSS(`header form[action="/logout"] button`)))
				if p.count(t, ".notice.ok") != 1 {
					t.Fatal("signing out shows no notice")
				}
			})

			// The self-service flows, each page as the visitor meets it.
			unlockUser, unlockEmail := flowUser("unlock", lang.tag)
			var code string
			page("unlock", "/unlock", http.StatusOK, func(t *testing.T) {
				if n := p.count(t, "main input[type=radio][name=method]"); n < 2 {
					t.Fatalf("the unlock page offers %d methods, want the choice of email and SMS", n)
				}
			})
			page("unlock code form", "", 0, func(t *testing.T) {
				p.startFlow(t, "/unlock", unlockUser, "")
				code = oneTimeCode(t, srv.waitMail(t, unlockEmail, subject(t, lang.tag, "code", map[string]string{"Purpose": "unlock"})).Text)
			})
			page("unlock wrong code", "", 0, func(t *testing.T) {
				wrong := "000000"
				if code == wrong {
					wrong = "111111"
				}
				p.enterCode(t, "/unlock", wrong)
				p.wantNotice(t, "error", msg(t, lang.tag, "flow_code_wrong"))
			})
			page("unlocked", "", 0, func(t *testing.T) {
				p.enterCode(t, "/unlock", code)
				p.wantNotice(t, "ok", msg(t, lang.tag, "unlock_done"))
			})
			statusUser, statusEmail := flowUser("status", lang.tag)
			page("status", "/status", http.StatusOK, nil)
			page("status result", "", 0, func(t *testing.T) {
				p.startFlow(t, "/status", statusUser, "")
				code := oneTimeCode(t, srv.waitMail(t, statusEmail, subject(t, lang.tag, "code", map[string]string{"Purpose": "status"})).Text)
				p.enterCode(t, "/status", code)
				if n := p.count(t, "main table.list tbody tr"); n == 0 {
					t.Fatal("the status page of a locked account lists no failed sign-ins")
				}
			})
			t.Run("status result at phone width", func(t *testing.T) {
				// The same page (a form's answer: it cannot be reloaded), laid out again at 375px.
				if p.count(t, "main table.list") == 0 {
					t.Skip("no status result page to look at")
				}
				p.do(t, chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateTouch))
				t.Cleanup(func() { p.do(t, chromedp.ResetViewport()) })
				audit(t, p)
				if w := eval[[]int](t, p, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
					t.Errorf("the status page scrolls sideways at 375px: content %dpx wide in a %dpx viewport", w[0], w[1])
				}
			})
			page("sign in with a code", "/login/code", http.StatusOK, nil)
			page("confirm a new account", "/verify", http.StatusOK, nil)
			resetUser, resetEmail := flowUser("reset", lang.tag)
			page("reset", "/reset", http.StatusOK, nil)
			page("reset link sent", "", 0, func(t *testing.T) {
				p.fill(t, "username", resetUser)
				p.click(t, `main form[action="/reset"] button[type=submit]`)
				p.wantNotice(t, "ok", msg(t, lang.tag, "reset_sent"))
			})
			page("new password", "", 0, func(t *testing.T) {
				link := linkTo(t, srv.waitMail(t, resetEmail, subject(t, lang.tag, "reset_link", nil)).Text, srv.URL+"/reset/")
				if resp := p.open(t, strings.TrimPrefix(link, srv.URL)); resp.Status != http.StatusOK {
					t.Fatalf("the reset link answered %d", resp.Status)
				}
			})
			page("new password refused", "", 0, func(t *testing.T) {
				p.chooseNewPassword(t, "password1234567890", "password1234567890")
				p.wantNotice(t, "error", msg(t, lang.tag, "password_weak_common"))
			})
			page("invalid reset link", "/reset/no-such-token", http.StatusNotFound, func(t *testing.T) {
				p.wantNotice(t, "error", msg(t, lang.tag, "reset_invalid"))
			})
			page("ask an administrator", "/help/request", http.StatusOK, nil)
			page("request sent", "", 0, func(t *testing.T) {
				p.fill(t, "username", "carol")
				p.fill(t, "message", "Locked out after a trip")
				p.click(t, `main form[action="/help/request"] button[type=submit]`)
				if ref := p.text(t, "main #reference"); !referenceRE.MatchString(ref) {
					t.Fatalf("reference = %q, want UR-XXXX-XXXX", ref)
				}
			})
			page("follow a request", "/help/request/status", http.StatusOK, nil)

			t.Run("login at phone width", func(t *testing.T) {
				p.do(t, chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateTouch))
				t.Cleanup(func() { p.do(t, chromedp.ResetViewport()) })
				p.open(t, "/login")
				if got := p.lang(t); got != lang.tag {
					t.Fatalf("html lang = %q, want %q", got, lang.tag)
				}
				audit(t, p)
				// WCAG 1.4.10 (reflow): nothing may need sideways scrolling at phone width.
				if w := eval[[]int](t, p, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
					t.Errorf("the page scrolls sideways at 375px: content %dpx wide in a %dpx viewport", w[0], w[1])
				}
			})
		})
	}
}

// readsWell checks what a person reads on the page now, beyond axe: at 360 px nothing needs
// sideways scrolling (WCAG 1.4.10), no message id shows in place of its words, and a Chinese page
// shows no English sentence of the English messages.
func readsWell(t *testing.T, p *tab, lang string) {
	t.Helper()
	p.do(t, chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile, chromedp.EmulateTouch))
	w := eval[[]int](t, p, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	p.do(t, chromedp.ResetViewport())
	if w[0] > w[1] {
		t.Errorf("%s scrolls sideways at 360px: content %dpx wide in a %dpx viewport", p.path(t), w[0], w[1])
	}
	text := eval[string](t, p, `document.body.innerText`)
	en := messages(t, "en")
	for _, word := range messageIDRE.FindAllString(text, -1) {
		if _, ok := en[word]; ok {
			t.Errorf("%s shows the message id %q instead of its words", p.path(t), word)
		}
	}
	if lang != "zh-CN" {
		return
	}
	zh := messages(t, "zh-CN")
	for id, sentence := range englishSentences(en, zh) {
		if strings.Contains(text, sentence) {
			t.Errorf("%s, in Chinese, shows the English words %q (of %s)", p.path(t), sentence, id)
		}
	}
}

var messageIDRE = regexp.MustCompile(`\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b`)

// englishSentences are the parts of the English messages long enough to be a sentence (three words
// or more, between template fields) that no Chinese message also contains, by message id.
func englishSentences(en, zh map[string]string) map[string]string {
	all := strings.Join(slices.Collect(maps.Values(zh)), "\n")
	out := map[string]string{}
	for id, m := range en {
		for _, part := range templateFieldRE.Split(m, -1) {
			part = strings.TrimSpace(part)
			if len(strings.Fields(part)) >= 3 && !strings.Contains(all, part) {
				out[id] = part
			}
		}
	}
	return out
}

var templateFieldRE = regexp.MustCompile(`\{\{[^}]*\}\}`)
