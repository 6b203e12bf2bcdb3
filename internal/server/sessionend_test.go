package server_test

import (
	"bytes"
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

// busySession replays one session cookie from many goroutines at once, as a thief keeping a stolen
// cookie warm would, so that some request of the session is always in flight when it is ended.
type busySession struct {
	h       *harness
	cookie  string
	stopped chan struct{}
	wg      sync.WaitGroup

	mu       sync.Mutex
	endedAt  time.Time // zero until ended is called
	after    int       // requests sent after endedAt
	signedIn int       // of those, how many reached the account
}

// keepBusy starts 20 goroutines looping GET /account with the cookie.
func (h *harness) keepBusy(cookie string) *busySession {
	b := &busySession{h: h, cookie: cookie, stopped: make(chan struct{})}
	for range 20 {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			for {
				select {
				case <-b.stopped:
					return
				default:
				}
				b.mu.Lock()
				sentAfter := !b.endedAt.IsZero()
				b.mu.Unlock()
				status := h.statusWithCookie(cookie)
				if sentAfter {
					b.mu.Lock()
					b.after++
					if status == http.StatusOK {
						b.signedIn++
					}
					b.mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // requests are flowing before the session is ended
	return b
}

// ended marks the moment the session's end was confirmed to its owner; every request sent after it
// must find the session gone. check keeps the traffic up a while longer, then stops it and fails
// the test if any later request, or one more after all have finished, was signed in.
func (b *busySession) ended() {
	b.mu.Lock()
	b.endedAt = time.Now()
	b.mu.Unlock()
}

func (b *busySession) check(t *testing.T, what string) {
	t.Helper()
	time.Sleep(2 * time.Second)
	close(b.stopped)
	b.wg.Wait()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.after < 20 {
		t.Fatalf("%s: only %d requests after the end; the test proves nothing", what, b.after)
	}
	if b.signedIn > 0 {
		t.Fatalf("%s: %d of %d requests sent after the session ended were signed in", what, b.signedIn, b.after)
	}
	if status := b.h.statusWithCookie(b.cookie); status == http.StatusOK {
		t.Fatalf("%s: the session came back once its requests had finished", what)
	}
}

// noRedirects sends requests with exactly the cookies it is given, and follows no redirect.
var noRedirects = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// statusWithCookie is the status of GET /account with exactly this session cookie: 200 when it is
// signed in, a redirect to /login when not.
func (h *harness) statusWithCookie(cookie string) int {
	req, err := http.NewRequest(http.MethodGet, h.url+"/account", nil)
	if err != nil {
		h.t.Error(err)
		return 0
	}
	req.Header.Set("Cookie", "unlockd_session="+cookie)
	res, err := noRedirects.Do(req)
	if err != nil {
		h.t.Error(err)
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// signedInClient signs a new browser in and returns it with its session cookie.
func (h *harness) signedInClient(username string) (*http.Client, string) {
	h.t.Helper()
	c := h.client()
	if res := h.signIn(c, username, goodPassword); res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		h.t.Fatalf("sign-in: %d to %q", res.status, res.header.Get("Location"))
	}
	return c, sessionCookie(c, h.url)
}

// resetLink asks for a reset link for username and returns its path.
func (h *harness) resetLink(c *http.Client, username string) string {
	h.t.Helper()
	if res := h.post(c, "/reset", url.Values{"username": {username}}); res.status != http.StatusSeeOther {
		h.t.Fatalf("start reset: %d", res.status)
	}
	return strings.TrimPrefix(h.lastMessage(username+"@example.com", "reset_link")["Link"], h.url)
}

func (h *harness) completeReset(c *http.Client, path, password string) {
	h.t.Helper()
	if res := h.post(c, path, url.Values{"password": {password}, "password_confirm": {password}}); !strings.Contains(res.body, "Your password is changed") {
		h.t.Fatalf("reset: %d\n%s", res.status, res.body)
	}
}

func TestResetEndsABusyStolenSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	_, stolen := h.signedInClient("alice")
	busy := h.keepBusy(stolen)
	owner := h.client()
	h.completeReset(owner, h.resetLink(owner, "alice"), "lanterns drift over the quiet harbour")
	busy.ended()
	busy.check(t, "reset")
}

func TestEndingSessionsFromTheDashboardEndsABusySession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	admin := h.staff("boss", account.RoleAdmin)
	_, stolen := h.signedInClient("alice")
	busy := h.keepBusy(stolen)
	if res := h.post(admin, "/admin/accounts/alice/end-sessions", url.Values{"reason": {"lost laptop"}, "confirm": {"yes"}}); res.status != http.StatusSeeOther {
		t.Fatalf("end sessions: %d\n%s", res.status, res.body)
	}
	busy.ended()
	busy.check(t, "end sessions")
}

func TestPasswordChangeEndsABusyOtherSessionAndKeepsThisOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	_, stolen := h.signedInClient("alice")
	c, _ := h.signedInClient("alice")
	busy := h.keepBusy(stolen)
	newPassword := "paper boats on a winter canal"
	if res := h.post(c, "/account/password", url.Values{"current_password": {goodPassword}, "password": {newPassword}, "password_confirm": {newPassword}}); res.status != http.StatusSeeOther {
		t.Fatalf("change: %d\n%s", res.status, res.body)
	}
	busy.ended()
	busy.check(t, "password change")
	if res := h.get(c, "/account"); res.status != http.StatusOK {
		t.Fatal("the browser that changed the password was signed out")
	}
}

func TestSigningOutThatBrowserEndsItWhileBusy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	_, stolen := h.signedInClient("alice")
	c, _ := h.signedInClient("alice")
	busy := h.keepBusy(stolen)
	if res := h.post(c, "/account/sessions/"+secret.SessionHandle(stolen)+"/end", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("end session: %d", res.status)
	}
	busy.ended()
	busy.check(t, "sign out that browser")
	if res := h.get(c, "/account"); res.status != http.StatusOK {
		t.Fatal("this browser was signed out too")
	}
}

func TestLogoutEndsABusySession(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c, stolen := h.signedInClient("alice")
	busy := h.keepBusy(stolen)
	if res := h.post(c, "/logout", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.status)
	}
	busy.ended()
	busy.check(t, "logout")
}

