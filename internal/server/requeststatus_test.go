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
)

var referenceOnPage = regexp.MustCompile(`UR-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}`)

// fileRequest sends a request for help for login and returns its reference, from the page.
func (h *harness) fileRequest(login, message string) string {
	h.t.Helper()
	res := h.post(h.client(), "/help/request", url.Values{"username": {login}, "message": {message}})
	ref := referenceOnPage.FindString(res.body)
	if ref == "" || !strings.Contains(res.body, `href="/help/request/status"`) {
		h.t.Fatalf("no reference or no way to follow it on the page (%d)", res.status)
	}
	return ref
}

// decide closes a request as staff would, with a message for the requester.
func (h *harness) decide(ref, status, message string) {
	h.t.Helper()
	ctx := context.Background()
	var id int64
	if err := h.db.Pool.QueryRow(ctx, `SELECT id FROM unlock_requests WHERE reference = $1`, ref).Scan(&id); err != nil {
		h.t.Fatal(err)
	}
	if ok, err := h.store.Admin.CloseRequest(ctx, id, status, message, account.Actor{Name: "helpdesk:hd"}, time.Now(), nil); err != nil || !ok {
		h.t.Fatalf("closing %s: %v %v", ref, ok, err)
	}
}

func (h *harness) requestStatus(c *http.Client, ref, login string, headers ...string) response {
	h.t.Helper()
	return h.post(c, "/help/request/status", url.Values{"reference": {ref}, "username": {login}}, headers...)
}

// The requester follows the request by its reference: open while it waits, then approved or denied
// with when and the staff member's message.
func TestRequestStatusShowsWhereARequestStands(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.addAccount("bob")
	if page := h.get(h.client(), "/help"); !strings.Contains(page.body, `href="/help/request/status"`) {
		t.Fatal("/help does not link the request-status page")
	}
	form := h.get(h.client(), "/help/request/status")
	if form.status != http.StatusOK || !strings.Contains(form.body, `<label for="reference">`) || !strings.Contains(form.body, `<label for="username">`) {
		t.Fatalf("the form: %d", form.status)
	}

	open, approved, denied := h.fileRequest("alice", "locked out"), h.fileRequest("alice", "again"), h.fileRequest("bob", "frozen")
	h.decide(approved, "approved", "Unlocked after your call")
	h.decide(denied, "denied", "Ask your manager to confirm first")
	c := h.client()

	res := h.requestStatus(c, open, "alice")
	if res.status != http.StatusOK || !strings.Contains(res.body, "Open: waiting for an administrator") {
		t.Fatalf("open request: %d\n%s", res.status, res.body)
	}
	if !strings.Contains(res.body, `<code id="reference">`+open+`</code>`) || strings.Contains(res.body, "Decided") {
		t.Error("the open request's page does not show its reference, or shows a decision")
	}
	// Typed back in lower case without the dashes, the login in capitals: the same request.
	loose := strings.ToLower(strings.ReplaceAll(open, "-", ""))
	if res := h.requestStatus(c, loose, "ALICE"); !strings.Contains(res.body, "Open: waiting for an administrator") {
		t.Errorf("a loosely typed reference was not found")
	}

	res = h.requestStatus(c, approved, "alice")
	if !strings.Contains(res.body, ">Approved<") || !strings.Contains(res.body, "Unlocked after your call") || !strings.Contains(res.body, "Decided") {
		t.Errorf("approved request:\n%s", res.body)
	}
	res = h.requestStatus(c, denied, "bob")
	if !strings.Contains(res.body, ">Denied<") || !strings.Contains(res.body, "Ask your manager to confirm first") {
		t.Errorf("denied request:\n%s", res.body)
	}
	if strings.Contains(res.body, "helpdesk:hd") {
		t.Error("the page names the staff member")
	}
	zh := h.requestStatus(c, denied, "bob", "Accept-Language", "zh-CN")
	if !strings.Contains(zh.body, "已拒绝") || !strings.Contains(zh.body, "管理员留言") {
		t.Error("the status page is not in Chinese")
	}
}

// A right reference with another username is answered exactly as a reference that does not exist.
func TestRequestStatusWrongUsernameIsNoMatch(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	h.addAccount("bob")
	ref := h.fileRequest("alice", "private matter")
	h.decide(ref, "denied", "a message meant for alice only")
	c := h.client()
	wrongUser := h.requestStatus(c, ref, "bob")
	unknownUser := h.requestStatus(c, ref, "nobody")
	other := "UR-2222-2222"
	if other == ref {
		other = "UR-3333-3333"
	}
	wrongRef := h.requestStatus(c, other, "bob")
	for name, res := range map[string]response{"another username": wrongUser, "an unknown username": unknownUser, "an unknown reference": wrongRef} {
		if res.status != http.StatusOK || !strings.Contains(res.body, "No request matches") {
			t.Errorf("%s: %d, want the no-match answer", name, res.status)
		}
		if strings.Contains(res.body, "meant for alice") || strings.Contains(res.body, ">Denied<") {
			t.Errorf("%s: the page tells something of alice's request", name)
		}
	}
	// The same page but for the values typed back into the form.
	strip := func(s, typed string) string { return strings.ReplaceAll(s, typed, "") }
	if strip(strip(wrongUser.body, ref), "bob") != strip(strip(wrongRef.body, other), "bob") {
		t.Error("a wrong username and a wrong reference answer differently")
	}
}

// 50 and more lookups at once from one client: the ledger answers RequestLookupLimit of them and
// refuses the rest, found or not.
func TestRequestStatusLookupsAreBoundedPerClient(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	ref := h.fileRequest("alice", "locked out")
	const n = 60
	var mu sync.Mutex
	answered, throttled, other := 0, 0, 0
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			form := url.Values{"reference": {ref}, "username": {"alice"}}
			if i%2 == 1 {
				form = url.Values{"reference": {"UR-2222-" + strings.Repeat(string("23456789"[i%8]), 4)}, "username": {"alice"}}
			}
			req, _ := http.NewRequest(http.MethodPost, h.url+"/help/request/status", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", h.url)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			res, err := h.client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch res.StatusCode {
			case http.StatusOK:
				answered++
			case http.StatusTooManyRequests:
				throttled++
			default:
				other++
			}
		}(i)
	}
	wg.Wait()
	t.Logf("%d lookups at once: %d answered, %d throttled", n, answered, throttled)
	if answered != account.RequestLookupLimit || throttled != n-account.RequestLookupLimit || other != 0 {
		t.Fatalf("%d answered, %d throttled, %d other; want %d answered and the rest throttled", answered, throttled, other, account.RequestLookupLimit)
	}
	res := h.requestStatus(h.client(), ref, "alice")
	if res.status != http.StatusTooManyRequests || !strings.Contains(res.body, "Too many look-ups") || res.header.Get("Retry-After") == "" {
		t.Fatalf("after the limit: %d %q", res.status, res.header.Get("Retry-After"))
	}
	// Asking for help is counted apart: the lookups did not spend it.
	if res := h.post(h.client(), "/help/request", url.Values{"username": {"alice"}}); res.status != http.StatusOK {
		t.Fatalf("a request for help after the lookups: %d", res.status)
	}
}
