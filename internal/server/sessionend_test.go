package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/servetest"
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

// endsABusyOtherSessionAndKeepsThisOne posts form to path (what) from one of alice's browsers while
// a stolen session of hers is kept busy: the stolen one is gone for every request sent after the
// answer (303, to location unless it is empty), and the asking browser stays signed in.
func endsABusyOtherSessionAndKeepsThisOne(t *testing.T, what, path string, form url.Values, location string) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	_, stolen := h.signedInClient("alice")
	c, _ := h.signedInClient("alice")
	busy := h.keepBusy(stolen)
	if res := h.post(c, path, form); res.status != http.StatusSeeOther || location != "" && res.header.Get("Location") != location {
		t.Fatalf("%s: %d to %q\n%s", what, res.status, res.header.Get("Location"), res.body)
	}
	busy.ended()
	busy.check(t, what)
	if res := h.get(c, "/account"); res.status != http.StatusOK {
		t.Fatalf("the browser that asked for the %s was signed out", what)
	}
}

func TestPasswordChangeEndsABusyOtherSessionAndKeepsThisOne(t *testing.T) {
	newPassword := "paper boats on a winter canal"
	endsABusyOtherSessionAndKeepsThisOne(t, "password change", "/account/password",
		url.Values{"current_password": {goodPassword}, "password": {newPassword}, "password_confirm": {newPassword}}, "")
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

func TestSigningOutEverywhereElseEndsABusySession(t *testing.T) {
	endsABusyOtherSessionAndKeepsThisOne(t, "sign-out everywhere else", "/account/sessions/end-others", url.Values{}, "/account")
}

// postAnswer is the status and Location of a POST; unlike post it may be sent from any goroutine.
func (h *harness) postAnswer(c *http.Client, path string, form url.Values) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, h.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", h.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	res.Body.Close()
	return res.StatusCode, res.Header.Get("Location"), nil
}

// answer is a POST's status and Location, or the error it met.
type answer struct {
	status   int
	location string
	err      error
}

// raceEndOthers sends "sign out everywhere else" from browser a, after delayA, and form to path from
// browser b, after delayB, at once, and returns both answers.
func (h *harness) raceEndOthers(a *http.Client, delayA time.Duration, b *http.Client, delayB time.Duration,
	path string, form url.Values) (endOthers, other answer) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		<-start
		time.Sleep(delayA)
		endOthers.status, endOthers.location, endOthers.err = h.postAnswer(a, "/account/sessions/end-others", url.Values{})
	}()
	go func() {
		defer wg.Done()
		<-start
		time.Sleep(delayB)
		other.status, other.location, other.err = h.postAnswer(b, path, form)
	}()
	close(start)
	wg.Wait()
	return endOthers, other
}

// auditedID is the id of the account's one event of action whose details hold detail, or 0 when
// there is none.
func (h *harness) auditedID(accountID int64, action, detail string) int64 {
	h.t.Helper()
	events, err := h.accounts.Audit.AuditEvents(context.Background(), account.AuditQuery{AccountID: &accountID, Action: action, Limit: 10})
	if err != nil {
		h.t.Fatal(err)
	}
	var id int64
	for _, e := range events {
		if strings.Contains(e.Details, detail) {
			if id != 0 {
				h.t.Fatalf("%s recorded twice for account %d", action, accountID)
			}
			id = e.ID
		}
	}
	return id
}

