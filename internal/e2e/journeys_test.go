package e2e

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/chromedp/chromedp"

	"github.com/unlockd/unlockd/web"
)

// msg is the text of a message in a language, read from web/locales, so a change of wording does
// not break these tests (a missing message does).
func msg(t *testing.T, lang, id string) string {
	t.Helper()
	s, ok := messages(t, lang)[id]
	if !ok {
		t.Fatalf("web/locales/%s.toml has no message %q", lang, id)
	}
	return s
}

// messages are all the messages of a language, by id.
func messages(t *testing.T, lang string) map[string]string {
	t.Helper()
	locales.once.Do(func() {
		locales.m = map[string]map[string]string{}
		for _, l := range []string{"en", "zh-CN"} {
			data, err := web.Locales.ReadFile("locales/" + l + ".toml")
			if err != nil {
				locales.err = err
				return
			}
			raw := map[string]any{}
			if err := toml.Unmarshal(data, &raw); err != nil {
				locales.err = err
				return
			}
			// A message with plural forms is a table (one, other): its "other" form stands for it.
			m := map[string]string{}
			for id, v := range raw {
				switch v := v.(type) {
				case string:
					m[id] = v
				case map[string]any:
					m[id], _ = v["other"].(string)
				}
			}
			locales.m[l] = m
		}
	})
	if locales.err != nil {
		t.Fatalf("reading web/locales: %v", locales.err)
	}
	return locales.m[lang]
}

var locales struct {
	once sync.Once
	m    map[string]map[string]string
	err  error
}

const (
	alicePassword = "correct horse battery staple"
	wrongPassword = "definitely-not-the-password"
)

func TestSignInAndSignOut(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServer(t)
	srv.addUser(t, "alice", "alice@example.com", alicePassword, "--display-name", "Alice Liddell")
	p := b.newTab(t, srv.URL, "en")

	if resp := p.open(t, "/login"); resp.Status != http.StatusOK {
		t.Fatalf("GET /login: status %d", resp.Status)
	}
	resp := p.signIn(t, "alice", alicePassword)
	if got := p.path(t); got != "/account" || resp.Status != http.StatusOK {
		t.Fatalf("after signing in: at %s with status %d, want /account with 200", got, resp.Status)
	}
	if got := p.text(t, "main h1"); got != msg(t, "en", "account_title") {
		t.Errorf("account page heading = %q, want %q", got, msg(t, "en", "account_title"))
	}
	if got := p.text(t, "main .lead"); !strings.Contains(got, "Alice Liddell") {
		t.Errorf("account page greeting = %q, want it to name Alice Liddell", got)
	}

	// The header's sign-out control is a button in a POST form, not a link.
	signOut := `header form[method=post][action="/logout"] button[type=submit]`
	if got := p.text(t, signOut); got != msg(t, "en", "nav_sign_out") {
		t.Fatalf("header sign-out button = %q, want %q", got, msg(t, "en", "nav_sign_out"))
	}
	resp = p.navigate(t, "click Sign out", chromedp.Click(chromedp.CSS(signOut)))
	if got := p.path(t); got != "/login" || resp.Status != http.StatusOK {
		t.Fatalf("after signing out: at %s with status %d, want /login with 200", got, resp.Status)
	}
	if got := p.text(t, ".notice.ok"); got != msg(t, "en", "login_signed_out") {
		t.Errorf("signed-out notice = %q, want %q", got, msg(t, "en", "login_signed_out"))
	}
	if n := p.count(t, signOut); n != 0 {
		t.Errorf("the sign-out button is still in the header after signing out")
	}

	// The session is gone on the server too: the account page sends the visitor to sign in.
	p.open(t, "/account")
	if got := p.path(t); got != "/login" {
		t.Fatalf("GET /account after signing out landed on %s, want /login", got)
	}
	if got := p.text(t, ".notice.info"); got != msg(t, "en", "login_required") {
		t.Errorf("notice after the redirect = %q, want %q", got, msg(t, "en", "login_required"))
	}
}

