package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
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
// before A's end of the sessions, or not at all, however their requests interleave. Before, it
// could land after it, from a session just ended. A refused change sends B to sign in again; the
// rounds where the transaction's own check refused it (the sign-in page says why) show that the
// two met, as a request that arrives after the end is refused before it reaches the transaction.
func TestAnOwnersChangeFromASessionEndedMeanwhileLandsBeforeTheEndOrNotAtAll(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for i, change := range ownerChanges {
		outcomes := map[string]int{}
		met := 0
		for round := range 24 {
			name := fmt.Sprintf("owner%d-%d", i, round)
			alice := h.addAccount(name)
			a, _ := h.signedInClient(name)
			b, _ := h.signedInClient(name)
			form := change.prepare(h, b, name)

			// Each waits a little in turn, so that the two transactions meet in either order.
			delay := time.Duration(round%7) * time.Millisecond
			delayA, delayB := delay, time.Duration(0)
			if round%2 == 1 {
				delayA, delayB = 0, delay
			}
			endOthers, asked := h.raceEndOthers(a, delayA, b, delayB, change.path, form)
			if endOthers.err != nil || asked.err != nil {
				t.Fatalf("%s, round %d: %v, %v", change.name, round, endOthers.err, asked.err)
			}
			ended := h.auditedID(alice.ID, audit.SessionsEnded, `"via":"account_page"`)
			changed := h.auditedID(alice.ID, change.action, change.detail)
			if ended == 0 || endOthers.location != "/account" {
				t.Fatalf("%s, round %d: signing out everywhere else answered %d to %q, audited %d", change.name, round,
					endOthers.status, endOthers.location, ended)
			}
			landed := change.landed(h, alice)
			if landed != (changed != 0) {
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
			case changed != 0 && along == 0 && change.also != "":
				outcomes["made, then its session ended before what comes along"]++
			case changed != 0 && refused:
				t.Fatalf("%s, round %d: made, yet its browser was sent to sign in (%q)", change.name, round, asked.location)
			case changed != 0:
				outcomes["made, then its session ended"]++
			case !refused:
				t.Fatalf("%s, round %d: not made, and answered %d to %q", change.name, round, asked.status, asked.location)
			default:
				outcomes["refused"]++
				if strings.Contains(h.get(b, "/login").body, "signed out from another one of yours") {
					met++ // refused by its transaction's check, not before it
				}
			}
			if !h.signedIn(a) || h.signedIn(b) {
				t.Fatalf("%s, round %d: A signed in %v, B %v; want A only", change.name, round, h.signedIn(a), h.signedIn(b))
			}
		}
		if met == 0 {
			t.Fatalf("%s: the two transactions never met: %v; the test proves nothing", change.name, outcomes)
		}
		t.Logf("%s: %v; refused by the transaction's check in %d rounds", change.name, outcomes, met)
	}
}