// Browser A signs out everywhere else while browser B of the same account changes the password.
// Each ends every session of the account but its own, in a transaction that takes the account's
// row first, so the two take turns; and each, once it holds the row, checks that its own session
// is still live and current (account.KeptSession). So the second to take the row finds its
// session ended by the first, changes nothing and sends its browser to sign in again, however
// their requests interleave: exactly one of the two takes effect, and its browser alone stays
// signed in. A request that arrives after the other has committed is refused before it reaches
// the transaction, as any request of an ended session is; the rounds where the transaction's own
// check refused it (its sign-in page says why) show that the two met.
//
// A third browser of the account is signed out, another account's not.
func TestSigningOutEverywhereElseAndAPasswordChangeAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("bob")
	bob, _ := h.signedInClient("bob")
	newPassword := "paper boats on a winter canal"
	outcomes := map[string]int{}
	met := 0
	for round := range 20 {
		name := fmt.Sprintf("alice%d", round)
		alice := h.addAccount(name)
		a, _ := h.signedInClient(name)
		b, _ := h.signedInClient(name)
		_, third := h.signedInClient(name)

		// Both set off at once, but a password change does more before its transaction (it checks
		// the current password and hashes the new one), so signing out everywhere else waits a
		// little longer each round, for the two transactions to meet in either order.
		endOthers, change := h.raceEndOthers(a, time.Duration(round%10)*3*time.Millisecond, b, 0, "/account/password",
			url.Values{"current_password": {goodPassword}, "password": {newPassword}, "password_confirm": {newPassword}})
		if endOthers.err != nil || change.err != nil {
			t.Fatalf("round %d: %v, %v", round, endOthers.err, change.err)
		}
		// Each answers 303: to /account when done, to the sign-in page when its session had ended.
		ended := h.auditedID(alice.ID, audit.SessionsEnded, `"via":"account_page"`)
		changed := h.auditedID(alice.ID, audit.PasswordChanged, `"via":"account_page"`)
		if (endOthers.location == "/account") != (ended != 0) || (change.location == "/account") != (changed != 0) {
			t.Fatalf("round %d: answers %d to %q and %d to %q, audited %d and %d", round,
				endOthers.status, endOthers.location, change.status, change.location, ended, changed)
		}
		var outcome string
		var winner, loser *http.Client
		switch {
		case ended != 0 && changed != 0:
			t.Fatalf("round %d: both took effect, the second asked from a session the first had ended", round)
		case ended != 0:
			outcome, winner, loser = "signed out everywhere else; the password change was refused", a, b
		case changed != 0:
			outcome, winner, loser = "the password changed; signing out everywhere else was refused", b, a
		default:
			t.Fatalf("round %d: neither took effect", round)
		}
		outcomes[outcome]++
		// First, as any later page would show it: the sign-in page the refused request was sent to.
		if strings.Contains(h.get(loser, "/login").body, "signed out from another one of yours") {
			met++ // refused by its transaction's check, not before it
		}
		if winnerIn, loserIn := h.signedIn(winner), h.signedIn(loser); !winnerIn || loserIn {
			t.Fatalf("round %d (%s): the browser whose request took effect signed in %v, the other %v; want only the first",
				round, outcome, winnerIn, loserIn)
		}
		if h.statusWithCookie(third) == http.StatusOK {
			t.Fatalf("round %d (%s): a third browser is still signed in", round, outcome)
		}
		if !h.signedIn(bob) {
			t.Fatalf("round %d (%s): bob was signed out", round, outcome)
		}
	}
	if met == 0 {
		t.Fatalf("the two transactions never met: %v; the test proves nothing", outcomes)
	}
	t.Logf("outcomes: %v; refused by the transaction's check in %d rounds", outcomes, met)
}

// endOthersHangingUp posts "sign out everywhere else" from c and hangs up when hangUp is closed,
// closing the connection under the request wherever it is. It returns when the client has given
// up or had its answer.
func (h *harness) endOthersHangingUp(c *http.Client, hangUp <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/account/sessions/end-others", nil)
	if err != nil {
		h.t.Error(err)
		return
	}
	req.Header.Set("Origin", h.url)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	go func() {
		select {
		case <-hangUp:
			cancel()
		case <-ctx.Done():
		}
	}()
	if res, err := c.Do(req); err == nil {
		res.Body.Close()
	}
}

// waitFor polls until done says so, for up to within, and reports whether it did.
func waitFor(within time.Duration, done func() bool) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if done() {
			return true
		}
	}
	return false
}

// allOrNothing checks what a hung-up "sign out everywhere else" left of an account's sessions:
// either every other browser is signed out and the end is audited, or none is and nothing is
// audited. The asking browser stays signed in when nothing happened. It returns whether the end
// took effect.
func (h *harness) allOrNothing(where string, accountID int64, this *http.Client, others []string) bool {
	h.t.Helper()
	audited := h.auditedID(accountID, audit.SessionsEnded, `"via":"account_page"`) != 0
	signedIn := 0
	for _, cookie := range others {
		if h.statusWithCookie(cookie) == http.StatusOK {
			signedIn++
		}
	}
	switch {
	case audited && signedIn > 0:
		h.t.Fatalf("%s: the end is audited, yet %d of %d other browsers are still signed in", where, signedIn, len(others))
	case !audited && signedIn < len(others):
		h.t.Fatalf("%s: %d of %d other browsers are signed out, and no end is audited", where, len(others)-signedIn, len(others))
	case !audited && !h.signedIn(this):
		h.t.Fatalf("%s: nothing was ended, yet the asking browser is signed out", where)
	}
	return audited
}