func TestWrongPasswordShowsGenericError(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServer(t)
	srv.addUser(t, "bob", "bob@example.com", "bobs own long passphrase")
	p := b.newTab(t, srv.URL, "en")
	want := msg(t, "en", "login_failed")

	attempt := func(username string) string {
		t.Helper()
		resp := p.signIn(t, username, wrongPassword)
		if got := p.path(t); got != "/login" || resp.Status != http.StatusOK {
			t.Fatalf("wrong password for %q: at %s with status %d, want /login with 200", username, got, resp.Status)
		}
		notice := p.text(t, ".notice.error")
		if notice != want {
			t.Errorf("error notice for %q = %q, want %q", username, notice, want)
		}
		if got := eval[string](t, p, `document.querySelector("#password").getAttribute("aria-invalid")`); got != "true" {
			t.Errorf("the password field is not marked aria-invalid after a failed sign-in")
		}
		if got := eval[string](t, p, `document.querySelector("#password").value`); got != "" {
			t.Errorf("the password field kept the wrong password")
		}
		return notice
	}

	known := attempt("bob")
	p.open(t, "/account")
	if got := p.path(t); got != "/login" {
		t.Fatalf("GET /account after a failed sign-in landed on %s: a session was made", got)
	}
	unknown := attempt("nobody-by-this-name")
	if known != unknown {
		t.Errorf("the notice tells accounts apart:\n known user:   %q\n unknown user: %q", known, unknown)
	}
}

func TestLanguageSwitch(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServer(t)

	t.Run("link switches and a cookie remembers", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/login")
		if got := p.lang(t); got != "en" {
			t.Fatalf("with Accept-Language en: html lang = %q, want en", got)
		}
		if got := p.text(t, "main h1"); got != msg(t, "en", "login_title") {
			t.Errorf("English sign-in heading = %q, want %q", got, msg(t, "en", "login_title"))
		}
		link := `header nav a[hreflang="zh-CN"]`
		if got := p.text(t, link); got != "简体中文" {
			t.Fatalf("language link = %q, want 简体中文", got)
		}
		p.navigate(t, "click 简体中文", chromedp.Click(chromedp.CSS(link)))
		if got := p.lang(t); got != "zh-CN" {
			t.Fatalf("after clicking 简体中文: html lang = %q, want zh-CN", got)
		}
		if got, want := p.text(t, "main h1"), msg(t, "zh-CN", "login_title"); got != want || got != "登录" {
			t.Errorf("Chinese sign-in heading = %q, want 登录", got)
		}
		if got := p.path(t); got != "/login" {
			t.Errorf("the language link left the page: at %s, want /login", got)
		}

		// Another page, reached through the header, without ?lang: the cookie keeps Chinese.
		p.navigate(t, "click the help link", chromedp.Click(chromedp.CSS(`header nav a[href="/help"]`)))
		if got := p.lang(t); got != "zh-CN" {
			t.Fatalf("on /help after switching: html lang = %q, want zh-CN (remembered)", got)
		}
		if got := p.text(t, "main h1"); got != msg(t, "zh-CN", "help_title") {
			t.Errorf("Chinese help heading = %q, want %q", got, msg(t, "zh-CN", "help_title"))
		}
		p.open(t, "/")
		if got := p.lang(t); got != "zh-CN" {
			t.Errorf("on / after switching: html lang = %q, want zh-CN", got)
		}

		// And back.
		p.navigate(t, "click English", chromedp.Click(chromedp.CSS(`header nav a[hreflang="en"]`)))
		if got := p.lang(t); got != "en" {
			t.Errorf("after clicking English: html lang = %q, want en", got)
		}
		p.open(t, "/help")
		if got := p.lang(t); got != "en" {
			t.Errorf("on /help after switching back: html lang = %q, want en", got)
		}
	})

	t.Run("Accept-Language zh-CN gets Chinese", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "zh-CN,zh;q=0.9")
		p.open(t, "/login")
		if got := p.lang(t); got != "zh-CN" {
			t.Fatalf("with Accept-Language zh-CN,zh;q=0.9: html lang = %q, want zh-CN", got)
		}
		if got := p.text(t, "main h1"); got != "登录" {
			t.Errorf("sign-in heading = %q, want 登录", got)
		}
		if got := p.text(t, `header nav a[hreflang="en"]`); got != "English" {
			t.Errorf("language link = %q, want English", got)
		}
	})
}
