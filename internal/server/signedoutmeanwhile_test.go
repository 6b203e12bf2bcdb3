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
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/secret"
)

// ownerChange is a change an owner makes from a signed-in browser that would let a thief who holds
// the session keep the account: a second factor or a contact of their own.
type ownerChange struct {
	name, path string
	// action and detail find the change in the audit log
	action, detail string
	// also finds what the change may bring along (the first recovery codes of an authenticator):
	// with it or alone, but never after the sessions ended either
	also string
	// prepare readies the change in browser c, as far as it goes before its last step, and
	// returns the form of that step.
	prepare func(h *harness, c *http.Client, username string) url.Values
	// landed reads from the database whether the change was made.
	landed func(h *harness, a *account.Account) bool
}

var ownerChanges = []ownerChange{
	{name: "new recovery codes", path: "/account/recovery-codes", action: audit.FactorAdded, detail: `"factor":"recovery_codes"`,
		prepare: func(*harness, *http.Client, string) url.Values { return url.Values{} },
		landed: func(h *harness, a *account.Account) bool {
			return h.count(`SELECT count(*) FROM recovery_codes WHERE account_id = $1`, a.ID) > 0
		}},
	{name: "an authenticator", path: "/account/totp", action: audit.FactorAdded, detail: `"factor":"totp"`, also: `"factor":"recovery_codes"`,
		prepare: func(h *harness, c *http.Client, _ string) url.Values {
			key, _ := h.totpKeyOn(c)
			code, err := secret.TOTPCode(key, time.Now())
			if err != nil {
				h.t.Fatal(err)
			}
			return url.Values{"code": {code}}
		},
		landed: func(h *harness, a *account.Account) bool {
			return h.count(`SELECT count(*) FROM totp_secrets WHERE account_id = $1`, a.ID) > 0
		}},
	{name: "a new email address", path: "/account/contact/verify", action: audit.ContactChanged, detail: `"contact":"email"`,
		prepare: func(h *harness, c *http.Client, username string) url.Values {
			to := username + ".new@example.org"
			h.post(c, "/account/contact", url.Values{"kind": {"email"}, "value": {to}})
			return url.Values{"code": {h.lastMessage(to, "code")["Code"]}}
		},
		landed: func(h *harness, a *account.Account) bool {
			return h.state(a.Username).Email != a.Email
		}},
}

// Browser A signs out everywhere else while browser B of the same account, a thief's say, makes a
// change that would let it keep the account. B's change takes the account's row, then checks that
// its session is still live and current (account.KeptSession), in its own transaction: it lands
// before A's end of the sessions, or not at all. Before, it could land after it, from a session
// just ended.
//
// The test holds the account's row while both requests are sent, so that both pass their
// requests' session check and wait for the row in their transactions, and lets them in one order
// or the other: with A first, B's transaction finds its session ended, changes nothing and sends
// its browser to sign in again, saying why; with B first, its change lands, and A's sign-out ends
// its session after.
func TestAnOwnersChangeFromASessionEndedMeanwhileLandsBeforeTheEndOrNotAtAll(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i, change := range ownerChanges {
		for round := range 6 {
			aFirst := round%2 == 0
			name := fmt.Sprintf("owner%d-%d", i, round)
			alice := h.addAccount(name)
			a, _ := h.signedInClient(name)
			b, _ := h.signedInClient(name)
			form := change.prepare(h, b, name)

			endOthers, asked := h.raceAtTheRow(alice.ID, aFirst, a, b, change.path, form)
			if endOthers.err != nil || asked.err != nil {
				t.Fatalf("%s, round %d: %v, %v", change.name, round, endOthers.err, asked.err)
			}
			ended := h.auditedID(alice.ID, audit.SessionsEnded, `"via":"account_page"`)
			changed := h.auditedID(alice.ID, change.action, change.detail)
			if ended == 0 || endOthers.location != "/account" {
				t.Fatalf("%s, round %d: signing out everywhere else answered %d to %q, audited %d", change.name, round,
					endOthers.status, endOthers.location, ended)
			}
			if landed := change.landed(h, alice); landed != (changed != 0) {
				t.Fatalf("%s, round %d: made %v, audited %d: want both or neither", change.name, round, landed, changed)
			}
			var along int64
			if change.also != "" {
				along = h.auditedID(alice.ID, change.action, change.also)
			}
			refused := asked.status == http.StatusSeeOther && strings.HasPrefix(asked.location, "/login")
			switch {
			case changed > ended || along > ended:
				t.Fatalf("%s, round %d: made after the sessions ended, from one of them", change.name, round)
			case aFirst && (changed != 0 || along != 0 || !refused):
				t.Fatalf("%s, round %d, the sign-out first: made %v, answered %d to %q; want nothing made and a sign-in page",
					change.name, round, changed != 0, asked.status, asked.location)
			case aFirst && !strings.Contains(h.get(b, "/login").body, "signed out from another one of yours"):
				t.Fatalf("%s, round %d, the sign-out first: the sign-in page does not say why", change.name, round)
			case !aFirst && changed == 0:
				t.Fatalf("%s, round %d, the change first: not made (answered %d to %q)", change.name, round, asked.status, asked.location)
			case !aFirst && refused && (change.also == "" || along != 0):
				// What comes along (an authenticator's first recovery codes) is asked in a
				// transaction of its own, which the sign-out may come before: then its browser is
				// sent to sign in.
				t.Fatalf("%s, round %d, the change first: made, yet its browser was sent to sign in (%q)", change.name, round, asked.location)
			}
			if !h.signedIn(a) || h.signedIn(b) {
				t.Fatalf("%s, round %d: A signed in %v, B %v; want A only", change.name, round, h.signedIn(a), h.signedIn(b))
			}
		}
	}
}

// raceAtTheRow holds the account's row while it sends "sign out everywhere else" from browser a and
// form to path from browser b, the first of them (a when aFirst) until it waits for the row, then
// the other until it waits too; then it lets go, and returns both answers.
func (h *harness) raceAtTheRow(accountID int64, aFirst bool, a, b *http.Client, path string, form url.Values) (endOthers, other answer) {
	h.t.Helper()
	ctx := context.Background()
	tx, err := h.db.Pool.Begin(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, accountID); err != nil {
		h.t.Fatal(err)
	}
	sends := []func(){
		func() {
			endOthers.status, endOthers.location, endOthers.err = h.postAnswer(a, "/account/sessions/end-others", url.Values{})
		},
		func() { other.status, other.location, other.err = h.postAnswer(b, path, form) },
	}
	if !aFirst {
		sends[0], sends[1] = sends[1], sends[0]
	}
	var wg sync.WaitGroup
	for n, send := range sends {
		wg.Go(send)
		h.waitForLockWaiters(n + 1)
	}
	if err := tx.Rollback(ctx); err != nil {
		h.t.Fatal(err)
	}
	wg.Wait()
	return endOthers, other
}

// waitForLockWaiters waits until n statements of the test's database wait for a lock.
func (h *harness) waitForLockWaiters(n int) {
	h.t.Helper()
	if !waitFor(10*time.Second, func() bool {
		return h.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`) >= n
	}) {
		h.t.Fatalf("%d statements wait for a lock, want %d", h.count(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`), n)
	}
}
