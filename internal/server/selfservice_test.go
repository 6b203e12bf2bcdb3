package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
)

// lastMessage reads the newest queued message of a template to a recipient from the outbox, as the
// delivery worker would (the browser tests read the same messages from a real SMTP server).
func (h *harness) lastMessage(to, template string) map[string]string {
	h.t.Helper()
	var data map[string]string
	err := h.db.Pool.QueryRow(context.Background(), `SELECT data FROM outbox WHERE recipient = $1 AND template = $2
		ORDER BY id DESC LIMIT 1`, to, template).Scan(&data)
	if err != nil {
		h.t.Fatalf("no %s message to %s: %v", template, to, err)
	}
	return data
}

func (h *harness) countMessages(template string) int {
	var n int
	h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE template = $1`, template).Scan(&n)
	return n
}

func (h *harness) lock(username string) {
	h.t.Helper()
	for i := 0; i < 10; i++ {
		h.signIn(h.client(), username, fmt.Sprintf("wrong guess %d", i))
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), username); a.State != account.StateLockedTemporarily {
		h.t.Fatalf("%s not locked: %s", username, a.State)
	}
}

func TestUnlockWithEmailCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	locked := h.lastMessage("alice@example.com", "locked")
	if !strings.HasPrefix(locked["UnlockLink"], h.url+"/unlock") {
		t.Fatalf("lock notice link %q", locked["UnlockLink"])
	}
	c := h.client()
	res := h.post(c, "/unlock", url.Values{"username": {"ALICE"}, "method": {"email"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/unlock/verify" {
		t.Fatalf("start: %d %s", res.status, res.header.Get("Location"))
	}
	code := h.lastMessage("alice@example.com", "code")["Code"]
	if !regexp.MustCompile(`^\d{6}$`).MatchString(code) {
		t.Fatalf("code %q", code)
	}
	// A sign-in code or a wrong code does not unlock.
	if res := h.post(c, "/unlock/verify", url.Values{"code": {"000000"}}); !strings.Contains(res.body, `class="notice error"`) {
		t.Fatal("a wrong code was accepted")
	}
	res = h.post(c, "/unlock/verify", url.Values{"code": {code}})
	if res.status != http.StatusOK || !strings.Contains(res.body, "Your account is unlocked") {
		t.Fatalf("verify: %d\n%s", res.status, res.body)
	}
	// The page offers a new password at once, through a reset link only this page holds.
	offered := regexp.MustCompile(`href="(/reset/[A-Za-z0-9_-]+)"`).FindStringSubmatch(res.body)
	if offered == nil || h.get(h.client(), offered[1]).status != http.StatusOK {
		t.Fatal("no working new-password link after the unlock")
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateActive || a.FailedAttempts != 0 {
		t.Fatalf("after unlock: %s, %d failures", a.State, a.FailedAttempts)
	}
	h.lastMessage("alice@example.com", "unlocked")
	// The code works once.
	c2 := h.client()
	h.post(c2, "/unlock", url.Values{"username": {"alice"}})
	if res := h.post(c2, "/unlock/verify", url.Values{"code": {code}}); !strings.Contains(res.body, `class="notice error"`) {
		t.Fatal("a used code worked again")
	}
}

func TestSelfServiceAnswersTheSameForEveryone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	for _, path := range []string{"/unlock", "/status", "/login/code", "/reset"} {
		var first response
		for i, user := range []string{"alice", "nobody-at-all", "alice@example.com", "+8613900000000"} {
			c := h.client()
			res := h.post(c, path, url.Values{"username": {user}})
			if i == 0 {
				first = res
				continue
			}
			if res.status != first.status || res.header.Get("Location") != first.header.Get("Location") || res.body != first.body {
				t.Errorf("%s: %q answered differently from alice (%d %s)", path, user, res.status, res.header.Get("Location"))
			}
		}
	}
	var f1, f2 response
	f1 = h.post(h.client(), "/help/request", url.Values{"username": {"alice"}, "message": {"help"}})
	f2 = h.post(h.client(), "/help/request", url.Values{"username": {"nobody"}, "message": {"help"}})
	re := regexp.MustCompile(`UR-[0-9A-Z]{4}-[0-9A-Z]{4}`)
	if f1.status != f2.status || len(re.FindString(f1.body)) == 0 || re.ReplaceAllString(f1.body, "") != re.ReplaceAllString(f2.body, "") {
		t.Errorf("/help/request answered differently for an unknown user")
	}
}

func TestStatusShowsStateAndRecentFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	c := h.client()
	h.post(c, "/status", url.Values{"username": {"alice"}})
	code := h.lastMessage("alice@example.com", "code")["Code"]
	res := h.post(c, "/status/verify", url.Values{"code": {code}})
	for _, want := range []string{"Locked for a while", "Too many failed sign-ins", "Locked until", "127.0.0.1", `action="/status/unlock"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	// A status code does not unlock by itself.
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateLockedTemporarily {
		t.Fatalf("status changed the state: %s", a.State)
	}
}

