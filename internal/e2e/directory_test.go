package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/unlockd/unlockd/internal/directory/sambatest"
	"github.com/unlockd/unlockd/internal/directory/slapdtest"
	"github.com/unlockd/unlockd/internal/pgtest"
)

// The journeys of people whose accounts live in a directory: a real slapd with the ppolicy overlay
// (slapdtest) and a real Samba AD domain controller (sambatest). Locks come from real failed binds
// in the directory, and every check of what a page did is made in the directory itself.

// slapdOptions points a server at a slapdtest instance.
func slapdOptions(s *slapdtest.Server) *directoryOptions {
	return &directoryOptions{URL: s.URL, BindDN: slapdtest.ServiceDN, BindPassword: slapdtest.ServicePassword,
		BaseDN: slapdtest.PeopleDN}
}

// statusFacts is the list of facts the status page shows once the owner proved who they are.
func (p *tab) statusFacts(t *testing.T) map[string]string {
	t.Helper()
	return eval[map[string]string](t, p, `Object.fromEntries([...document.querySelectorAll("main dl.facts > div")]
		.map(d => [d.querySelector("dt").innerText.trim(), d.querySelector("dd").innerText.trim()]))`)
}

// auditEvents is the audit log as `unlockd audit export` writes it, one object a line.
func (s *testServer) auditEvents(t *testing.T) []map[string]any {
	t.Helper()
	var events []map[string]any
	for line := range strings.Lines(s.cli(t, "audit", "export", "--format", "jsonl")) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit export: %v in %q", err, line)
		}
		events = append(events, e)
	}
	return events
}

// directoryWrites lists the operations of the directory.written events on the username's account.
func (s *testServer) directoryWrites(t *testing.T, username string) []string {
	t.Helper()
	var ops []string
	for _, e := range s.auditEvents(t) {
		if e["action"] == "directory.written" && e["username"] == username {
			details, _ := e["details"].(map[string]any)
			op, _ := details["operation"].(string)
			ops = append(ops, op)
		}
	}
	return ops
}

// wantLDAPCode fails unless err is the LDAP result code.
func wantLDAPCode(t *testing.T, what string, err error, code uint16) {
	t.Helper()
	if !ldap.IsErrorWithCode(err, code) {
		t.Fatalf("%s: %v, want LDAP result %d (%s)", what, err, code, ldap.LDAPResultCodeMap[code])
	}
}

// lockedByDirectory is the directory's own lock attribute of a person: ppolicy's
// pwdAccountLockedTime.
func lockedByDirectory(t *testing.T, s *slapdtest.Server, dn string) []string {
	t.Helper()
	return s.MustAttribute(t, dn, "pwdAccountLockedTime")
}

// beforeTemplate is a message's text up to its first placeholder.
func beforeTemplate(s string) string {
	before, _, _ := strings.Cut(s, "{{")
	return before
}

