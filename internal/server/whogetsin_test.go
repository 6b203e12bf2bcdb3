package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/secret"
)

// These tests are the attacks of an outside review, run from outside: each failed before the rules
// of who gets in had one home.

func (h *harness) setPolicy(kv ...string) {
	h.t.Helper()
	changes := map[string]string{}
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		changes[k] = v
	}
	if _, err := h.accounts.Staff.SetPolicy(context.Background(), changes, testActor); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) state(username string) *account.Account {
	h.t.Helper()
	a, err := h.accounts.Accounts.AccountByLogin(context.Background(), username)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// signedIn reports whether a browser's session is signed in.
func (h *harness) signedIn(c *http.Client) bool {
	h.t.Helper()
	return h.get(c, "/account").status == http.StatusOK
}

// A proof of one account never counts for another: with two methods required, one's own
// authenticator and someone else's emailed code do not unlock the someone else.
func TestUnlockNeverCombinesProofsOfTwoAccounts(t *testing.T) {
	h := newHarness(t)
	h.setPolicy("unlock.methods_required=2")
	h.addAccount("mallory")
	m := h.client()
	h.signIn(m, "mallory", goodPassword)
	key, used := h.enrollTOTP(m)
	h.addAccount("bob")
	h.lock("bob")

	c := h.client()
	h.post(c, "/unlock", url.Values{"username": {"mallory"}, "method": {"totp"}})
	if res := h.post(c, "/unlock/verify", url.Values{"code": {nextCode(t, key, used)}}); res.status != http.StatusSeeOther {
		t.Fatalf("mallory's own authenticator code: %d\n%s", res.status, res.body)
	}
	// The same browser now starts over for bob and enters one code of bob's.
	h.post(c, "/unlock", url.Values{"username": {"bob"}, "method": {"email"}})
	code := h.lastMessage("bob@example.com", "code")["Code"]
	res := h.post(c, "/unlock/verify", url.Values{"code": {code}})
	if strings.Contains(res.body, "Your account is unlocked") || h.state("bob").State == account.StateActive {
		t.Fatal("one of bob's methods and one of mallory's unlocked bob")
	}
	// Bob's second method, in the same flow, would complete it: the flow is now bob's alone.
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/unlock/verify" {
		t.Fatalf("bob's first method: %d %s", res.status, res.header.Get("Location"))
	}
}