// The owner who has just read why the account is locked unlocks it from the status page without a
// second code; the proof counts for that browser, that account and a code's lifetime only.
func TestStatusLeadsToUnlockWithoutASecondCode(t *testing.T) {
	t.Parallel()
	clock := accounttest.NewClock(time.Now())
	h := newHarness(t, withClock(clock.Now))
	for _, u := range []string{"alice", "bob", "carol"} {
		h.addAccount(u)
		h.lock(u)
	}
	proveStatus := func(c *http.Client, user string) {
		t.Helper()
		h.post(c, "/status", url.Values{"username": {user}})
		code := h.lastMessage(user+"@example.com", "code")["Code"]
		if res := h.post(c, "/status/verify", url.Values{"code": {code}}); !strings.Contains(res.body, `action="/status/unlock"`) {
			t.Fatalf("%s's status page offers no unlock", user)
		}
	}
	state := func(user string) account.State {
		a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), user)
		return a.State
	}

	c := h.client()
	proveStatus(c, "alice")
	codes := h.countMessages("code")
	res := h.post(c, "/status/unlock", url.Values{})
	if res.status != http.StatusOK || state("alice") != account.StateActive {
		t.Fatalf("unlock after status: %d, alice is %s", res.status, state("alice"))
	}
	if n := h.countMessages("code"); n != codes {
		t.Errorf("%d more codes were sent", n-codes)
	}
	// Used once: the same browser posting again starts an ordinary unlock.
	if res := h.post(c, "/status/unlock", url.Values{}); res.status != http.StatusSeeOther || res.header.Get("Location") != "/unlock" {
		t.Errorf("a second unlock from the same proof: %d %s", res.status, res.header.Get("Location"))
	}

	// Switching accounts halfway: proven for bob, then /status started for carol (no code entered).
	c = h.client()
	proveStatus(c, "bob")
	h.post(c, "/status", url.Values{"username": {"carol"}})
	if res := h.post(c, "/status/unlock", url.Values{}); res.header.Get("Location") != "/unlock" {
		t.Errorf("after switching to carol: %d %s", res.status, res.header.Get("Location"))
	}
	if state("carol") != account.StateLockedTemporarily || state("bob") != account.StateLockedTemporarily {
		t.Fatalf("a proof for bob unlocked something after switching: carol %s, bob %s", state("carol"), state("bob"))
	}

	// A stale proof starts over. (A new code for bob waits for the resend interval.)
	p, _ := h.accounts.Staff.Policy(context.Background())
	clock.Advance(p.CodeResendInterval)
	c = h.client()
	proveStatus(c, "bob")
	clock.Advance(p.CodeTTL + time.Minute)
	if res := h.post(c, "/status/unlock", url.Values{}); res.header.Get("Location") != "/unlock" || state("bob") != account.StateLockedTemporarily {
		t.Errorf("a stale proof: %d %s, bob %s", res.status, res.header.Get("Location"), state("bob"))
	}
}

// Asking again within the resend interval sends nothing new and says so truthfully, the same for
// every username; the code already sent keeps working after "start over".
func TestAskingAgainTooSoonKeepsTheCodeAndSaysWhen(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	pages := map[string]string{}
	for _, user := range []string{"alice", "nobody-here"} {
		c := h.client()
		h.post(c, "/unlock", url.Values{"username": {user}})
		before := h.countMessages("code")
		again := h.post(c, "/unlock", url.Values{"username": {user}}) // "start over" at once
		if n := h.countMessages("code"); n != before {
			t.Errorf("%s: starting over at once sent %d more codes", user, n-before)
		}
		page := h.get(c, again.header.Get("Location"))
		for _, want := range []string{"You can ask for a new code from", "no new one went out"} {
			if !strings.Contains(page.body, want) {
				t.Errorf("%s: the code page lacks %q", user, want)
			}
		}
		pages[user] = regexp.MustCompile(`[0-9]{2}:[0-9]{2}:[0-9]{2} UTC|in [0-9]+ s`).ReplaceAllString(page.body, "")
		if user == "alice" {
			code := h.lastMessage("alice@example.com", "code")["Code"]
			if res := h.post(c, "/unlock/verify", url.Values{"code": {code}}); res.status != http.StatusOK {
				t.Fatalf("the first code after starting over: %d", res.status)
			}
			if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateActive {
				t.Fatalf("alice is %s after the first code", a.State)
			}
		}
	}
	if pages["alice"] != pages["nobody-here"] {
		t.Error("the code page differs between an account and no account")
	}
}

