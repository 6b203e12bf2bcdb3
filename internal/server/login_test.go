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

	"golang.org/x/crypto/bcrypt"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

func TestSignInStartsSessionAndShowsAccount(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.get(c, "/login") // a session may exist before sign-in
	before := sessionCookie(c, h.url)

	res := h.signIn(c, "alice", goodPassword)
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		t.Fatalf("sign-in: status %d location %q, want 303 to /account", res.status, res.header.Get("Location"))
	}
	after := sessionCookie(c, h.url)
	if after == "" || after == before {
		t.Fatalf("session id was not renewed at sign-in (before %q, after %q)", before, after)
	}
	page := h.get(c, "/account")
	if page.status != http.StatusOK || !strings.Contains(page.body, "Signed in as Alice") {
		t.Fatalf("/account: status %d, body lacks the greeting:\n%s", page.status, page.body)
	}
	if page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("/account Cache-Control = %q, want no-store", page.header.Get("Cache-Control"))
	}
}

func TestSessionCookieFlags(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	res := h.signIn(h.client(), "alice", goodPassword)
	var found bool
	for _, line := range res.header.Values("Set-Cookie") {
		if !strings.HasPrefix(line, "unlockd_session=") {
			continue
		}
		found = true
		for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(line, want) {
				t.Errorf("session cookie %q lacks %s", line, want)
			}
		}
		if strings.Contains(line, "Secure") {
			t.Errorf("session cookie %q is Secure on an http base URL", line)
		}
	}
	if !found {
		t.Fatalf("no session cookie set at sign-in: %v", res.header.Values("Set-Cookie"))
	}
}

func TestSignInAcceptsEmailAndAnyLetterCase(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	for _, login := range []string{"ALICE", "Alice", "alice@example.com", "ALICE@EXAMPLE.COM", "  alice  "} {
		if res := h.signIn(h.client(), login, goodPassword); res.status != http.StatusSeeOther {
			t.Errorf("sign-in as %q: status %d, want 303", login, res.status)
		}
	}
}

// Wrong password, unknown user and an account that may not sign in must read the same.
// typedUsername is the username field's value given back by the sign-in form.
var typedUsername = regexp.MustCompile(`(id="username"[^>]*? value=)"[^"]*"`)

func TestFailedSignInsLookTheSame(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	frozen := h.addAccount("frozen")
	if err := h.store.Accounts.SetState(context.Background(), frozen.ID, account.StateFrozen, "review", nil, nil); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, user, pass string }{
		{"wrong password", "alice", "not the password at all"},
		{"unknown user", "nobody-here", "not the password at all"},
		{"frozen with right password", "frozen", goodPassword},
		{"empty password", "alice", ""},
		{"control characters", "ali\r\nce", "x"},
	}
	var first response
	for i, tc := range cases {
		c := h.client()
		res := h.signIn(c, tc.user, tc.pass)
		if res.status != http.StatusOK || !strings.Contains(res.body, `class="notice error"`) {
			t.Fatalf("%s: status %d, want 200 with the error notice", tc.name, res.status)
		}
		if acc := h.get(c, "/account"); acc.status != http.StatusSeeOther {
			t.Fatalf("%s: signed in after all (/account answers %d)", tc.name, acc.status)
		}
		// The form gives back the username as typed; apart from it, every answer is the same page.
		if tc.user == "alice" && !strings.Contains(res.body, `value="alice"`) {
			t.Errorf("%s: the username typed is not kept in the form", tc.name)
		}
		res.body = typedUsername.ReplaceAllString(res.body, `${1}"`)
		if i == 0 {
			first = res
			continue
		}
		if res.body != first.body {
			t.Errorf("%s: body differs from the wrong-password answer", tc.name)
		}
	}
}