// A sign-in renews the session id (SECURITY.md 17): the old id stays dead, even when a request of it
// commits after the renewal.
func TestOldSessionIDStaysDeadAfterSignInRenewsIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c, old := h.signedInClient("alice")
	busy := h.keepBusy(old)
	if res := h.signIn(c, "alice", goodPassword); res.status != http.StatusSeeOther {
		t.Fatalf("sign-in again: %d", res.status)
	}
	busy.ended()
	busy.check(t, "token renewal")
	if sessionCookie(c, h.url) == old {
		t.Fatal("the session id was not renewed")
	}
	if res := h.get(c, "/account"); res.status != http.StatusOK {
		t.Fatal("the renewed session is not signed in")
	}
}

// A reset signs nobody in (SECURITY.md 12), so a browser signed in as the account that completes
// the reset is signed out with every other.
func TestResetSignsOutTheBrowserThatCompletesIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c, cookie := h.signedInClient("alice")
	h.completeReset(c, h.resetLink(c, "alice"), "lanterns drift over the quiet harbour")
	if res := h.get(c, "/account"); res.status == http.StatusOK {
		t.Fatal("the browser that completed the reset is still signed in")
	}
	if h.statusWithCookie(cookie) == http.StatusOK {
		t.Fatal("the session of the browser that completed the reset still works")
	}
}

// A sign-in decided before the account's sessions were ended, whose session reaches the store only
// after, does not come back: the session carries the account's session epoch of its sign-in.
func TestSessionCommittedAfterItsAccountsSessionsEndedIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.addAccount("alice")
	_, cookie := h.signedInClient("alice")
	ctx := context.Background()
	data, found, err := h.sessions.FindCtx(ctx, cookie)
	if err != nil || !found {
		t.Fatalf("find the session: %v %v", found, err)
	}
	if _, err := h.store.Admin.EndAllSessions(ctx, a.ID, a.Username, testActor, "lost laptop", time.Now()); err != nil {
		t.Fatal(err)
	}
	// The same sign-in's session, saved under its new id after the end.
	late, err := secret.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.sessions.CommitCtx(ctx, late, data, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if h.statusWithCookie(late) == http.StatusOK {
		t.Fatal("a session of a sign-in from before the end is signed in")
	}
}

// The same holds between the two steps of a sign-in: sessions ended after the password and before
// the second factor end the pending sign-in too.
func TestSecondStepAfterSessionsEndedDoesNotSignIn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.addAccount("alice")
	c, _ := h.signedInClient("alice")
	res := h.post(c, "/account/recovery-codes", url.Values{})
	codes := recoveryCodePattern.FindAllStringSubmatch(res.body, -1)
	if len(codes) == 0 {
		t.Fatal("no recovery codes")
	}
	d := h.client()
	if res := h.signIn(d, "alice", goodPassword); res.header.Get("Location") != "/login/totp" {
		t.Fatalf("first step went to %q", res.header.Get("Location"))
	}
	if _, err := h.store.Admin.EndAllSessions(context.Background(), a.ID, a.Username, testActor, "lost laptop", time.Now()); err != nil {
		t.Fatal(err)
	}
	h.post(d, "/login/totp", url.Values{"code": {codes[0][1]}})
	if res := h.get(d, "/account"); res.status == http.StatusOK {
		t.Fatal("a second step finished after the sessions ended signed in")
	}
}

// SECURITY.md 29: a pending authenticator secret and fresh recovery codes sit in the session, and a
// copy of the session table must not reveal them.
func TestSessionDataHoldsNoSecretInPlaintext(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	a := h.addAccount("alice")
	c, cookie := h.signedInClient("alice")
	page := h.get(c, "/account/totp")
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no secret on /account/totp (%d)", page.status)
	}
	res := h.post(c, "/account/recovery-codes", url.Values{})
	codes := recoveryCodePattern.FindAllStringSubmatch(res.body, -1)
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	secrets := []string{m[1]}
	for _, c := range codes {
		secrets = append(secrets, c[1])
	}
	rows, err := h.db.Pool.Query(context.Background(), `SELECT data, account_id FROM sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	withAccount := 0
	for rows.Next() {
		var data []byte
		var accountID *int64
		if err := rows.Scan(&data, &accountID); err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Fatalf("the session table holds %q in plaintext", s)
			}
		}
		if accountID != nil && *accountID == a.ID {
			withAccount++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if withAccount == 0 {
		t.Fatal("no session row names its account: its sessions could not be ended")
	}
	// The codes are still there for their owner, once.
	if dl := h.post(c, "/account/recovery-codes/download", url.Values{}); !strings.Contains(dl.body, codes[0][1]) {
		t.Fatal("the codes could not be downloaded")
	}
	if h.statusWithCookie(cookie) != http.StatusOK {
		t.Fatal("the session does not load")
	}
}
