package server_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// enrollTOTP turns on an authenticator for a signed-in client, reading the key from the page as a
// person would type it into an app, and returns the secret and the code it used. An account without
// recovery codes is shown its ten at once.
func (h *harness) enrollTOTP(c *http.Client) (string, string) {
	h.t.Helper()
	page := h.get(c, "/account/totp")
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(page.body)
	if m == nil {
		h.t.Fatalf("no secret on /account/totp (%d)", page.status)
	}
	if qr := h.get(c, "/account/totp/qr.png"); qr.status != http.StatusOK || qr.header.Get("Content-Type") != "image/png" {
		h.t.Fatalf("QR code: %d %s", qr.status, qr.header.Get("Content-Type"))
	}
	code, _ := secret.TOTPCode(m[1], time.Now())
	res := h.post(c, "/account/totp", url.Values{"code": {code}})
	if res.status != http.StatusSeeOther && len(recoveryCodePattern.FindAllStringSubmatch(res.body, -1)) != account.RecoveryCodeCount {
		h.t.Fatalf("enrolling: %d\n%s", res.status, res.body)
	}
	return m[1], code
}

// recoveryCodePattern finds the recovery codes on the page that shows them, as a person reads them.
var recoveryCodePattern = regexp.MustCompile(`class="recovery-code">([A-Z0-9-]+)<`)

// nextCode waits for a time step not used yet, so each sign-in gets a fresh code.
func nextCode(t *testing.T, secretKey string, after string) string {
	for i := 0; i < 70; i++ {
		code, _ := secret.TOTPCode(secretKey, time.Now())
		if code != after {
			return code
		}
		time.Sleep(time.Second)
	}
	t.Fatal("no new TOTP step")
	return ""
}

func TestTOTPSignInRefusesReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	key, used := h.enrollTOTP(c)
	h.lastMessage("alice@example.com", "factor_changed")

	b := h.client()
	res := h.signIn(b, "alice", goodPassword)
	if res.header.Get("Location") != "/login/totp" {
		t.Fatalf("password alone went to %q, want /login/totp", res.header.Get("Location"))
	}
	if res := h.get(b, "/account"); res.status != http.StatusSeeOther {
		t.Fatal("the password alone reached /account")
	}
	// The code that confirmed the app is used: its time step does not work again.
	if res := h.post(b, "/login/totp", url.Values{"code": {used}}); res.status == http.StatusSeeOther {
		t.Fatal("the enrolment code signed in again")
	}
	code := nextCode(t, key, used)
	res = h.post(b, "/login/totp", url.Values{"code": {code}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("second step: %d %s", res.status, res.header.Get("Location"))
	}
	// The same code again, in another browser: refused.
	c3 := h.client()
	h.signIn(c3, "alice", goodPassword)
	if res := h.post(c3, "/login/totp", url.Values{"code": {code}}); res.status == http.StatusSeeOther {
		t.Fatal("a replayed TOTP code signed in")
	}
}

func TestRecoveryCodesWorkOnceAndRunOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	res := h.post(c, "/account/recovery-codes", url.Values{})
	codes := recoveryCodePattern.FindAllStringSubmatch(res.body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	if dl := h.post(c, "/account/recovery-codes/download", url.Values{}); !strings.Contains(dl.body, codes[0][1]) ||
		!strings.Contains(dl.header.Get("Content-Disposition"), "attachment") {
		t.Fatal("download does not hold the codes")
	}
	if dl := h.post(c, "/account/recovery-codes/download", url.Values{}); dl.status != http.StatusNotFound {
		t.Fatal("the codes could be downloaded twice")
	}
	for i, m := range codes {
		b := h.client()
		h.signIn(b, "alice", goodPassword)
		typed := strings.ToLower(strings.ReplaceAll(m[1], "-", " "))
		if res := h.post(b, "/login/totp", url.Values{"code": {typed}}); res.status != http.StatusSeeOther {
			t.Fatalf("recovery code %d did not sign in", i+1)
		}
		if i == 0 {
			again := h.client()
			h.signIn(again, "alice", goodPassword)
			if res := h.post(again, "/login/totp", url.Values{"code": {m[1]}}); res.status == http.StatusSeeOther {
				t.Fatal("a used recovery code worked again")
			}
		}
	}
	if n := h.countMessages("factor_changed"); n < 11 {
		t.Fatalf("%d notices, want one for the new codes and one per code used", n)
	}
	// All used: the account has none left, so the password alone signs in again.
	status, _ := h.accounts.SecondFactors.SecondFactorStatus(context.Background(), mustID(h, "alice"))
	if status.RecoveryLeft != 0 {
		t.Fatalf("%d recovery codes left", status.RecoveryLeft)
	}
}

