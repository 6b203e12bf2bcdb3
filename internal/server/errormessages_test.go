package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
)

// A domain refusal shown on a page speaks the page's language; the English text is the API's and
// the log's.
func TestDomainRefusalsAreShownInThePageLanguage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.addAccount("bob")
	h.lock("alice")
	zh := []string{"Accept-Language", "zh-CN"}
	ctx := context.Background()

	// A request denied without saying why.
	h.post(h.client(), "/help/request", url.Values{"username": {"alice"}, "message": {"locked out"}})
	reqs, _ := h.accounts.Oversight.Requests(ctx, "open")
	if len(reqs) != 1 {
		t.Fatalf("%d open requests", len(reqs))
	}
	hd := h.staff("hd", account.RoleHelpdesk)
	h.post(hd, "/admin/requests/"+itoa(reqs[0].ID)+"/deny", url.Values{"message": {""}}, zh...)
	page := h.get(hd, "/admin/requests", zh...)
	wantChinese(t, "deny without a reason", page.body, "请说明拒绝申请的原因", "say why")

	// A policy value out of range, from the lockout rules and from the domain's own.
	ad := h.staff("ad", account.RoleAdmin)
	res := h.post(ad, "/admin/policy", url.Values{"lockout.threshold": {"0"}, "code.length": {"4"}}, zh...)
	wantChinese(t, "policy out of range", res.body, "code.length 必须在 6 到 10 之间", "must be")
	wantChinese(t, "policy out of range", res.body, "lockout.threshold 不能小于 1", "at least")

	// An action the account's state does not allow names the state as pages name it.
	h.post(ad, "/admin/accounts/bob/unfreeze", url.Values{"reason": {"ticket 1"}, "confirm": {"yes"}}, zh...)
	page = h.get(ad, "/admin/accounts/bob", zh...)
	wantChinese(t, "unfreeze an active account", page.body, "账号当前为“正常”状态", "applies only")

	// A contact change asked again too soon.
	c := h.client()
	h.signIn(c, "bob", goodPassword)
	h.post(c, "/account/contact", url.Values{"kind": {"email"}, "value": {"bob.new@example.org"}}, zh...)
	res = h.post(c, "/account/contact", url.Values{"kind": {"email"}, "value": {"bob.new@example.org"}}, zh...)
	wantChinese(t, "contact change too soon", res.body, "刚才发送的验证码过多", "too many codes")

	// The same refusal stays English for an English page.
	res = h.post(c, "/account/contact", url.Values{"kind": {"sms"}, "value": {""}}, "Accept-Language", "en")
	if !strings.Contains(res.body, "Enter a phone number.") {
		t.Errorf("English page without the English refusal:\n%s", res.body)
	}
}

func wantChinese(t *testing.T, what, body, want, english string) {
	t.Helper()
	if !strings.Contains(body, want) {
		t.Errorf("%s: the page lacks %q:\n%s", what, want, body)
	}
	if strings.Contains(body, english) {
		t.Errorf("%s: the Chinese page shows English (%q)", what, english)
	}
}

// The API keeps answering in English, whatever language the caller's headers ask for.
func TestAPIRefusalsStayEnglish(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/accounts/alice/unlock", strings.NewReader(`{"reason":""}`))
	req.Header.Set("Authorization", "Bearer "+h.token("hd", account.RoleHelpdesk))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Language", "zh-CN")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Error struct{ Code, Message string }
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusBadRequest || out.Error.Code != "invalid" || out.Error.Message != "a reason is required" {
		t.Fatalf("API refusal: %d %+v", res.StatusCode, out)
	}
}
