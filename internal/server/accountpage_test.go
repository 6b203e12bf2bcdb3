package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestAccountPageShowsHistoryDevicesAndSessions(t *testing.T) {
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