func TestCodeIsBoundToItsPurpose(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	c := h.client()
	h.post(c, "/status", url.Values{"username": {"alice"}})
	statusCode := h.lastMessage("alice@example.com", "code")["Code"]
	h.post(c, "/unlock", url.Values{"username": {"alice"}})
	if res := h.post(c, "/unlock/verify", url.Values{"code": {statusCode}}); !strings.Contains(res.body, `class="notice error"`) {
		t.Fatal("a status code unlocked the account")
	}
}

func TestCodeBurnsAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.post(c, "/status", url.Values{"username": {"alice"}})
	code := h.lastMessage("alice@example.com", "code")["Code"]
	for i := 0; i < 5; i++ {
		h.post(c, "/status/verify", url.Values{"code": {fmt.Sprintf("%06d", i)}})
	}
	if res := h.post(c, "/status/verify", url.Values{"code": {code}}); !strings.Contains(res.body, `class="notice error"`) {
		t.Fatal("the right code worked after code.max_attempts wrong ones")
	}
}

func TestResendIntervalLimitsCodes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	for i := 0; i < 3; i++ {
		h.post(h.client(), "/status", url.Values{"username": {"alice"}})
	}
	if n := h.countMessages("code"); n != 1 {
		t.Fatalf("%d codes sent within code.resend_interval, want 1", n)
	}
}

