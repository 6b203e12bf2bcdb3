package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A person who chooses a zone on /account reads the account page's times in it, named, and the
// messages queued for them carry it; a name that is no zone is refused and changes nothing.
func TestAccountTimeZoneIsChosen(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	c := h.client()
	h.signIn(c, "alice", goodPassword)
	if res := h.get(c, "/account"); !strings.Contains(res.body, "UTC</") && !strings.Contains(res.body, " UTC") {
		t.Fatalf("before choosing, the account page names no UTC time:\n%s", res.body)
	}
	if res := h.post(c, "/account/time-zone", url.Values{"time_zone": {"Asia/Tokyo"}}); res.status != http.StatusSeeOther {
		t.Fatalf("choosing a zone: %d", res.status)
	}
	res := h.get(c, "/account")
	if !strings.Contains(res.body, "UTC&#43;09:00") || !strings.Contains(res.body, `value="Asia/Tokyo"`) {
		t.Errorf("after choosing Asia/Tokyo the account page shows no time in UTC+09:00 or not the choice:\n%s", res.body)
	}
	if res := h.post(c, "/account/time-zone", url.Values{"time_zone": {"Mars/Base"}}); res.status != http.StatusSeeOther {
		t.Fatalf("a zone there is none of: %d", res.status)
	}
	if res := h.get(c, "/account"); !strings.Contains(res.body, "Mars/Base") || !strings.Contains(res.body, `value="Asia/Tokyo"`) {
		t.Errorf("a zone there is none of is not named in an error, or replaced the choice:\n%s", res.body)
	}

	h.lock("alice")
	if _, err := h.accounts.Staff.Unlock(context.Background(), "alice", "ticket 9", testActor); err != nil {
		t.Fatal(err)
	}
	var zone string
	if err := h.db.Pool.QueryRow(context.Background(), `SELECT time_zone FROM outbox WHERE recipient = 'alice@example.com'
		AND template = 'unlocked' ORDER BY id DESC LIMIT 1`).Scan(&zone); err != nil || zone != "Asia/Tokyo" {
		t.Errorf("the unlock notice is written in zone %q (%v), want Asia/Tokyo", zone, err)
	}

	// Back to the organisation's zone with an empty field.
	h.post(c, "/account/time-zone", url.Values{"time_zone": {""}})
	if res := h.get(c, "/account"); strings.Contains(res.body, "UTC&#43;09:00") {
		t.Errorf("after clearing the zone the account page still shows UTC+09:00")
	}
}