func TestOpenLDAPDirectoryJourneys(t *testing.T) {
	t.Parallel()
	dir := slapdtest.New(t, slapdtest.DefaultPolicy())
	const (
		lena, lenaMail, lenaPassword    = "lena.ortiz", "lena.ortiz@example.org", "amber lanterns over the old quay"
		bo, boMail, boPassword          = "bo.lindqvist", "bo.lindqvist@example.org", "seven herons on a frozen lake"
		amira, amiraMail, amiraPassword = "amira.saleh", "amira.saleh@example.org", "copper kettles sing at dawn"
	)
	lenaDN := dir.MustAddPerson(t, slapdtest.Person{UID: lena, Password: lenaPassword, Mail: lenaMail, DisplayName: "Lena Ortiz"})
	boDN := dir.MustAddPerson(t, slapdtest.Person{UID: bo, Password: boPassword, Mail: boMail, DisplayName: "Bo Lindqvist"})
	// The only uid that starts with an a: a filter that a username could widen would find her.
	amiraDN := dir.MustAddPerson(t, slapdtest.Person{UID: amira, Password: amiraPassword, Mail: amiraMail})
	// oscar's password was set 80 days ago and the policy's pwdMaxAge is 90 days: it expires within
	// directory.expiry_warning (14 days), so the sync at start warns him.
	const oscar, oscarMail = "oscar.berg", "oscar.berg@example.org"
	oscarDN := dir.MustAddPerson(t, slapdtest.Person{UID: oscar, Password: "nine gulls above the harbour", Mail: oscarMail})
	if err := dir.SetPasswordChanged(oscarDN, time.Now().Add(-80*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	// The sync reads everyone at start, then not again during the test: people added later are
	// found by the flows' own reads.
	srv := startServerWith(t, serverOptions{Mail: true, Directory: slapdOptions(dir), Env: []string{"UNLOCKD_DIRECTORY_SYNC_INTERVAL=1h"}})
	// A status code, then an unlock code, then a reset link to one person, one after the other.
	srv.cli(t, "policy", "set", "code.resend_interval=1s")

	t.Run("a password about to expire is warned of", func(t *testing.T) {
		warning := srv.waitMail(t, oscarMail, subject(t, "en", "password_expiry", nil))
		if !strings.Contains(warning.Text, srv.URL+"/reset") {
			t.Errorf("the expiry warning has no link to /reset:\n%s", warning.Text)
		}
	})

	t.Run("locked by failed binds, seen on /status and unlocked on /unlock", func(t *testing.T) {
		dir.MustFailBinds(t, lenaDN, dir.Policy.MaxFailures)
		if got := lockedByDirectory(t, dir, lenaDN); len(got) != 1 {
			t.Fatalf("after %d failed binds pwdAccountLockedTime is %q: slapd did not lock", dir.Policy.MaxFailures, got)
		}
		wantLDAPCode(t, "the right password while slapd locks her", dir.Bind(lenaDN, lenaPassword), ldap.LDAPResultInvalidCredentials)

		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/status")
		p.startFlow(t, "/status", lena, "")
		code := oneTimeCode(t, srv.waitMail(t, lenaMail, subject(t, "en", "code", map[string]string{"Purpose": "status"})).Text)
		p.enterCode(t, "/status", code)
		facts := p.statusFacts(t)
		if facts[msg(t, "en", "account_username")] != lena || facts[msg(t, "en", "account_state")] != msg(t, "en", "state_locked_temporarily") {
			t.Fatalf("the status page of a person slapd locked shows %q, want %s %s", facts, lena, msg(t, "en", "state_locked_temporarily"))
		}
		if facts[msg(t, "en", "status_until")] == "" {
			t.Errorf("the status page shows no end of slapd's lock (pwdLockoutDuration): %q", facts)
		}
		// The page that read slapd's lock told her of it, with the unlock link, as a sync would.
		if notice := srv.waitMail(t, lenaMail, subject(t, "en", "locked", nil)); !strings.Contains(notice.Text, srv.URL+"/unlock") {
			t.Errorf("the lock notice has no unlock link:\n%s", notice.Text)
		}

		time.Sleep(1100 * time.Millisecond) // code.resend_interval
		p.open(t, "/unlock")
		p.startFlow(t, "/unlock", lena, "")
		code = oneTimeCode(t, srv.waitMail(t, lenaMail, subject(t, "en", "code", map[string]string{"Purpose": "unlock"})).Text)
		p.enterCode(t, "/unlock", code)
		p.wantNotice(t, "ok", msg(t, "en", "unlock_done"))

		if got := lockedByDirectory(t, dir, lenaDN); len(got) != 0 {
			t.Fatalf("after the unlock slapd still has pwdAccountLockedTime %q", got)
		}
		if got := dir.MustAttribute(t, lenaDN, "pwdFailureTime"); len(got) != 0 {
			t.Errorf("after the unlock slapd still counts the failures %q", got)
		}
		if err := dir.Bind(lenaDN, lenaPassword); err != nil {
			t.Fatalf("a bind with the right password after the unlock: %v", err)
		}
		if a := srv.show(t, lena); a.State != "active" || a.LockedUntil != nil {
			t.Errorf("after the unlock unlockd shows %+v, want active", a)
		}
		if got := srv.directoryWrites(t, lena); !slices.Equal(got, []string{"unlock"}) {
			t.Errorf("directory.written events for %s: %q, want one unlock", lena, got)
		}
		srv.waitMail(t, lenaMail, subject(t, "en", "unlocked", nil))
	})

	t.Run("a reset link sets the password in slapd, through its policy", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // code.resend_interval, since the unlock code
		p := b.newTab(t, srv.URL, "en")
		p.open(t, "/reset")
		p.fill(t, "username", lena)
		p.click(t, `main form[action="/reset"] button[type=submit]`)
		p.wantNotice(t, "ok", msg(t, "en", "reset_sent"))
		link := linkTo(t, srv.waitMail(t, lenaMail, subject(t, "en", "reset_link", nil)).Text, srv.URL+"/reset/")
		path := strings.TrimPrefix(link, srv.URL)
		if resp := p.open(t, path); resp.Status != http.StatusOK {
			t.Fatalf("the reset link answered %d", resp.Status)
		}

		// unlockd's own rules take it; slapd's pwdInHistory refuses the password she has now.
		p.chooseNewPassword(t, lenaPassword, lenaPassword)
		if got := p.path(t); got != path {
			t.Fatalf("after a password slapd refuses: at %s, want the reset page", got)
		}
		notice := p.notice(t, "error")
		if !strings.HasPrefix(notice, beforeTemplate(msg(t, "en", "err_directory_refused_history"))) ||
			!strings.HasSuffix(notice, ")") || len(notice) <= len(beforeTemplate(msg(t, "en", "err_directory_refused_history")))+2 {
			t.Fatalf("the refusal by slapd's history rule shows %q, want %q with slapd's reason", notice, msg(t, "en", "err_directory_refused_history"))
		}
		if err := dir.Bind(lenaDN, lenaPassword); err != nil {
			t.Fatalf("a refused password changed something: the password she had no longer binds: %v", err)
		}
		if got := srv.directoryWrites(t, lena); !slices.Equal(got, []string{"unlock"}) {
			t.Errorf("a refused password was recorded as written: %q", got)
		}

		// The link still works, and a new password goes into slapd.
		p.chooseNewPassword(t, newPassword, newPassword)
		p.wantNotice(t, "ok", msg(t, "en", "reset_done"))
		if err := dir.Bind(lenaDN, newPassword); err != nil {
			t.Fatalf("a bind with the password chosen on the reset form: %v", err)
		}
		wantLDAPCode(t, "a bind with the old password after the reset", dir.Bind(lenaDN, lenaPassword), ldap.LDAPResultInvalidCredentials)
		if got := srv.directoryWrites(t, lena); !slices.Contains(got, "set_password") {
			t.Errorf("directory.written events for %s after the reset: %q, want a set_password", lena, got)
		}
		srv.waitMail(t, lenaMail, subject(t, "en", "password_changed", nil))
		if resp := p.open(t, path); resp.Status != http.StatusNotFound {
			t.Errorf("the used reset link answered %d, want 404", resp.Status)
		}
	})

	t.Run("/login binds as the person", func(t *testing.T) {
		p := b.newTab(t, srv.URL, "en")
		// Someone no sync has read yet signs in: /login reads them from the directory.
		const cleo, cleoPassword = "cleo.park", "a lighthouse keeper's long logbook"
		dir.MustAddPerson(t, slapdtest.Person{UID: cleo, Password: cleoPassword, Mail: "cleo.park@example.org"})
		p.signIn(t, cleo, cleoPassword)
		if got := p.path(t); got != "/account" {
			t.Fatalf("a person added to the directory after the last sync signed in and landed on %s (%q), want /account", got, p.notice(t, "error"))
		}
		p = b.newTab(t, srv.URL, "en")
		p.signIn(t, bo, wrongPassword)
		p.wantNotice(t, "error", msg(t, "en", "login_failed"))
		if got := dir.MustAttribute(t, boDN, "pwdFailureTime"); len(got) != 1 {
			t.Fatalf("after one wrong password on /login slapd counts %d failures (pwdFailureTime %q), want 1", len(got), got)
		}
		if a := srv.show(t, bo); a.FailedAttempts != 1 || a.State != "active" {
			t.Errorf("after one wrong password unlockd shows %+v, want active with 1 failed attempt", a)
		}
		p.signIn(t, bo, boPassword)
		if got := p.path(t); got != "/account" {
			t.Fatalf("signing in with the directory password landed on %s (%q), want /account", got, p.notice(t, "error"))
		}
		if got := p.text(t, "main .lead"); !strings.Contains(got, "Bo Lindqvist") {
			t.Errorf("account page greeting = %q, want the directory's display name", got)
		}
		// A successful bind made slapd forget the failure.
		if got := dir.MustAttribute(t, boDN, "pwdFailureTime"); len(got) != 0 {
			t.Errorf("after signing in slapd still counts failures %q", got)
		}
	})

	t.Run("usernames cannot widen the directory's filter", func(t *testing.T) {
		before := srv.cli(t, "user", "list", "--json")
		c := &http.Client{Timeout: 30 * time.Second}
		post := func(path, username, password string) (int, string, string) {
			t.Helper()
			jar, _ := cookiejar.New(nil)
			c.Jar = jar
			form := url.Values{"username": {username}}
			if password != "" {
				form.Set("password", password)
			}
			res, err := c.PostForm(srv.URL+path, form)
			if err != nil {
				t.Fatalf("POST %s: %v", path, err)
			}
			defer res.Body.Close()
			body, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			return res.StatusCode, res.Request.URL.Path, string(body)
		}
		_, nobodyStatusPath, _ := post("/status", "nobody.here", "")
		for _, username := range []string{"*", "a*)(uid=*", "admin)(|(uid=*", "am*", "amira.saleh)(uid=*", "*)(|(objectClass=*"} {
			status, at, body := post("/login", username, amiraPassword)
			if status != http.StatusOK || at != "/login" || !strings.Contains(body, msg(t, "en", "login_failed")) {
				t.Errorf("/login as %q with amira's password: %d at %s, want the failure page", username, status, at)
			}
			status, at, _ = post("/status", username, "")
			if status != http.StatusOK || at != nobodyStatusPath {
				t.Errorf("/status for %q: %d at %s, want 200 at %s as for nobody", username, status, at, nobodyStatusPath)
			}
		}
		if got := dir.MustAttribute(t, amiraDN, "pwdFailureTime"); len(got) != 0 {
			t.Errorf("slapd counted failures for amira: %q", got)
		}
		if a := srv.show(t, amira); a.State != "active" || a.FailedAttempts != 0 {
			t.Errorf("amira after the attempts: %+v, want active with no failures", a)
		}
		if got := srv.cli(t, "user", "list", "--json"); got != before {
			t.Errorf("the attempts changed the accounts:\nbefore %s\nafter  %s", before, got)
		}
		if got := srv.mailsTo(t, amiraMail); len(got) != 0 {
			t.Errorf("mail went to amira: %q", got)
		}
	})

	// Last: it pauses the directory for a while, then stops it.
	t.Run("a directory that does not answer is 503 with its own page", func(t *testing.T) {
		srv.expectErrors("code=directory_unavailable", "directory unreachable")
		failedBefore := srv.show(t, bo).FailedAttempts
		p := b.newTab(t, srv.URL, "en")
		// A reset link, asked for while the directory answers, used while it does not.
		p.open(t, "/reset")
		p.fill(t, "username", bo)
		p.click(t, `main form[action="/reset"] button[type=submit]`)
		p.wantNotice(t, "ok", msg(t, "en", "reset_sent"))
		resetPath := strings.TrimPrefix(linkTo(t, srv.waitMail(t, boMail, subject(t, "en", "reset_link", nil)).Text, srv.URL+"/reset/"), srv.URL)

		if err := dir.Pause(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = dir.Resume() })
		wantDirectoryPage := func(what string, resp int64) {
			t.Helper()
			if resp != http.StatusServiceUnavailable {
				t.Errorf("%s with the directory paused: status %d, want 503", what, resp)
			}
			if got := p.text(t, "main h1"); got != msg(t, "en", "error_directory_title") {
				t.Errorf("%s with the directory paused: page titled %q, want %q", what, got, msg(t, "en", "error_directory_title"))
			}
			if got := p.text(t, "main .lead"); got != msg(t, "en", "error_directory") {
				t.Errorf("%s with the directory paused: page says %q, want %q", what, got, msg(t, "en", "error_directory"))
			}
		}
		start := time.Now()
		resp := p.signIn(t, bo, boPassword)
		wantDirectoryPage("/login", resp.Status)
		t.Logf("/login answered after %v", time.Since(start).Round(time.Millisecond))
		if got := p.path(t); got == "/account" {
			t.Fatalf("/login signed in with the directory paused")
		}
		p.open(t, "/status")
		p.fill(t, "username", bo)
		resp = p.click(t, `main form[action="/status"] button[type=submit]`)
		wantDirectoryPage("/status", resp.Status)
		if resp := p.open(t, resetPath); resp.Status != http.StatusOK {
			t.Fatalf("the reset link with the directory paused answered %d, want its form", resp.Status)
		}
		resp = p.chooseNewPassword(t, newPassword, newPassword)
		wantDirectoryPage("the reset form", resp.Status)

		if err := dir.Resume(); err != nil {
			t.Fatal(err)
		}
		if a := srv.show(t, bo); a.State != "active" || a.FailedAttempts != failedBefore {
			t.Errorf("after the outage bo is %+v, want active with %d failed attempts as before", a, failedBefore)
		}
		if got := srv.mailsTo(t, boMail); !slices.Equal(got, []string{subject(t, "en", "reset_link", nil)}) {
			t.Errorf("mail to bo by the end of the outage: %q, want the reset link only", got)
		}
		if err := dir.Bind(boDN, boPassword); err != nil {
			t.Fatalf("the reset during the outage changed the password: %v", err)
		}
		resp = p.signIn(t, bo, boPassword)
		if got := p.path(t); got != "/account" || resp.Status != http.StatusOK {
			t.Fatalf("signing in once the directory answers again: at %s with %d, want /account", got, resp.Status)
		}
		// The link was not used up: it sets the password now.
		q := b.newTab(t, srv.URL, "en")
		if resp := q.open(t, resetPath); resp.Status != http.StatusOK {
			t.Fatalf("the reset link after the outage answered %d, want its form", resp.Status)
		}
		q.chooseNewPassword(t, newPassword, newPassword)
		q.wantNotice(t, "ok", msg(t, "en", "reset_done"))
		if err := dir.Bind(boDN, newPassword); err != nil {
			t.Fatalf("a bind with the password set once the directory answers again: %v", err)
		}
		srv.waitMail(t, boMail, subject(t, "en", "password_changed", nil))
		p2 := b.newTab(t, srv.URL, "en")
		p2.open(t, "/status")
		p2.startFlow(t, "/status", bo, "")
		srv.waitMail(t, boMail, subject(t, "en", "code", map[string]string{"Purpose": "status"}))

		// A directory that is gone (connections refused) answers the same, at once.
		dir.Stop()
		for _, path := range []string{"/login", "/status"} {
			form := url.Values{"username": {bo}, "password": {boPassword}}
			start := time.Now()
			res, err := http.PostForm(srv.URL+path, form)
			if err != nil {
				t.Fatalf("POST %s with slapd stopped: %v", path, err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), msg(t, "en", "error_directory")) {
				t.Errorf("POST %s with slapd stopped: status %d, want 503 with the directory page:\n%s", path, res.StatusCode, tail(string(body), 1500))
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("POST %s with slapd stopped took %v: a refused connection needs no timeout", path, took)
			}
		}
	})
}

