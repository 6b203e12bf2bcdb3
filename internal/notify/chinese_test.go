package notify

import (
	"html"
	"maps"
	"regexp"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/internal/notice"
	"github.com/unlockd/unlockd/web"
)

// latinAllowed are the Latin words a Chinese message may hold besides acronyms (UTC, IP) and codes:
// the product's name. The rest of the Latin text in a message is its data (a name, a link, the
// administrator's note), which the test takes out first.
var latinAllowed = map[string]bool{"unlockd": true}

var (
	tagRE        = regexp.MustCompile(`<[^>]*>`)
	urlRE        = regexp.MustCompile(`https?://\S+`)
	latinTokenRE = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_'’+-]*`)
	rawIDRE      = regexp.MustCompile(`\b[a-z][a-z0-9]*(?:[_+][a-z0-9]+)+\b`)
)

// englishWords returns the Latin words of s that are no acronym, code, single letter or allowed name.
func englishWords(s string) []string {
	var out []string
	for _, w := range latinTokenRE.FindAllString(urlRE.ReplaceAllString(s, " "), -1) {
		switch {
		case len(w) == 1, strings.ContainsAny(w, "0123456789"), w == strings.ToUpper(w), latinAllowed[w]:
			continue
		}
		out = append(out, w)
	}
	return out
}

// avoidedTerms are the Chinese terms the glossary says not to use.
func avoidedTerms(t *testing.T) []string {
	t.Helper()
	terms, err := i18n.AvoidedTerms(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	return terms
}

// noticeVariants is every notice of everyNotice, and each again with every value of the words the
// templates turn into phrases (purpose, way of unlocking, change, state, outcome).
func noticeVariants() []Message {
	var out []Message
	add := func(n notice.Notice, key string, values ...string) {
		for _, v := range values {
			d := maps.Clone(n.Data())
			d[key] = v
			out = append(out, Message{Template: n.Template(), Data: d})
		}
	}
	for _, n := range everyNotice {
		out = append(out, Message{Template: n.Template(), Data: n.Data()})
		switch n.Template() {
		case TemplateCode:
			add(n, "Purpose", purposes...)
		case TemplateUnlocked:
			add(n, "Method", "email", "sms", "totp", "recovery", "admin", "reset", "expired", "sms+recovery", "email+sms+totp")
		case TemplateFactorChanged:
			add(n, "Change", notice.TOTPAdded, "totp_removed", notice.RecoveryCodesCreated, notice.RecoveryCodeUsed,
				notice.FactorsReset, notice.EmailChanged, notice.PhoneChanged, "")
			add(n, notice.RemainingKey, "3")
		case TemplateNeedsAdmin:
			add(n, "State", "frozen", "disabled", "expired", "locked")
		}
	}
	return out
}

// renderAll renders m by email and SMS: subject, text, the HTML's words without markup, SMS.
func renderAll(t *testing.T, tm *Templates, m Message) map[string]string {
	t.Helper()
	m.Channel, m.To = ChannelEmail, "alice@example.com"
	if err := Validate(m); err != nil {
		t.Fatalf("%s %v: %v", m.Template, m.Data, err)
	}
	subject, text, body, err := tm.Render(m)
	if err != nil {
		t.Fatalf("%s in %s: %v", m.Template, m.Lang, err)
	}
	sms, err := tm.RenderSMS(m)
	if err != nil {
		t.Fatalf("%s in %s by SMS: %v", m.Template, m.Lang, err)
	}
	return map[string]string{"subject": subject, "text": text, "html": html.UnescapeString(tagRE.ReplaceAllString(body, " ")), "sms": sms}
}

// withoutData takes the values the message was given out of s: they are shown as given, in any
// language. The words the templates turn into phrases stay, so that a raw one is caught.
func withoutData(s string, data map[string]string) string {
	for k, v := range data {
		if phraseKeys[k] || v == "" {
			continue
		}
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				s = strings.ReplaceAll(s, line, " ")
			}
		}
	}
	return s
}

// Every notice rendered in Chinese, in every variant, by email (subject, text and HTML) and by SMS,
// is Chinese but for its data: no English word, no raw id (email+totp, recovery_code_used), none of
// the terms the glossary replaced. The English rendering shows no raw id either.
func TestChineseMessagesHaveNoEnglish(t *testing.T) {
	tm := mustTemplates(t)
	avoided := avoidedTerms(t)
	for _, m := range noticeVariants() {
		for _, lang := range Languages {
			m.Lang = lang
			for part, s := range renderAll(t, tm, m) {
				id := lang + "/" + m.Template + " " + part
				rest := withoutData(s, m.Data)
				if ids := rawIDRE.FindAllString(urlRE.ReplaceAllString(rest, " "), -1); len(ids) > 0 {
					t.Errorf("%s (%v) shows the identifier %q:\n%s", id, m.Data, ids, s)
				}
				if lang != LangChinese {
					continue
				}
				if words := englishWords(rest); len(words) > 0 {
					t.Errorf("%s (%v) has English words %q:\n%s", id, m.Data, words, s)
				}
				for _, term := range avoided {
					if strings.Contains(rest, term) {
						t.Errorf("%s says %q, which the glossary replaced:\n%s", id, term, s)
					}
				}
			}
		}
	}
}

// The check can fail: English left in a Chinese template and a raw way of unlocking are caught.
func TestChineseCheckCatchesEnglish(t *testing.T) {
	if w := englishWords("您的账号已通过 email 解锁。Not you? Tell your help desk."); len(w) < 5 {
		t.Errorf("English taken for Chinese: %q", w)
	}
	if w := englishWords("2026年5月1日 10:00（UTC），来源 IP：203.0.113.7，由 unlockd 发送。"); len(w) > 0 {
		t.Errorf("Chinese taken for English: %q", w)
	}
	if ids := rawIDRE.FindAllString("您的账号已通过“email+totp”解锁（recovery_code_used）", -1); len(ids) != 2 {
		t.Errorf("raw ids: %q", ids)
	}
}
