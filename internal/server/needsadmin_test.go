package server_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// The owner of a frozen account who asks for an unlock code is mailed the truth, not a code, and
// the page answers as it does for everyone.
func TestUnlockOfAFrozenAccountMailsNoCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.addAccount("alice")
	if _, err := h.accounts.Staff.Freeze(context.Background(), "alice", "review", "Call the desk.", nil, testActor); err != nil {
		t.Fatal(err)
	}
	res := h.post(h.client(), "/unlock", url.Values{"username": {"alice"}})
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/unlock/verify" {
		t.Fatalf("/unlock for a frozen account: %d %s", res.status, res.header.Get("Location"))
	}
	if m := h.lastMessage("alice@example.com", "needs_admin"); m["State"] != "frozen" || m["Message"] != "Call the desk." {
		t.Errorf("the notice: %v", m)
	}
	if n := h.countMessages("code"); n != 0 {
		t.Errorf("%d codes were sent", n)
	}
}

// With UNLOCKD_TIMEZONE set, forms read times in that zone and say so.
func TestFormsReadTimesInTheConfiguredZone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withEnv("UNLOCKD_TIMEZONE", "Asia/Shanghai"))
	ad := h.staff("ad", account.RoleAdmin)
	if page := h.get(ad, "/admin/maintenance"); !strings.Contains(html.UnescapeString(page.body), "From (UTC+08:00)") {
		t.Error("the maintenance form does not name the zone its times are read in")
	}
	if page := h.get(ad, "/admin/maintenance", "Accept-Language", "zh-CN"); !strings.Contains(page.body, "北京时间") {
		t.Error("the Chinese maintenance form does not say Beijing time")
	}
	start := time.Now().Add(48 * time.Hour).In(time.FixedZone("CST", 8*3600)).Truncate(time.Minute)
	res := h.post(ad, "/admin/maintenance", url.Values{"starts_at": {start.Format("2006-01-02T15:04")},
		"ends_at": {start.Add(time.Hour).Format("2006-01-02T15:04")}, "message_en": {"Upgrade."}, "message_zh": {"升级。"}})
	if res.status != http.StatusSeeOther {
		t.Fatalf("schedule: %d", res.status)
	}
	list, err := h.accounts.Maintenance.Maintenances(context.Background())
	if err != nil || len(list) != 1 || !list[0].StartsAt.Equal(start) {
		t.Fatalf("scheduled %+v, %v; want it to start at %v", list, err, start)
	}
}