func TestSignInWithCodeUnderTheLockoutRules(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.post(c, "/login/code", url.Values{"username": {"alice"}})
	code := h.lastMessage("alice@example.com", "code")["Code"]
	res := h.post(c, "/login/code/verify", url.Values{"code": {code}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("sign-in with code: %d %s", res.status, res.header.Get("Location"))
	}
	// Locked: the right code gets no session.
	h.lock("alice")
	h.db.Pool.Exec(context.Background(), `UPDATE codes SET created_at = created_at - interval '1 hour'`)
	c2 := h.client()
	h.post(c2, "/login/code", url.Values{"username": {"alice"}})
	code = h.lastMessage("alice@example.com", "code")["Code"]
	if res := h.post(c2, "/login/code/verify", url.Values{"code": {code}}); res.status == http.StatusSeeOther {
		t.Fatal("a locked account signed in with a code")
	}
}

func TestPasswordReset(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	old := h.client()
	h.db.Pool.Exec(context.Background(), `UPDATE accounts SET state = 'active', locked_until = NULL, failed_attempts = 0`)
	h.signIn(old, "alice", goodPassword)
	h.db.Pool.Exec(context.Background(), `UPDATE accounts SET state = 'locked_temporarily', locked_until = now() + interval '1 hour'`)

	// The link goes to the address on file, built from the base URL, whatever the request says.
	res := h.do(h.client(), http.MethodPost, "/reset", url.Values{"username": {"alice"}, "email": {"attacker@evil.example", "x@evil.example"}},
		"X-Forwarded-Host", "evil.example")
	if res.status != http.StatusSeeOther {
		t.Fatalf("start reset: %d", res.status)
	}
	link := h.lastMessage("alice@example.com", "reset_link")["Link"]
	if !strings.HasPrefix(link, h.url+"/reset/") {
		t.Fatalf("reset link %q is not built from the base URL", link)
	}
	path := strings.TrimPrefix(link, h.url)
	page := h.get(h.client(), path)
	if page.status != http.StatusOK || page.header.Get("Referrer-Policy") != "no-referrer" || page.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("reset page: %d, Referrer-Policy %q, Cache-Control %q", page.status, page.header.Get("Referrer-Policy"), page.header.Get("Cache-Control"))
	}
	for pw, want := range map[string]string{
		"short":                  "too short",
		"password1234567890":     "one of the most common passwords",
		"abcdefghijklmnopqrstu":  "mostly a sequence",
		"alice-is-my-name-here!": "contains your own name",
	} {
		if res := h.post(h.client(), path, url.Values{"password": {pw}, "password_confirm": {pw}}); !strings.Contains(res.body, want) {
			t.Errorf("password %q: page lacks %q", pw, want)
		}
	}
	if res := h.post(h.client(), path, url.Values{"password": {"a b c d e f g h i j k"}, "password_confirm": {"different"}}); !strings.Contains(res.body, "not the same") {
		t.Error("mismatch not reported")
	}
	// Twenty submissions of the link at once: exactly one wins.
	newPassword := "lanterns drift over the quiet harbour"
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.post(h.client(), path, url.Values{"password": {newPassword}, "password_confirm": {newPassword}})
			if strings.Contains(r.body, "Your password is changed") {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d of 20 concurrent submissions succeeded, want exactly 1", wins)
	}
	// Not signed in by the reset; other sessions ended; the lock lifted; the owner told.
	if res := h.get(old, "/account"); res.status != http.StatusSeeOther {
		t.Fatal("an old session survived the reset")
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateActive {
		t.Fatalf("state after reset: %s", a.State)
	}
	h.lastMessage("alice@example.com", "password_changed")
	if m := h.lastMessage("alice@example.com", "unlocked"); m["Method"] != "reset" {
		t.Fatalf("the owner's notice of the unlock: %v", m)
	}
	if res := h.signIn(h.client(), "alice", newPassword); res.status != http.StatusSeeOther {
		t.Fatal("the new password does not sign in")
	}
}

func TestOnlyTheNewestResetLinkWorks(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.post(h.client(), "/reset", url.Values{"username": {"alice"}})
	first := h.lastMessage("alice@example.com", "reset_link")["Link"]
	h.db.Pool.Exec(context.Background(), `UPDATE reset_tokens SET created_at = created_at - interval '1 hour'`)
	h.post(h.client(), "/reset", url.Values{"username": {"alice"}})
	second := h.lastMessage("alice@example.com", "reset_link")["Link"]
	if first == second {
		t.Fatal("no second link")
	}
	if res := h.get(h.client(), strings.TrimPrefix(first, h.url)); res.status != http.StatusNotFound {
		t.Fatalf("the older link still works: %d", res.status)
	}
	if res := h.get(h.client(), strings.TrimPrefix(second, h.url)); res.status != http.StatusOK {
		t.Fatalf("the newest link does not work: %d", res.status)
	}
}

func TestResetRequestDoesNotChangeLockState(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.lock("alice")
	h.post(h.client(), "/reset", url.Values{"username": {"alice"}})
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "alice"); a.State != account.StateLockedTemporarily {
		t.Fatalf("asking for a reset changed the state to %s", a.State)
	}
}

func TestHelpRequestGivesAReference(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	res := h.post(h.client(), "/help/request", url.Values{"username": {"alice"}, "contact": {"+86 139 0000 0000"}, "message": {"My account is frozen"}})
	ref := regexp.MustCompile(`UR-[0-9A-Z]{4}-[0-9A-Z]{4}`).FindString(res.body)
	if ref == "" {
		t.Fatalf("no reference on the page:\n%s", res.body)
	}
	if got := h.lastMessage("alice@example.com", "request_received")["Reference"]; got != ref {
		t.Fatalf("confirmation mail reference %q, page %q", got, ref)
	}
}

func TestUnlockNeedsTwoDifferentMethodsWhenThePolicySaysSo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv("UNLOCKD_SMS_WEBHOOK_URL", "http://127.0.0.1:9/sms"))
	h.setPolicy("unlock.methods_required=2")
	if _, err := h.accounts.Accounts.AddAccount(context.Background(), account.NewAccount{Username: "li.wei", Email: "li.wei@example.cn",
		Phone: "+8613800000000", Password: goodPassword}, testActor); err != nil {
		t.Fatal(err)
	}
	h.lock("li.wei")
	c := h.client()
	h.post(c, "/unlock", url.Values{"username": {"li.wei"}, "method": {"email"}})
	emailCode := h.lastMessage("li.wei@example.cn", "code")["Code"]
	res := h.post(c, "/unlock/verify", url.Values{"code": {emailCode}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("first method: %d", res.status)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "li.wei"); a.State != account.StateLockedTemporarily {
		t.Fatalf("one method unlocked the account (%s)", a.State)
	}
	// Another email code is not a second method.
	h.db.Pool.Exec(context.Background(), `UPDATE codes SET created_at = created_at - interval '1 hour'`)
	h.post(c, "/unlock/verify", url.Values{"method": {"email"}})
	h.post(c, "/unlock/verify", url.Values{"code": {h.lastMessage("li.wei@example.cn", "code")["Code"]}})
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "li.wei"); a.State != account.StateLockedTemporarily {
		t.Fatalf("the same method twice unlocked the account (%s)", a.State)
	}
	h.db.Pool.Exec(context.Background(), `UPDATE codes SET created_at = created_at - interval '1 hour'`)
	h.post(c, "/unlock/verify", url.Values{"method": {"sms"}})
	smsCode := h.lastMessage("+8613800000000", "code")["Code"]
	res = h.post(c, "/unlock/verify", url.Values{"code": {smsCode}})
	if !strings.Contains(res.body, "Your account is unlocked") {
		t.Fatalf("email and SMS did not unlock:\n%s", res.body)
	}
}

