package e2e

import (
	"strings"
	"testing"
)

// Someone who used the Chinese pages gets the mail they did not ask for in Chinese, and with
// UNLOCKD_TIMEZONE=Asia/Shanghai the pages and the mail tell Beijing time; a zone chosen on /account
// then holds for the pages and the mail.
func TestLaterMailKeepsLanguageAndZone(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)
	srv := startServerWith(t, serverOptions{Mail: true, Env: []string{"UNLOCKD_TIMEZONE=Asia/Shanghai"}})
	const password = "a long passphrase for wang fang"
	srv.addUser(t, "wang.fang", "wang.fang@example.com", password, "--display-name", "王芳")

	p := b.newTab(t, srv.URL, "zh-CN,zh;q=0.9")
	p.signIn(t, "wang.fang", password)
	if got := p.path(t); got != "/account" {
		t.Fatalf("signing in landed on %s", got)
	}
	if text := p.text(t, "main"); !strings.Contains(text, "北京时间") {
		t.Errorf("the Chinese account page names no 北京时间:\n%s", text)
	}

	// An administrator's unlock, not asked for from any page: in Chinese, in Beijing time.
	srv.lockByHTTP(t, "wang.fang", desktopUA)
	srv.cli(t, "user", "unlock", "wang.fang", "--reason", "ticket 12")
	m := srv.waitMail(t, "wang.fang@example.com", subject(t, "zh-CN", "unlocked", nil))
	if !strings.Contains(m.Text, "北京时间") {
		t.Errorf("the unlock notice tells no Beijing time:\n%s", m.Text)
	}

	// Her own zone, chosen on /account, for the page and the next notice.
	p.open(t, "/account")
	p.fill(t, "time_zone", "Europe/Berlin")
	p.click(t, `main form[action="/account/time-zone"] button[type=submit]`)
	p.wantNotice(t, "ok", msg(t, "zh-CN", "account_time_zone_saved"))
	if text := p.text(t, "main"); strings.Contains(text, "北京时间") || !strings.Contains(text, "UTC+01:00") && !strings.Contains(text, "UTC+02:00") {
		t.Errorf("after choosing Europe/Berlin the account page does not show Berlin's time:\n%s", text)
	}
	srv.lockByHTTP(t, "wang.fang", desktopUA)
	srv.cli(t, "user", "unlock", "wang.fang", "--reason", "ticket 13")
	m = srv.waitMail(t, "wang.fang@example.com", subject(t, "zh-CN", "unlocked", nil))
	if strings.Contains(m.Text, "北京时间") || !strings.Contains(m.Text, "UTC+01:00") && !strings.Contains(m.Text, "UTC+02:00") {
		t.Errorf("the unlock notice after choosing Europe/Berlin is not in Berlin's time:\n%s", m.Text)
	}
}
