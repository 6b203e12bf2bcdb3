package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
)

// lastLang is the language of the newest queued message of a template to a recipient.
func (h *harness) lastLang(to, template string) string {
	h.t.Helper()
	var lang string
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT lang FROM outbox WHERE recipient = $1 AND template = $2
		ORDER BY id DESC LIMIT 1`, to, template).Scan(&lang); err != nil {
		h.t.Fatalf("no %s message to %s: %v", template, to, err)
	}
	return lang
}

// A person who signs in from the Chinese pages gets the messages they did not ask for (here an
// administrator's unlock) in Chinese; the language chosen on /account holds from then on.
func TestAccountLanguageIsLearnedAndChosen(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	if res := h.post(c, "/login", url.Values{"username": {"alice"}, "password": {goodPassword}}, "Accept-Language", "zh-CN,zh;q=0.9"); res.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.status)
	}
	h.lock("alice")
	ctx := context.Background()
	if _, err := h.accounts.Staff.Unlock(ctx, "alice", "ticket 7", testActor); err != nil {
		t.Fatal(err)
	}
	if got := h.lastLang("alice@example.com", "unlocked"); got != "zh-CN" {
		t.Errorf("the unlock notice after a sign-in from the Chinese pages is in %q", got)
	}

	c = h.client()
	h.signIn(c, "alice", goodPassword) // from an English browser: learned again
	if res := h.post(c, "/account/language", url.Values{"language": {"zh-CN"}}); res.status != http.StatusSeeOther {
		t.Fatalf("choosing the language: %d", res.status)
	}
	if res := h.post(c, "/account/language", url.Values{"language": {"fr"}}); res.status != http.StatusSeeOther {
		t.Fatalf("a language there is none of: %d", res.status)
	}
	h.lock("alice")
	if _, err := h.accounts.Staff.Unlock(ctx, "alice", "ticket 8", testActor); err != nil {
		t.Fatal(err)
	}
	if got := h.lastLang("alice@example.com", "unlocked"); got != "zh-CN" {
		t.Errorf("the unlock notice after choosing Chinese on /account is in %q", got)
	}
	// A code asked for from an English page comes in English: the person is reading English.
	h.post(h.client(), "/unlock", url.Values{"username": {"alice"}})
	if got := h.lastLang("alice@example.com", "code"); got != "en" {
		t.Errorf("a code asked for from an English page is in %q", got)
	}
}