func mustID(h *harness, username string) int64 {
	a, err := h.accounts.Accounts.AccountByLogin(context.Background(), username)
	if err != nil {
		h.t.Fatal(err)
	}
	return a.ID
}

func TestUnlockWithTOTPAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	key, used := h.enrollTOTP(c)
	// An attacker locks the account (the password step alone is not a failure; wrong passwords are).
	h.lock("alice")
	before := h.countMessages("code")
	u := h.client()
	if res := h.post(u, "/unlock", url.Values{"username": {"alice"}, "method": {"totp"}}); res.header.Get("Location") != "/unlock/verify" {
		t.Fatalf("start: %d %s", res.status, res.header.Get("Location"))
	}
	if h.countMessages("code") != before {
		t.Fatal("a message was sent for the authenticator method")
	}
	if res := h.post(u, "/unlock/verify", url.Values{"code": {"000000"}}); !strings.Contains(res.body, `class="notice error"`) {
		t.Fatal("a wrong authenticator code was accepted")
	}
	res := h.post(u, "/unlock/verify", url.Values{"code": {nextCode(t, key, used)}})
	if !strings.Contains(res.body, "Your account is unlocked") {
		t.Fatalf("TOTP unlock:\n%s", res.body)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateActive {
		t.Fatalf("state %s", a.State)
	}
}

func TestSecurityChangesNeedAFreshSignIn(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, withClock(clock))
	h.addAccount("alice")
	c, c2 := h.client(), h.client()
	h.signIn(c, "alice", goodPassword)
	h.signIn(c2, "alice", goodPassword)
	if res := h.get(c, "/account/totp"); res.status != http.StatusOK {
		t.Fatalf("just signed in: %d", res.status)
	}
	mu.Lock()
	now = now.Add(11 * time.Minute)
	mu.Unlock()
	// Asked for, the page says so and offers a button; the session lives until it is pressed (a
	// link from another site must not sign anyone out).
	res := h.get(c, "/account/totp")
	if res.status != http.StatusOK || !strings.Contains(res.body, `action="/login/again"`) || strings.Contains(res.body, "otpauth") {
		t.Fatalf("11 minutes after sign-in: %d, want the page asking for a new sign-in:\n%s", res.status, res.body)
	}
	if res := h.get(c, "/account"); res.status != http.StatusOK {
		t.Fatalf("asking for a sensitive page ended the session: %d", res.status)
	}
	if res := h.post(c, "/login/again", url.Values{}); res.status != http.StatusSeeOther || res.header.Get("Location") != "/login" {
		t.Fatalf("the page's button: %d %s, want the sign-in page", res.status, res.header.Get("Location"))
	}
	if res := h.get(c, "/account"); res.status == http.StatusOK {
		t.Fatal("the session lives on after the button")
	}
	// The other browser's session is still live, but 11 minutes old: no new recovery codes.
	if res := h.get(c2, "/account"); res.status != http.StatusOK {
		t.Fatalf("the second session is no longer signed in: %d", res.status)
	}
	if res := h.post(c2, "/account/recovery-codes", url.Values{}); res.status != http.StatusSeeOther || res.header.Get("Location") != "/login" {
		t.Fatalf("recovery codes 11 minutes after sign-in: %d %s", res.status, res.header.Get("Location"))
	}
	var codes int
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM recovery_codes`).Scan(&codes); err != nil || codes != 0 {
		t.Fatalf("%d recovery codes made without a fresh sign-in (%v)", codes, err)
	}
}

// An emailed sign-in code is a first step like a password: an account with an authenticator
// still proves it (SECURITY.md 12 and 20), staff included.
func TestSignInCodeDoesNotSkipTheSecondFactor(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.staff("hd", account.RoleHelpdesk)
	c := h.client()
	h.post(c, "/login/code", url.Values{"username": {"hd"}})
	code := h.lastMessage("hd@example.com", "code")["Code"]
	res := h.post(c, "/login/code/verify", url.Values{"code": {code}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/login/totp" {
		t.Fatalf("sign-in with a code: %d to %q, want the second step", res.status, res.header.Get("Location"))
	}
	if page := h.get(c, "/admin"); page.status == http.StatusOK {
		t.Fatal("the dashboard opened after an emailed code alone")
	}
}