func TestSignOutEndsSessionOnServer(t *testing.T) {
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	stolen := sessionCookie(c, h.url)
	if res := h.post(c, "/logout", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("logout: status %d", res.status)
	}
	// Replaying the old cookie must not reach the account.
	replay := h.client()
	u, _ := url.Parse(h.url)
	replay.Jar.SetCookies(u, []*http.Cookie{{Name: "unlockd_session", Value: stolen, Path: "/"}})
	if res := h.get(replay, "/account"); res.status != http.StatusSeeOther {
		t.Fatalf("old session after logout: status %d, want a redirect to /login", res.status)
	}
}

func TestAccountPageNeedsSignIn(t *testing.T) {
	h := newHarness(t)
	res := h.get(h.client(), "/account")
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/login" {
		t.Fatalf("status %d location %q, want 303 to /login", res.status, res.header.Get("Location"))
	}
}

func TestSessionEndsWhenAccountIsFrozen(t *testing.T) {
	h := newHarness(t)
	a := h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	if err := h.store.Accounts.SetState(context.Background(), a.ID, account.StateFrozen, "review", nil, nil); err != nil {
		t.Fatal(err)
	}
	if res := h.get(c, "/account"); res.status != http.StatusSeeOther {
		t.Fatalf("frozen account still reached /account: status %d", res.status)
	}
}

func TestImportedBcryptHashIsUpgradedAtSignIn(t *testing.T) {
	h := newHarness(t)
	b, err := bcrypt.GenerateFromPassword([]byte(goodPassword), 4)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := account.ParseImport(strings.NewReader("username,email,phone,display_name,role,password_hash\n"+
		"legacy,legacy@example.com,,Legacy,user,"+strings.Replace(string(b), "$2a$", "$2y$", 1)+"\n"), secret.ValidateHash, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.accounts.Accounts.ImportAccounts(context.Background(), rows, account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	if res := h.signIn(h.client(), "legacy", goodPassword); res.status != http.StatusSeeOther {
		t.Fatalf("bcrypt sign-in: status %d", res.status)
	}
	a, err := h.accounts.Accounts.AccountByLogin(context.Background(), "legacy")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
		t.Fatalf("hash after sign-in = %q, want argon2id", a.PasswordHash[:10])
	}
	if res := h.signIn(h.client(), "legacy", goodPassword); res.status != http.StatusSeeOther {
		t.Fatalf("sign-in with the upgraded hash: status %d", res.status)
	}
}

func TestOutdatedArgon2ParametersAreRehashed(t *testing.T) {
	h := newHarness(t)
	old := secret.Params{Memory: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	hash, err := secret.HashPassword(goodPassword, old)
	if err != nil {
		t.Fatal(err)
	}
	a := h.addAccount("alice")
	if _, err := h.store.Accounts.SetPasswordHash(context.Background(), a.ID, a.PasswordHash, hash); err != nil {
		t.Fatal(err)
	}
	h.signIn(h.client(), "alice", goodPassword)
	a, _ = h.accounts.Accounts.AccountByID(context.Background(), a.ID)
	if a.PasswordHash == hash || !strings.Contains(a.PasswordHash, "m=64,") {
		t.Fatalf("hash was not upgraded to the current parameters: %s", a.PasswordHash[:30])
	}
}

// Beyond the hashing bound, sign-ins answer 503 with Retry-After instead of piling up.
func TestHashingSaturationAnswers503(t *testing.T) {
	slow := secret.Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHarness(t, withHasher(secret.NewHasher(slow, 1, 1, 50*time.Millisecond)))
	h.addAccount("alice")
	var wg sync.WaitGroup
	statuses := make(chan response, 12)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- h.signIn(h.client(), "alice", "wrong password here")
		}()
	}
	wg.Wait()
	close(statuses)
	var busy, ok int
	for res := range statuses {
		switch res.status {
		case http.StatusServiceUnavailable:
			busy++
			if res.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
		case http.StatusOK:
			ok++
		default:
			t.Errorf("unexpected status %d", res.status)
		}
	}
	if busy == 0 || ok == 0 {
		t.Fatalf("got %d answered and %d busy; want some of each", ok, busy)
	}
}
