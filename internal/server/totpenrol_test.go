package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

var totpSecretPattern = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// totpKeyOn reads the key the enrolment page shows.
func (h *harness) totpKeyOn(c *http.Client) (string, string) {
	h.t.Helper()
	page := h.get(c, "/account/totp")
	m := totpSecretPattern.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		h.t.Fatalf("no key on /account/totp (%d)", page.status)
	}
	return m[1], page.body
}

// The key waits in the session until it is confirmed: a reload (or a second tab of the same
// browser) shows the key already scanned, until the person asks for a new one.
func TestTOTPEnrolmentKeepsItsKey(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	first, page := h.totpKeyOn(c)
	// The phone's own authenticator app opens the key from a link, beside the QR code and the text.
	link := regexp.MustCompile(`<a href="(otpauth://totp/[^"]+)" id="totp-link">`).FindStringSubmatch(page)
	if link == nil || !strings.Contains(link[1], "secret="+first) {
		t.Fatalf("no otpauth link for the key %s on the page", first)
	}
	for i := 0; i < 3; i++ {
		if again, _ := h.totpKeyOn(c); again != first {
			t.Fatalf("reload %d showed key %s, want the pending %s", i+1, again, first)
		}
	}
	if qr := h.get(c, "/account/totp/qr.png"); qr.status != http.StatusOK {
		t.Fatalf("QR code: %d", qr.status)
	}

	// Another person's session never sees it.
	h.addAccount("bob")
	b := h.client()
	h.signIn(b, "bob", goodPassword)
	if other, _ := h.totpKeyOn(b); other == first {
		t.Fatal("another account was shown the same key")
	}

	// Starting again makes a new key; the old one no longer confirms.
	res := h.post(c, "/account/totp/new", url.Values{})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account/totp" {
		t.Fatalf("start again: %d %s", res.status, res.header.Get("Location"))
	}
	second, _ := h.totpKeyOn(c)
	if second == first {
		t.Fatal("starting again kept the old key")
	}
	old, _ := secret.TOTPCode(first, time.Now())
	if res := h.post(c, "/account/totp", url.Values{"code": {old}}); res.status != http.StatusOK || !strings.Contains(res.body, `id="form-error"`) {
		t.Fatalf("a code of the abandoned key: %d", res.status)
	}
	if again, _ := h.totpKeyOn(c); again != second {
		t.Fatal("a wrong code changed the pending key")
	}
	status, _ := h.accounts.SecondFactors.SecondFactorStatus(context.Background(), mustID(h, "alice"))
	if status.TOTP {
		t.Fatal("an authenticator was enrolled with the abandoned key")
	}
}

// Confirming the app shows the ten recovery codes at once when the account has none, ready to
// download; with codes left it goes back to the account page.
func TestConfirmingTheAppShowsRecoveryCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	key, _ := h.totpKeyOn(c)
	code, _ := secret.TOTPCode(key, time.Now())
	res := h.post(c, "/account/totp", url.Values{"code": {code}})
	codes := recoveryCodePattern.FindAllStringSubmatch(res.body, -1)
	if res.status != http.StatusOK || len(codes) != account.RecoveryCodeCount {
		t.Fatalf("confirming: %d with %d recovery codes, want 200 with %d", res.status, len(codes), account.RecoveryCodeCount)
	}
	if !strings.Contains(res.body, `class="notice ok"`) || !strings.Contains(res.body, `action="/account/recovery-codes/download"`) {
		t.Fatal("the page does not say the app is on or offer the download")
	}
	status, _ := h.accounts.SecondFactors.SecondFactorStatus(context.Background(), mustID(h, "alice"))
	if !status.TOTP || status.RecoveryLeft != account.RecoveryCodeCount {
		t.Fatalf("after confirming: %+v", status)
	}
	if dl := h.post(c, "/account/recovery-codes/download", url.Values{}); dl.status != http.StatusOK || !strings.Contains(dl.body, codes[9][1]) {
		t.Fatalf("download: %d", dl.status)
	}
	// The key is used up: the next visit makes a new one.
	if next, _ := h.totpKeyOn(c); next == key {
		t.Fatal("the confirmed key is offered again")
	}

	// Replacing the app while codes remain keeps them and goes back to the account page.
	h.lastMessage("alice@example.com", "factor_changed")
	key2, _ := h.totpKeyOn(c)
	code2 := nextCode(t, key2, "")
	res = h.post(c, "/account/totp", url.Values{"code": {code2}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("replacing the app: %d %s", res.status, res.header.Get("Location"))
	}
	status, _ = h.accounts.SecondFactors.SecondFactorStatus(context.Background(), mustID(h, "alice"))
	if status.RecoveryLeft != account.RecoveryCodeCount {
		t.Fatalf("replacing the app left %d recovery codes", status.RecoveryLeft)
	}
}

// The enrolment page and the codes speak Chinese on Chinese pages.
func TestTOTPEnrolmentInChinese(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	page := h.get(c, "/account/totp", "Accept-Language", "zh-CN")
	if !strings.Contains(page.body, "在本设备的身份验证器应用中打开") || !strings.Contains(page.body, "使用新密钥重新开始") {
		t.Fatal("the enrolment page is not in Chinese")
	}
}