// samba starts a domain controller for the test, or skips it (fails it in CI) with the reason
// Samba cannot run here. It listens on 127.0.0.1:389 and :636, so it waits for its turn while
// another test process (the directory package's) runs one.
func samba(t *testing.T) *sambatest.Server {
	t.Helper()
	if _, _, err := sambatest.Find(); err != nil {
		pgtest.Prerequisite(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	s, err := sambatest.Start(ctx, t.TempDir())
	if err != nil {
		if sambatest.InCI() {
			t.Fatalf("Samba's domain controller cannot run here (CI=true, so this fails instead of skipping): %v", err)
		}
		t.Skipf("Samba's domain controller cannot run here: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

func TestActiveDirectoryJourneys(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		pgtest.Prerequisite(t, errors.New("Samba's domain controller runs as root only"))
	}
	ad := samba(t)
	const name, mail, password = "mei.chen", "mei.chen@example.org", "a quiet river under stone bridges"
	dn := ad.MustAddPerson(t, sambatest.Person{Name: name, Password: password, Mail: mail, DisplayName: "Mei Chen"})

	b := newBrowser(t)
	// AD sets unicodePwd only over TLS: LDAPS, trusting the test CA.
	srv := startServerWith(t, serverOptions{Mail: true, Directory: &directoryOptions{URL: sambatest.LDAPSURL, Kind: "ad",
		BindDN: sambatest.ServiceDN, BindPassword: sambatest.ServicePassword, BaseDN: sambatest.BaseDN, CAFile: ad.CAFile}})
	srv.cli(t, "policy", "set", "code.resend_interval=1s")

	ad.MustFailBinds(t, dn, sambatest.LockoutThreshold)
	if got := ad.MustAttribute(t, dn, "lockoutTime"); len(got) != 1 || got[0] == "0" {
		t.Fatalf("after %d failed binds lockoutTime is %q: the domain did not lock", sambatest.LockoutThreshold, got)
	}
	wantLDAPCode(t, "the right password while the domain locks her", ad.Bind(dn, password), ldap.LDAPResultInvalidCredentials)

	p := b.newTab(t, srv.URL, "en")
	p.open(t, "/status")
	p.startFlow(t, "/status", name, "")
	code := oneTimeCode(t, srv.waitMail(t, mail, subject(t, "en", "code", map[string]string{"Purpose": "status"})).Text)
	p.enterCode(t, "/status", code)
	if facts := p.statusFacts(t); facts[msg(t, "en", "account_state")] != msg(t, "en", "state_locked_temporarily") {
		t.Fatalf("the status page of a person the domain locked shows %q, want %s", facts, msg(t, "en", "state_locked_temporarily"))
	}

	time.Sleep(1100 * time.Millisecond) // code.resend_interval
	p.open(t, "/unlock")
	p.startFlow(t, "/unlock", name, "")
	code = oneTimeCode(t, srv.waitMail(t, mail, subject(t, "en", "code", map[string]string{"Purpose": "unlock"})).Text)
	p.enterCode(t, "/unlock", code)
	p.wantNotice(t, "ok", msg(t, "en", "unlock_done"))
	if got := ad.MustAttribute(t, dn, "lockoutTime"); len(got) != 1 || got[0] != "0" {
		t.Fatalf("lockoutTime after the unlock: %q, want 0", got)
	}
	if err := ad.Bind(dn, password); err != nil {
		t.Fatalf("a bind with the right password after the unlock: %v", err)
	}
	if a := srv.show(t, name); a.State != "active" {
		t.Errorf("after the unlock unlockd shows %+v, want active", a)
	}

	// A reset link's password is set in the domain (unicodePwd, over LDAPS).
	time.Sleep(1100 * time.Millisecond)
	p.open(t, "/reset")
	p.fill(t, "username", name)
	p.click(t, `main form[action="/reset"] button[type=submit]`)
	p.wantNotice(t, "ok", msg(t, "en", "reset_sent"))
	link := linkTo(t, srv.waitMail(t, mail, subject(t, "en", "reset_link", nil)).Text, srv.URL+"/reset/")
	p.open(t, strings.TrimPrefix(link, srv.URL))
	p.chooseNewPassword(t, newPassword, newPassword)
	p.wantNotice(t, "ok", msg(t, "en", "reset_done"))
	if err := ad.Bind(dn, newPassword); err != nil {
		t.Fatalf("a bind with the password chosen on the reset form: %v", err)
	}
	wantLDAPCode(t, "a bind with the old password after the reset", ad.Bind(dn, password), ldap.LDAPResultInvalidCredentials)
	if got := srv.directoryWrites(t, name); !slices.Contains(got, "unlock") || !slices.Contains(got, "set_password") {
		t.Errorf("directory.written events for %s: %q, want an unlock and a set_password", name, got)
	}

	// /login binds as the person: the domain counts a wrong password, and the right one signs in.
	badPwdCount := func() int {
		t.Helper()
		got := ad.MustAttribute(t, dn, "badPwdCount")
		n, err := strconv.Atoi(strings.Join(got, ""))
		if err != nil {
			t.Fatalf("badPwdCount %q: %v", got, err)
		}
		return n
	}
	bad := badPwdCount()
	q := b.newTab(t, srv.URL, "en")
	q.signIn(t, name, wrongPassword)
	q.wantNotice(t, "error", msg(t, "en", "login_failed"))
	if got := badPwdCount(); got != bad+1 {
		t.Errorf("after one wrong password on /login badPwdCount is %d, want %d", got, bad+1)
	}
	q.signIn(t, name, newPassword)
	if got := q.path(t); got != "/account" {
		t.Fatalf("signing in with the domain password landed on %s, want /account", got)
	}
}