// A client that hangs up while its password is checked still counts, and the lock it leads to is
// written: the account is never left "active" over its threshold with every password refused.
func TestHangUpsDuringTheCheckStillCount(t *testing.T) {
	clock := accounttest.NewClock(time.Now())
	// Slow enough that a third of a hash is ample for the work before it (the attempt's reservation)
	// even on a busy machine: the client hangs up while its password is checked, not before.
	slow := secret.Params{Memory: 19456, Time: 10, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHarness(t, withClock(clock.Now), withHasher(secret.NewHasher(slow, 2, 64, 30*time.Second)))
	h.addAccount("alice")
	started := time.Now()
	h.signIn(h.client(), "alice", "one honest typo")
	hash := time.Since(started)
	hangUp := &http.Client{Timeout: hash / 3}

	for i := 0; i < 40; i++ {
		form := url.Values{"username": {"alice"}, "password": {fmt.Sprintf("wrong guess %d", i)}}
		req, _ := http.NewRequest(http.MethodPost, h.url+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", h.url)
		if res, err := hangUp.Do(req); err == nil {
			res.Body.Close()
		}
	}
	// The server finishes what the clients left.
	deadline := time.Now().Add(30 * time.Second)
	for h.state("alice").State == account.StateActive && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	a := h.state("alice")
	if a.State != account.StateLockedTemporarily {
		t.Fatalf("after 40 hung-up guesses: %s with %d failures; want locked", a.State, a.FailedAttempts)
	}
	if h.countMessages("locked") == 0 {
		t.Fatal("no lock notice")
	}
	// The owner leaves it as a lock is left: when it lifts, the right password works.
	clock.Advance(16 * time.Minute)
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	if !h.signedIn(c) {
		t.Fatalf("after the lock lifted the right password did not sign in (%s, %d failures)", h.state("alice").State, h.state("alice").FailedAttempts)
	}
}

// An account left at its threshold by a process that died mid-check is locked by the rules at the
// next attempt, and its owner unlocks it as any lock.
func TestAStrandedCountIsLockedByRule(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	ctx := context.Background()
	if _, err := h.db.Pool.Exec(ctx, `UPDATE accounts SET failed_attempts = 12 WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	if h.signedIn(c) {
		t.Fatal("signed in over the threshold")
	}
	if a := h.state("alice"); a.State != account.StateLockedTemporarily {
		t.Fatalf("a stranded count was not locked: %s, %d failures", a.State, a.FailedAttempts)
	}
	if h.countMessages("locked") != 1 {
		t.Fatal("the owner was not told of the lock")
	}
	u := h.client()
	h.post(u, "/unlock", url.Values{"username": {"alice"}, "method": {"email"}})
	res := h.post(u, "/unlock/verify", url.Values{"code": {h.lastMessage("alice@example.com", "code")["Code"]}})
	if !strings.Contains(res.body, "Your account is unlocked") {
		t.Fatalf("the owner could not unlock:\n%s", res.body)
	}
}

// Sixty authenticator guesses at once on the unlock page check at most the allowance.
func TestConcurrentFactorGuessesAtUnlockStopAtTheLimit(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	key, _ := h.enrollTOTP(c)
	wrongCode := unusedTOTP(t, key)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 60; i++ {
		b := h.client()
		h.post(b, "/unlock", url.Values{"username": {"alice"}, "method": {"totp"}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			h.post(b, "/unlock/verify", url.Values{"code": {wrongCode}})
		}()
	}
	close(start)
	wg.Wait()
	checked := h.count(`SELECT count(*) FROM audit_events WHERE action = $1`, audit.FactorFailed)
	if checked > account.MaxFactorGuesses {
		t.Fatalf("%d wrong authenticator codes were checked; the allowance is %d", checked, account.MaxFactorGuesses)
	}
}

// unusedTOTP is a six-digit code that no step near now accepts.
func unusedTOTP(t *testing.T, key string) string {
	t.Helper()
	for n := 0; n < 1000000; n += 7919 {
		code := fmt.Sprintf("%06d", n)
		ok := true
		for _, d := range []time.Duration{-time.Minute, 0, time.Minute} {
			if _, match := secret.MatchTOTP(key, code, time.Now().Add(d)); match {
				ok = false
			}
		}
		if ok {
			return code
		}
	}
	t.Fatal("no unused code")
	return ""
}

// A stranger who knows the username cannot burn the owner's code, nor keep the owner out by
// spending the account's limits: the owner's code works, and the owner's known device has limits
// of its own.
func TestAStrangerCannotKeepTheOwnerOut(t *testing.T) {
	h := newHarness(t)
	h.setPolicy("code.resend_interval=30s")
	h.addAccount("alice")
	owner := h.client()
	h.signIn(owner, "alice", goodPassword)
	key, used := h.enrollTOTP(owner)
	h.post(owner, "/logout", url.Values{})
	h.lock("alice")

	// The owner, on a new browser, asks for a code; a stranger starts the same flow and guesses.
	fresh := h.client()
	h.post(fresh, "/unlock", url.Values{"username": {"alice"}, "method": {"email"}})
	code := h.lastMessage("alice@example.com", "code")["Code"]
	stranger := h.client()
	h.post(stranger, "/unlock", url.Values{"username": {"alice"}, "method": {"email"}})
	for i := 0; i < 8; i++ {
		h.post(stranger, "/unlock/verify", url.Values{"code": {fmt.Sprintf("%06d", i)}})
	}
	if res := h.post(fresh, "/unlock/verify", url.Values{"code": {code}}); !strings.Contains(res.body, "Your account is unlocked") {
		t.Fatalf("the stranger burnt the owner's code:\n%s", res.body)
	}

	// Locked again; now the stranger spends every allowance of the account.
	h.lock("alice")
	for i := 0; i < account.MaxFactorGuesses+5; i++ {
		s := h.client()
		h.post(s, "/unlock", url.Values{"username": {"alice"}, "method": {"totp"}})
		h.post(s, "/unlock/verify", url.Values{"code": {unusedTOTP(t, key)}})
	}
	for i := 0; i < account.SendLimitAccount+2; i++ {
		h.post(h.client(), "/unlock", url.Values{"username": {"alice"}, "method": {"email"}})
	}
	// The owner's browser that signed in before still has its own.
	before := h.countMessages("code")
	h.post(owner, "/unlock", url.Values{"username": {"alice"}, "method": {"email"}})
	if h.countMessages("code") != before+1 {
		t.Fatal("the owner's known device got no code once a stranger spent the account's send limits")
	}
	h.post(owner, "/unlock", url.Values{"username": {"alice"}, "method": {"totp"}})
	res := h.post(owner, "/unlock/verify", url.Values{"code": {nextCode(t, key, used)}})
	if !strings.Contains(res.body, "Your account is unlocked") {
		t.Fatalf("the owner's known device could not use the authenticator once a stranger spent the account's guesses:\n%s", res.body)
	}
}

// A known device does not sign in through a hard lock: only verification or an administrator lifts
// it, and nothing is audited as a success.
func TestAKnownDeviceDoesNotSignInThroughAHardLock(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	h.post(c, "/logout", url.Values{})
	if _, err := h.db.Pool.Exec(context.Background(), `UPDATE accounts SET state = 'locked', state_reason = 'too many failed sign-ins'
		WHERE username = 'alice'`); err != nil {
		t.Fatal(err)
	}
	successes := h.count(`SELECT count(*) FROM audit_events WHERE action = $1`, audit.SignInSucceeded)
	h.signIn(c, "alice", goodPassword)
	if h.signedIn(c) {
		t.Fatal("a known device signed in to a locked account")
	}
	if n := h.count(`SELECT count(*) FROM audit_events WHERE action = $1`, audit.SignInSucceeded); n != successes {
		t.Fatal("a refused sign-in was audited as a success")
	}
}

// A used recovery code and the notice to its owner are one write: when the notice cannot be
// queued, the code is not burnt.
func TestARecoveryCodeIsNeverBurntUntold(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	codes := recoveryCodePattern.FindAllStringSubmatch(
		h.post(c, "/account/recovery-codes", url.Values{}).body, -1)
	if len(codes) == 0 {
		t.Fatal("no recovery codes")
	}
	ctx := context.Background()
	if _, err := h.db.Pool.Exec(ctx, `CREATE FUNCTION refuse_notice() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.template = 'factor_changed' THEN RAISE EXCEPTION 'outbox refuses'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_notice BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_notice()`); err != nil {
		t.Fatal(err)
	}
	b := h.client()
	h.signIn(b, "alice", goodPassword)
	if res := h.post(b, "/login/totp", url.Values{"code": {codes[0][1]}}); res.status == http.StatusSeeOther {
		t.Fatal("signed in although the notice could not be queued")
	}
	if _, err := h.db.Pool.Exec(ctx, `DROP TRIGGER refuse_notice ON outbox`); err != nil {
		t.Fatal(err)
	}
	notices := h.countMessages("factor_changed")
	d := h.client()
	h.signIn(d, "alice", goodPassword)
	if res := h.post(d, "/login/totp", url.Values{"code": {codes[0][1]}}); res.status != http.StatusSeeOther {
		t.Fatal("the recovery code was burnt without its notice")
	}
	if h.countMessages("factor_changed") != notices+1 {
		t.Fatal("the recovery code was used without its notice")
	}
}

// The per-client limit on codes, links and requests counts every request, whether or not the
// username exists: its 429 comes at the same point for both, and tells nothing.
func TestClientSendLimitCountsUnknownUsernamesToo(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	for i := 0; i < account.SendLimitClient; i++ {
		if res := h.post(c, "/status", url.Values{"username": {fmt.Sprintf("nobody%d", i)}}); res.status != http.StatusSeeOther {
			t.Fatalf("request %d: %d", i+1, res.status)
		}
	}
	unknown := h.post(c, "/status", url.Values{"username": {"nobody-else"}})
	known := h.post(c, "/status", url.Values{"username": {"alice"}})
	if unknown.status != http.StatusTooManyRequests || known.status != unknown.status {
		t.Fatalf("past the limit: unknown %d, known %d; want 429 for both", unknown.status, known.status)
	}
}

// Every code flow belongs to the account it was last started for: in a browser that started it for
// alice and then for bob, alice's code proves nothing, and bob's proves only bob.
func TestCodeFlowsSwitchedHalfwayProveNothing(t *testing.T) {
	for _, path := range []string{"/status", "/login/code", "/unlock"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			h := newHarness(t)
			h.addAccount("alice")
			h.addAccount("bob")
			if path == "/unlock" {
				h.lock("alice")
				h.lock("bob")
			}
			c := h.client()
			h.post(c, path, url.Values{"username": {"alice"}, "method": {"email"}})
			codeA := h.lastMessage("alice@example.com", "code")["Code"]
			h.post(c, path, url.Values{"username": {"bob"}, "method": {"email"}})
			codeB := h.lastMessage("bob@example.com", "code")["Code"]

			res := h.post(c, path+"/verify", url.Values{"code": {codeA}})
			if !strings.Contains(res.body, `class="notice error"`) || h.signedIn(c) || h.state("alice").State == account.StateActive && path == "/unlock" {
				t.Fatalf("alice's code worked in a flow restarted for bob: %d\n%s", res.status, res.body)
			}
			res = h.post(c, path+"/verify", url.Values{"code": {codeB}})
			switch path {
			case "/status":
				if !strings.Contains(res.body, account.MaskEmail("bob@example.com")) {
					t.Fatalf("bob's status:\n%s", res.body)
				}
			case "/login/code":
				if page := h.get(c, "/account"); page.status != http.StatusOK || !strings.Contains(page.body, "Bob") {
					t.Fatalf("bob was not signed in: %d", page.status)
				}
			case "/unlock":
				if h.state("bob").State != account.StateActive || h.state("alice").State == account.StateActive {
					t.Fatalf("bob %s, alice %s", h.state("bob").State, h.state("alice").State)
				}
			}
		})
	}
}

// The second sign-in step belongs to the account whose password was given last in the browser.
func TestSecondStepSwitchedHalfwayProvesNothing(t *testing.T) {
	h := newHarness(t)
	keys := map[string][2]string{}
	for _, name := range []string{"mallory", "bob"} {
		h.addAccount(name)
		c := h.client()
		h.signIn(c, name, goodPassword)
		key, used := h.enrollTOTP(c)
		keys[name] = [2]string{key, used}
	}
	c := h.client()
	h.signIn(c, "mallory", goodPassword)
	h.signIn(c, "bob", goodPassword) // an attacker knows bob's password, not his authenticator
	h.post(c, "/login/totp", url.Values{"code": {nextCode(t, keys["mallory"][0], keys["mallory"][1])}})
	if page := h.get(c, "/account"); page.status == http.StatusOK {
		t.Fatalf("mallory's authenticator completed a sign-in:\n%s", page.body)
	}
}

// The CRM's authenticate call is one more way in under the same ledger: sixty wrong passwords at
// once through two servers check exactly the threshold and lock the account.
func TestConcurrentAuthenticateCallsThroughTwoServersCheckTheThreshold(t *testing.T) {
	a := newHarness(t)
	b := newHarnessOn(t, a.dbURL)
	a.addAccount("alice")
	token := a.token("crm", account.RoleService)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 60; i++ {
		h := a
		if i%2 == 1 {
			h = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			h.api(http.MethodPost, "/authenticate", token,
				fmt.Sprintf(`{"username":"alice","password":"wrong password number %d","client_ip":"198.51.100.%d"}`, i, i))
		}()
	}
	close(start)
	wg.Wait()
	checked := a.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND details LIKE '%"reason":"wrong_password"%'`, audit.SignInFailed)
	if checked != 10 {
		t.Fatalf("%d passwords were checked and wrong; the threshold is 10", checked)
	}
	if s := a.state("alice").State; s != account.StateLockedTemporarily {
		t.Fatalf("state %s after 60 wrong passwords", s)
	}
	if _, out := b.api(http.MethodPost, "/authenticate", token, `{"username":"alice","password":"`+goodPassword+`","client_ip":"198.51.100.200"}`); out["result"] != "denied" {
		t.Fatalf("the right password through the lock: %v", out)
	}
}
