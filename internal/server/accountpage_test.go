package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
)

func TestAccountPageShowsHistoryDevicesAndSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.signIn(h.client(), "alice", "a wrong password here")
	other := h.client()
	h.signIn(other, "alice", goodPassword)
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	page := h.get(c, "/account")
	for _, want := range []string{"Sign-in history", "Failed", "Signed in", "Known devices", "this browser", "Sign out there"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	// End the other browser's session from here.
	m := regexp.MustCompile(`action="(/account/sessions/[0-9a-f]+/end)"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatal("no session to end")
	}
	if res := h.post(c, m[1], url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("end session: %d", res.status)
	}
	if res := h.get(other, "/account"); res.status != http.StatusSeeOther {
		t.Fatal("the other browser is still signed in")
	}
	if res := h.get(c, "/account"); res.status != http.StatusOK {
		t.Fatal("this browser was signed out too")
	}
	// Forget a device.
	d := regexp.MustCompile(`action="(/account/devices/\d+/forget)"`).FindStringSubmatch(page.body)
	if d == nil {
		t.Fatal("no device listed")
	}
	if res := h.post(c, d[1], url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("forget device: %d", res.status)
	}
}

func TestChangePasswordNeedsTheCurrentOneAndEndsOtherSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	other := h.client()
	h.signIn(other, "alice", goodPassword)
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	newPassword := "paper boats on a winter canal"
	if res := h.post(c, "/account/password", url.Values{"current_password": {"not it at all"}, "password": {newPassword}, "password_confirm": {newPassword}}); !strings.Contains(res.body, "current password is not correct") {
		t.Fatal("a wrong current password was accepted")
	}
	if res := h.post(c, "/account/password", url.Values{"current_password": {goodPassword}, "password": {"alice2026alice"}, "password_confirm": {"alice2026alice"}}); !strings.Contains(res.body, `class="notice error"`) {
		t.Fatal("a weak password was accepted")
	}
	// A guessable password is refused with the reason.
	if res := h.post(c, "/account/password", url.Values{"current_password": {goodPassword}, "password": {"zxcvbnmasdfghjkl"}, "password_confirm": {"zxcvbnmasdfghjkl"}}); !strings.Contains(res.body, "one of the most common passwords") {
		t.Fatal("a common password was refused without its reason")
	}
	res := h.post(c, "/account/password", url.Values{"current_password": {goodPassword}, "password": {newPassword}, "password_confirm": {newPassword}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("change: %d\n%s", res.status, res.body)
	}
	if res := h.get(c, "/account"); res.status != http.StatusOK {
		t.Fatal("the changing browser was signed out")
	}
	if res := h.get(other, "/account"); res.status != http.StatusSeeOther {
		t.Fatal("another browser stayed signed in")
	}
	h.lastMessage("alice@example.com", "password_changed")
	if res := h.signIn(h.client(), "alice", newPassword); res.status != http.StatusSeeOther {
		t.Fatal("the new password does not sign in")
	}
}

func TestChangingEmailVerifiesTheNewOneAndTellsTheOld(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	res := h.post(c, "/account/contact", url.Values{"kind": {"email"}, "value": {"alice.new@example.org"}})
	if !strings.Contains(res.body, "a***@example.org") {
		t.Fatalf("the page does not name the masked new address:\n%s", res.body)
	}
	code := h.lastMessage("alice.new@example.org", "code")["Code"]
	if res := h.post(c, "/account/contact/verify", url.Values{"code": {"000000"}}); !strings.Contains(res.body, `class="notice error"`) {
		t.Fatal("a wrong code changed the address")
	}
	if res := h.post(c, "/account/contact/verify", url.Values{"code": {code}}); res.status != http.StatusSeeOther {
		t.Fatalf("verify: %d\n%s", res.status, res.body)
	}
	if got := h.lastMessage("alice@example.com", "factor_changed")["Change"]; got != "email_changed" {
		t.Fatalf("the old address was told %q", got)
	}
	if res := h.signIn(h.client(), "alice.new@example.org", goodPassword); res.status != http.StatusSeeOther {
		t.Fatal("cannot sign in with the new address")
	}
}

// The password form is no way around the lock: wrong current passwords count like failed
// sign-ins (SECURITY.md 4), and at the threshold the account locks.
func TestWrongCurrentPasswordsCountAsFailedSignIns(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	policy, err := h.accounts.Staff.Policy(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < policy.Lockout.Threshold; i++ {
		h.post(c, "/account/password", url.Values{"current_password": {fmt.Sprintf("guess number %d", i)},
			"password": {"a different long passphrase"}, "password_confirm": {"a different long passphrase"}})
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateLockedTemporarily {
		t.Fatalf("after %d wrong current passwords the account is %s", policy.Lockout.Threshold, a.State)
	}
	// Locked, even the right one changes nothing.
	newPassword := "lanterns drift over the quiet harbour"
	if res := h.post(c, "/account/password", url.Values{"current_password": {goodPassword}, "password": {newPassword},
		"password_confirm": {newPassword}}); res.status == http.StatusSeeOther {
		t.Fatal("the password changed on a locked account")
	}
}

// A long-used account's page lists the latest few browsers and links to them all; signing out
// everywhere else from there keeps this browser signed in and no other, of this account only.
func TestAccountPageListsTheLatestBrowsersAndSignsOutTheRest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.addAccount("bob")
	var others []*http.Client
	for range 6 {
		c := h.client()
		h.signIn(c, "alice", goodPassword)
		others = append(others, c)
	}
	bob := h.client()
	h.signIn(bob, "bob", goodPassword)
	c := h.client()
	h.signIn(c, "alice", goodPassword)

	page := h.get(c, "/account")
	for _, want := range []string{"The latest 5 of 7 known devices are listed.", "The latest 5 of 7 signed-in browsers are listed.",
		`href="/account/devices"`, "Sign out everywhere else"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	if n := strings.Count(page.body, "/end\""); n != 4 {
		t.Errorf("the account page offers to end %d sessions, want 4 (five listed, this one among them)", n)
	}
	all := h.get(c, "/account/devices")
	if n := strings.Count(all.body, "/end\""); n != 6 || strings.Count(all.body, "/forget\"") != 7 || strings.Contains(all.body, "The latest") {
		t.Errorf("the page of all browsers lists %d sessions to end, %d devices; want 6 and 7, all", n, strings.Count(all.body, "/forget\""))
	}
	res := h.post(c, "/account/sessions/end-others", url.Values{"from": {"devices"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account/devices" {
		t.Fatalf("end others: %d to %q", res.status, res.header.Get("Location"))
	}
	if page := h.get(c, "/account/devices"); !strings.Contains(page.body, "6 other browsers are signed out.") || strings.Contains(page.body, "Sign out everywhere else") {
		t.Error("the page does not say six were signed out, or still offers it")
	}
	for i, o := range others {
		if res := h.get(o, "/account"); res.status != http.StatusSeeOther {
			t.Errorf("alice's browser %d is still signed in", i)
		}
	}
	for range 2 { // this browser took the new epoch: it stays signed in, request after request
		if res := h.get(c, "/account"); res.status != http.StatusOK {
			t.Fatal("this browser was signed out too")
		}
	}
	if res := h.get(bob, "/account"); res.status != http.StatusOK {
		t.Error("bob was signed out by alice's sign-out everywhere")
	}
}
