package notify

import (
	"io/fs"
	"maps"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode"

	"github.com/unlockd/unlockd/web"
)

// sampleData gives every key of every template a value that is easy to spot in the output.
var sampleData = map[string]string{
	"Name":       "Alice Zhang",
	"Code":       "482915",
	"Purpose":    "unlock",
	"Minutes":    "10",
	"Link":       "https://unlock.example.com/reset/tok3nAbc",
	"Time":       "2026-05-01 10:00 UTC",
	"Place":      "Shanghai, CN (203.0.113.7)",
	"Until":      "2026-05-01 10:15 UTC",
	"UnlockLink": "https://unlock.example.com/unlock",
	"Method":     "email",
	"Change":     "totp_added",
	"Reference":  "REQ-7F3K9",
	"Outcome":    "approved",
	"Message":    "Your manager confirmed it.\nWelcome back.",
	"Count":      "37",
	"Window":     "10",
	// A lock an administrator made: the message says so, and says no more of the flag.
	"Administrator": "yes",
	"State":         "frozen",
}

// Keys whose value is a word the template turns into a phrase rather than prints.
var phraseKeys = map[string]bool{"Purpose": true, "Outcome": true, "Method": true, "Change": true, "Administrator": true, "State": true}

func mustTemplates(t *testing.T) *Templates {
	t.Helper()
	tm, err := LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func messageFor(name, lang string, full bool) Message {
	req, opt := TemplateKeys(name)
	data := map[string]string{}
	for _, k := range req {
		data[k] = sampleData[k]
	}
	if full {
		for _, k := range opt {
			data[k] = sampleData[k]
		}
	}
	return Message{Channel: ChannelEmail, To: "alice@example.com", Template: name, Lang: lang, Data: data}
}

func checkNoLeftovers(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"{{", "}}", "<no value>", "ZgotmplZ", "%!"} {
		if strings.Contains(s, bad) {
			t.Errorf("%s contains %q:\n%s", what, bad, s)
		}
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// Every template exists in every language and renders, with all its data and with only the required
// data, into a one-line subject, a text part, an HTML document in the right language, and an SMS.
func TestEveryTemplateRendersInEveryLanguage(t *testing.T) {
	tm := mustTemplates(t)
	if len(TemplateNames()) != 11 {
		t.Fatalf("templates: %v", TemplateNames())
	}
	for _, name := range TemplateNames() {
		for _, lang := range Languages {
			for _, full := range []bool{true, false} {
				m := messageFor(name, lang, full)
				if err := Validate(m); err != nil {
					t.Fatalf("%s/%s: sample message invalid: %v", lang, name, err)
				}
				subject, text, html, err := tm.Render(m)
				if err != nil {
					t.Fatalf("%s/%s (full=%v): %v", lang, name, full, err)
				}
				sms, err := tm.RenderSMS(m)
				if err != nil {
					t.Fatalf("%s/%s sms (full=%v): %v", lang, name, full, err)
				}
				id := lang + "/" + name
				if subject == "" || strings.ContainsAny(subject, "\r\n") {
					t.Errorf("%s: subject %q", id, subject)
				}
				if strings.TrimSpace(text) == "" || strings.TrimSpace(sms) == "" {
					t.Errorf("%s: empty text or sms", id)
				}
				if !strings.Contains(html, `<html lang="`+lang+`">`) || !strings.Contains(html, "<title>"+subject+"</title>") {
					t.Errorf("%s: html lacks lang or title:\n%s", id, html)
				}
				if strings.Contains(text, "\n\n\n") || strings.Contains(sms, "\n\n") {
					t.Errorf("%s: blank-line runs left:\n%s\n---\n%s", id, text, sms)
				}
				if lang == LangChinese && !(hasHan(subject) && hasHan(text) && hasHan(sms)) {
					t.Errorf("%s: not in Chinese: %q", id, subject)
				}
				if lang == LangEnglish && (hasHan(subject) || hasHan(text) || hasHan(sms)) {
					t.Errorf("%s: Chinese in English: %q", id, text)
				}
				for what, s := range map[string]string{"subject": subject, "text": text, "html": html, "sms": sms} {
					checkNoLeftovers(t, id+" "+what, s)
				}
				// What the data says is in the message; Name is in every email that takes it.
				for k, v := range m.Data {
					if phraseKeys[k] {
						continue
					}
					for _, line := range strings.Split(v, "\n") {
						if !strings.Contains(text, line) || !strings.Contains(html, line) {
							t.Errorf("%s: %s=%q missing from text or html", id, k, line)
						}
					}
				}
			}
		}
	}
}

var digitLine = regexp.MustCompile(`(?m)^[0-9]+$`)

// The contract: a one-time code is a single group of digits alone on its line, in email and SMS.
func TestCodeIsAloneOnItsLine(t *testing.T) {
	tm := mustTemplates(t)
	for _, lang := range Languages {
		for _, purpose := range []string{"signin", "unlock", "status", "verify", ""} {
			m := messageFor(TemplateCode, lang, true)
			m.Data["Purpose"] = purpose
			m.Data["Code"] = "00731942"
			_, text, html, err := tm.Render(m)
			if err != nil {
				t.Fatal(err)
			}
			sms, err := tm.RenderSMS(m)
			if err != nil {
				t.Fatal(err)
			}
			for what, s := range map[string]string{"text": text, "sms": sms} {
				if got := digitLine.FindAllString(s, -1); len(got) != 1 || got[0] != "00731942" {
					t.Errorf("%s %s purpose=%q: digit lines %q in:\n%s", lang, what, purpose, got, s)
				}
			}
			if !strings.Contains(html, ">00731942</p>") {
				t.Errorf("%s html lacks the code in its own paragraph", lang)
			}
		}
	}
}

// A display name with a line break cannot put a fake code (or anything) on a line of its own.
func TestDataCannotForgeLinesOrMarkup(t *testing.T) {
	tm := mustTemplates(t)
	m := messageFor(TemplateCode, LangEnglish, true)
	m.Data["Name"] = "Eve\r\n999999\u202e<script>alert(1)</script>"
	_, text, html, err := tm.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := digitLine.FindAllString(text, -1); len(got) != 1 || got[0] != sampleData["Code"] {
		t.Fatalf("digit lines %q in:\n%s", got, text)
	}
	if strings.Contains(html, "<script>") || strings.Contains(text, "\u202e") {
		t.Fatalf("markup or bidi override passed through:\n%s", html)
	}
}

// The reset link, like the code, stands alone on its line, so it is easy to find and to copy.
func TestLinksAreAloneOnTheirLines(t *testing.T) {
	tm := mustTemplates(t)
	for _, lang := range Languages {
		for _, tc := range []struct{ name, key string }{{TemplateResetLink, "Link"}, {TemplateLocked, "UnlockLink"}, {TemplateStaffAlert, "Link"}} {
			m := messageFor(tc.name, lang, true)
			_, text, _, err := tm.Render(m)
			if err != nil {
				t.Fatal(err)
			}
			sms, _ := tm.RenderSMS(m)
			for what, s := range map[string]string{"text": text, "sms": sms} {
				if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(m.Data[tc.key]) + `$`).MatchString(s) {
					t.Errorf("%s/%s %s: link not alone on a line:\n%s", lang, tc.name, what, s)
				}
			}
		}
	}
}

func TestLanguageFallback(t *testing.T) {
	tm := mustTemplates(t)
	for lang, chinese := range map[string]bool{"zh": true, "zh-Hans-CN": true, "ZH-cn": true, "fr": false, "": false, "en-GB": false} {
		m := messageFor(TemplateUnlocked, lang, true)
		subject, _, _, err := tm.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		if hasHan(subject) != chinese {
			t.Errorf("lang %q: subject %q", lang, subject)
		}
	}
}

func TestRequestHandledSaysTheOutcome(t *testing.T) {
	tm := mustTemplates(t)
	for _, lang := range Languages {
		m := messageFor(TemplateRequestHandled, lang, true)
		approved, _, _, _ := tm.Render(m)
		m.Data["Outcome"] = "denied"
		denied, _, _, _ := tm.Render(m)
		if approved == denied {
			t.Errorf("%s: approved and denied read the same: %q", lang, approved)
		}
	}
}

// A missing template file, or a file no template reads, stops start-up.
func TestParseTemplatesRefusesMissingAndStrayFiles(t *testing.T) {
	sub, err := fs.Sub(web.Email, "email")
	if err != nil {
		t.Fatal(err)
	}
	base := fstest.MapFS{}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		base[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTemplates(base); err != nil {
		t.Fatalf("the embedded tree does not parse: %v", err)
	}
	for _, missing := range []string{"zh-CN/locked.sms.txt", "en/code.html", "zh-CN/staff_alert.subject.txt", "en/phrases.tmpl", "layout.html"} {
		fsys := maps.Clone(base)
		delete(fsys, missing)
		if _, err := ParseTemplates(fsys); err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: err = %v", missing, err)
		}
	}
	fsys := maps.Clone(base)
	fsys["en/unlokced.txt"] = &fstest.MapFile{Data: []byte("typo")}
	if _, err := ParseTemplates(fsys); err == nil || !strings.Contains(err.Error(), "unlokced") {
		t.Errorf("stray file: err = %v", err)
	}
	fsys = maps.Clone(base)
	fsys["en/code.html"] = &fstest.MapFile{Data: []byte("<p>no content define</p>")}
	if _, err := ParseTemplates(fsys); err == nil {
		t.Error("an HTML template without a content block parsed")
	}
}

func TestRenderRefusesBadData(t *testing.T) {
	tm := mustTemplates(t)
	for name, m := range map[string]Message{
		"unknown template": {Channel: ChannelEmail, To: "a@example.com", Template: "nope"},
		"code missing":     {Channel: ChannelEmail, To: "a@example.com", Template: TemplateCode, Data: map[string]string{"Name": "A"}},
		"code not digits":  {Channel: ChannelEmail, To: "a@example.com", Template: TemplateCode, Data: map[string]string{"Code": "12a456"}},
		"javascript link":  {Channel: ChannelEmail, To: "a@example.com", Template: TemplateResetLink, Data: map[string]string{"Link": "javascript:alert(1)"}},
		"odd outcome":      {Channel: ChannelEmail, To: "a@example.com", Template: TemplateRequestHandled, Data: map[string]string{"Reference": "R1", "Outcome": "maybe"}},
	} {
		if _, _, _, err := tm.Render(m); err == nil || !IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent error", name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Message{Channel: ChannelEmail, To: "alice@example.com", Template: TemplateCode, Lang: "en", Data: map[string]string{"Code": "123456", "Purpose": "signin"}}
	if err := Validate(ok); err != nil {
		t.Fatal(err)
	}
	sms := ok
	sms.Channel, sms.To = ChannelSMS, "+8613800000000"
	if err := Validate(sms); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Message){
		"channel":         func(m *Message) { m.Channel = "pigeon" },
		"webhook channel": func(m *Message) { m.Channel = "webhook" },
		"email address":   func(m *Message) { m.To = "alice" },
		"header break":    func(m *Message) { m.To = "alice@example.com\r\nBcc: x@example.com" },
		"phone":           func(m *Message) { m.Channel = ChannelSMS; m.To = "13800000000" },
		"template":        func(m *Message) { m.Template = "welcome" },
		"required key":    func(m *Message) { m.Data = map[string]string{"Purpose": "signin"} },
		"unknown key":     func(m *Message) { m.Data = map[string]string{"Code": "1", "Username": "alice"} },
		"purpose":         func(m *Message) { m.Data = map[string]string{"Code": "1", "Purpose": "reset"} },
		"minutes":         func(m *Message) { m.Data = map[string]string{"Code": "1", "Minutes": "ten"} },
	}
	for name, change := range bad {
		m := ok
		m.Data = maps.Clone(ok.Data)
		change(&m)
		if err := Validate(m); err == nil {
			t.Errorf("%s: accepted %+v", name, m)
		}
	}
}

// Times handed over in RFC 3339 read naturally in each language, in the zone they carry.
func TestTimesAreWrittenTheReadersWay(t *testing.T) {
	tm := mustTemplates(t)
	for lang, want := range map[string]string{LangEnglish: "When: 1 May 2026, 18:05 UTC+08:00", LangChinese: "时间：2026年5月1日 18:05（UTC+08:00）"} {
		m := messageFor(TemplatePasswordChanged, lang, true)
		m.Data["Time"] = "2026-05-01T18:05:00+08:00"
		_, text, _, err := tm.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, want) {
			t.Errorf("%s: want %q in:\n%s", lang, want, text)
		}
	}
	if got := formatTime(LangEnglish, "2026-05-01T10:00:00Z", nil); got != "1 May 2026, 10:00 UTC" {
		t.Errorf("UTC: %q", got)
	}
	if got := formatTime(LangChinese, "Fri, 01 May 2026 10:00:00 UTC", nil); got != "2026年5月1日 10:00（UTC）" {
		t.Errorf("RFC 1123: %q", got)
	}
	// UNLOCKD_TIMEZONE: the zone the reader is told, Beijing time by its name in Chinese.
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	if got := formatTime(LangChinese, "Fri, 01 May 2026 10:00:00 UTC", shanghai); got != "2026年5月1日 18:00（北京时间）" {
		t.Errorf("Beijing time in Chinese: %q", got)
	}
	if got := formatTime(LangEnglish, "2026-05-01T10:00:00Z", shanghai); got != "1 May 2026, 18:00 UTC+08:00" {
		t.Errorf("Beijing time in English: %q", got)
	}
	if got := formatTime(LangEnglish, "yesterday", nil); got != "yesterday" {
		t.Errorf("free text: %q", got)
	}
}

// A message to someone who chose a zone on /account writes its times in that zone, whatever the
// organisation's; a zone that is not one is ignored.
func TestTimesAreWrittenInTheReadersZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	tm := mustTemplates(t).In(berlin)
	for zone, want := range map[string]string{"Asia/Shanghai": "2026年5月1日 18:00（北京时间）", "": "2026年5月1日 12:00（UTC+02:00）",
		"Nowhere/Else": "2026年5月1日 12:00（UTC+02:00）"} {
		m := messageFor(TemplatePasswordChanged, LangChinese, true)
		m.Data["Time"] = "2026-05-01T10:00:00Z"
		m.Zone = zone
		_, text, _, err := tm.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, want) {
			t.Errorf("zone %q: want %q in:\n%s", zone, want, text)
		}
	}
}

func TestTidy(t *testing.T) {
	in := "\n\nHello,  \n\n\n\nline\n \n\t\nend\n\n"
	if got, want := tidy(in), "Hello,\n\nline\n\nend"; got != want {
		t.Fatalf("tidy = %q, want %q", got, want)
	}
}
