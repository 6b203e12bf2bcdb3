package notify

import (
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/notice"
)

// everyNotice is one of each kind of notice the domain sends, every field set. A new kind is
// added here, and the test below fails until it is.
var everyNotice = []notice.Notice{
	notice.Code{Name: "Alice Zhang", Code: "482915", Purpose: "unlock", TTL: 10 * time.Minute},
	notice.ResetLink{Name: "Alice Zhang", Link: "https://unlock.example.com/reset/tok3n", TTL: 30 * time.Minute},
	notice.Locked{Name: "Alice Zhang", At: at, Place: "203.0.113.7", Until: at.Add(15 * time.Minute),
		UnlockLink: "https://unlock.example.com/unlock"},
	notice.Frozen{Name: "Alice Zhang", At: at, Message: "Call the service desk.", Until: at.Add(24 * time.Hour)},
	notice.Unlocked{Name: "Alice Zhang", At: at, Method: "email+totp"},
	notice.PasswordChanged{Name: "Alice Zhang", At: at},
	notice.FactorChanged{Name: "Alice Zhang", At: at, Change: notice.RecoveryCodeUsed},
	notice.RequestReceived{Name: "Alice Zhang", Reference: "UR-ABCD-EFGH"},
	notice.RequestHandled{Name: "Alice Zhang", Reference: "UR-ABCD-EFGH", Approved: true, Message: "Welcome back."},
	notice.RequestHandled{Reference: "UR-ABCD-EFGH", Message: "We could not confirm it was you."},
	notice.StaffAlert{Count: 23, Window: 10 * time.Minute, Link: "https://unlock.example.com/admin"},
	notice.NeedsAdmin{Name: "Alice Zhang", State: "frozen", Message: "Call the compliance desk.", Link: "https://unlock.example.com/help/request"},
	notice.PasswordExpiry{Name: "Alice Zhang", ExpiresAt: at.Add(9 * 24 * time.Hour), ResetLink: "https://unlock.example.com/reset"},
}

var at = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

// TestEveryNoticeRenders holds the typed notices to the templates: each is valid as it is queued
// and renders by email and SMS in every language, its values in the text, and every template has
// a notice.
func TestEveryNoticeRenders(t *testing.T) {
	tm := mustTemplates(t)
	covered := map[string]bool{}
	for _, n := range everyNotice {
		covered[n.Template()] = true
		for _, lang := range Languages {
			for _, channel := range []string{ChannelEmail, ChannelSMS} {
				to := "alice@example.com"
				if channel == ChannelSMS {
					to = "+8613800000000"
				}
				m := Message{Channel: channel, To: to, Template: n.Template(), Lang: lang, Data: n.Data()}
				if err := Validate(m); err != nil {
					t.Fatalf("%T in %s by %s: %v", n, lang, channel, err)
				}
				_, text, _, err := tm.Render(m)
				if err != nil {
					t.Fatalf("%T in %s: %v", n, lang, err)
				}
				for _, v := range []string{m.Data["Code"], m.Data["Reference"], m.Data["Link"]} {
					if v != "" && !strings.Contains(text, v) {
						t.Errorf("%T in %s: %q missing from\n%s", n, lang, v, text)
					}
				}
				if _, err := tm.RenderSMS(m); err != nil {
					t.Fatalf("%T in %s by SMS: %v", n, lang, err)
				}
			}
		}
	}
	for _, name := range TemplateNames() {
		if !covered[name] {
			t.Errorf("template %s has no notice in everyNotice", name)
		}
	}
	if d := (notice.RequestHandled{Reference: "UR-1"}).Data(); d["Outcome"] != "denied" {
		t.Errorf("a request not approved is denied: %v", d)
	}
}

// TestEventNoticeKeepsItsOwnKeys: an attribute never overwrites the event's name, time or account.
func TestEventNoticeKeepsItsOwnKeys(t *testing.T) {
	d := notice.Event{Name: "account.locked", At: at, Username: "alice",
		Attrs: map[string]string{"event": "forged", "username": "mallory", "state": "locked"}}.Data()
	if d["event"] != "account.locked" || d["username"] != "alice" || d["state"] != "locked" || d["at"] != "2026-05-01T10:00:00Z" {
		t.Errorf("event data: %v", d)
	}
	if err := Validate(Message{Channel: ChannelWebhook, To: "https://hooks.example.com/x", Template: notice.TemplateEvent, Data: d}); err != nil {
		t.Error(err)
	}
}