// A browser that hangs up while its "sign out everywhere else" is under way leaves all or nothing
// of it: the end of the other sessions and its audit event are one unit of work, carried out once
// the request has asked for it, and the asking browser keeps its session. First the hang-up comes
// while the unit waits to append its event, its sessions ended but not yet committed; then at
// moments swept over the whole request.
func TestSigningOutEverywhereElseWithAHangUpChangesAllOrNothing(t *testing.T) {
	t.Parallel()
	var logs servetest.SyncBuffer
	h := newHarness(t, withLog(&logs))
	// answered waits until the server has logged more requests to sign out everywhere else than
	// before: it has done with the last, whatever became of it.
	logged := func() int { return strings.Count(logs.String(), "path=/account/sessions/end-others ") }
	answered := func(before int, within time.Duration) bool {
		return waitFor(within, func() bool { return logged() > before })
	}
	h.addAccount("bob")
	bob, _ := h.signedInClient("bob")
	signInMany := func(name string) (*account.Account, *http.Client, []string) {
		a := h.addAccount(name)
		this, _ := h.signedInClient(name)
		var others []string
		for range 3 {
			_, cookie := h.signedInClient(name)
			others = append(others, cookie)
		}
		return a, this, others
	}

	// Hold the audit log so that the unit of work stops at its event.
	alice, this, others := signInMany("alice")
	ctx := context.Background()
	hold, err := h.db.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `LOCK TABLE audit_events IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	const waitingForTheAuditLog = `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'audit_events'::regclass`
	hangUp := make(chan struct{})
	var reached atomic.Bool
	go func() {
		defer close(hangUp)
		reached.Store(waitFor(10*time.Second, func() bool {
			var waiting int
			err := h.db.Pool.QueryRow(ctx, waitingForTheAuditLog).Scan(&waiting)
			return err != nil || waiting > 0
		}))
	}()
	h.endOthersHangingUp(this, hangUp)
	if !reached.Load() {
		t.Fatal("the request did not reach the audit log")
	}
	// Once asked, the end is carried out whether or not the browser waits for the answer: the
	// request still waits for the lock after its client has gone, and commits once the lock is let
	// go, all of it.
	time.Sleep(200 * time.Millisecond)
	if h.count(waitingForTheAuditLog) == 0 {
		t.Fatal("the request gave the end up with its client")
	}
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if !answered(0, 10*time.Second) {
		t.Fatal("the server never finished the request")
	}
	if !h.allOrNothing("hang-up at the audit event", alice.ID, this, others) || !h.signedIn(this) {
		t.Fatal("the end asked before the hang-up was not carried out, or cost the asking browser its session")
	}

	// Hang-ups swept over the request, from at once to after it is answered. A hang-up after the
	// commit does not cost the asking browser its session: its new epoch is saved with its session
	// however the client went.
	outcomes := map[string]int{}
	for round := range 30 {
		alice, this, others := signInMany(fmt.Sprintf("alice%d", round))
		after := time.Duration(round) * 500 * time.Microsecond
		hangUp := make(chan struct{})
		time.AfterFunc(after, func() { close(hangUp) })
		before := logged()
		h.endOthersHangingUp(this, hangUp)
		// A request that reached the server is answered, to nobody, and logged; one that did not
		// reach it never is.
		answered(before, 2*time.Second)
		switch {
		case !h.allOrNothing(fmt.Sprintf("hang-up after %v", after), alice.ID, this, others):
			outcomes["nothing"]++
		case h.signedIn(this):
			outcomes["all"]++
		default:
			t.Fatalf("hang-up after %v: the others were signed out, and the asking browser too", after)
		}
	}
	t.Logf("outcomes: %v", outcomes)
	if !h.signedIn(bob) {
		t.Fatal("bob was signed out")
	}
}