func TestNewAccountVerifiesItsEmailBeforeUse(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	if _, err := h.accounts.Accounts.AddAccount(context.Background(), account.NewAccount{Username: "newbie", Email: "newbie@example.com",
		Password: goodPassword, Pending: true}, testActor); err != nil {
		t.Fatal(err)
	}
	if res := h.signIn(h.client(), "newbie", goodPassword); res.status == http.StatusSeeOther {
		t.Fatal("a pending account signed in")
	}
	code := h.lastMessage("newbie@example.com", "code")
	if code["Purpose"] != "verify" {
		t.Fatalf("first message purpose %q", code["Purpose"])
	}
	c := h.client()
	h.post(c, "/verify", url.Values{"username": {"newbie"}}) // within the resend interval: no new code
	res := h.post(c, "/verify/verify", url.Values{"code": {code["Code"]}})
	if !strings.Contains(res.body, "your account is ready") {
		t.Fatalf("verify:\n%s", res.body)
	}
	if res := h.signIn(h.client(), "newbie", goodPassword); res.status != http.StatusSeeOther {
		t.Fatal("the verified account cannot sign in")
	}
}

func TestSwitchingToSMSSendsAtOnceButNotTwice(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv("UNLOCKD_SMS_WEBHOOK_URL", "http://127.0.0.1:9/sms"))
	if _, err := h.accounts.Accounts.AddAccount(context.Background(), account.NewAccount{Username: "li.wei", Email: "li.wei@example.cn",
		Phone: "+8613800000000", Password: goodPassword}, testActor); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	h.post(c, "/unlock", url.Values{"username": {"li.wei"}, "method": {"email"}})
	h.post(c, "/unlock/verify", url.Values{"method": {"sms"}})
	h.post(c, "/unlock/verify", url.Values{"method": {"sms"}})
	h.post(c, "/unlock", url.Values{"username": {"li.wei"}, "method": {"email"}})
	var email, sms int
	h.db.Pool.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE channel = 'email'), count(*) FILTER (WHERE channel = 'sms')
		FROM outbox WHERE template = 'code'`).Scan(&email, &sms)
	if email != 1 || sms != 1 {
		t.Fatalf("%d email and %d SMS codes; want one of each (a switch is at once, a repeat waits)", email, sms)
	}
}

func TestNewAccountWithAPhoneVerifiesBoth(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv("UNLOCKD_SMS_WEBHOOK_URL", "http://127.0.0.1:9/sms"))
	if _, err := h.accounts.Accounts.AddAccount(context.Background(), account.NewAccount{Username: "new.li", Email: "new.li@example.cn",
		Phone: "+8613700000000", Password: goodPassword, Pending: true}, testActor); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	h.post(c, "/verify", url.Values{"username": {"new.li"}})
	res := h.post(c, "/verify/verify", url.Values{"code": {h.lastMessage("new.li@example.cn", "code")["Code"]}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("email code: %d", res.status)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "new.li"); a.State != account.StatePendingVerification {
		t.Fatalf("active before the phone was confirmed: %s", a.State)
	}
	h.post(c, "/verify/verify", url.Values{"method": {"sms"}})
	res = h.post(c, "/verify/verify", url.Values{"code": {h.lastMessage("+8613700000000", "code")["Code"]}})
	if !strings.Contains(res.body, "your account is ready") {
		t.Fatalf("phone code:\n%s", res.body)
	}
	if a, _ := h.accounts.Accounts.AccountByLogin(context.Background(), "new.li"); a.State != account.StateActive {
		t.Fatalf("state %s after both contacts", a.State)
	}
}
