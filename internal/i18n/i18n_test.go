package i18n_test

import (
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/web"
)

// Every message a template asks for exists, in both languages (Load checks they agree).
func TestTemplatesUseOnlyKnownMessages(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`\.T "([a-z0-9_]+)"`)
	err = fs.WalkDir(web.Templates, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(web.Templates, path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			if !b.Has(m[1]) {
				t.Errorf("%s uses unknown message %q", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A refused password's reason is a message id chosen at run time: every one it can be.
	problems := []string{account.PasswordTooShort, account.PasswordTooLong, account.PasswordMismatch,
		account.PasswordWeak, account.PasswordContext}
	for _, id := range account.WeakPasswordMessages {
		problems = append(problems, id)
	}
	for _, id := range problems {
		if !b.Has(id) {
			t.Errorf("no message %q for a refused password", id)
		}
	}
	for _, s := range account.States {
		for _, id := range []string{"state_" + string(s), "state_" + string(s) + "_meaning", "sign_in_access_" + account.SignInAccess(s)} {
			if !b.Has(id) {
				t.Errorf("no message %q for state %s", id, s)
			}
		}
	}
}

func TestMatchPicksChineseForAnyChineseBrowser(t *testing.T) {
	for header, want := range map[string]string{
		"":                   "en",
		"en-US,en;q=0.9":     "en",
		"zh-CN,zh;q=0.9":     "zh-CN",
		"zh":                 "zh-CN",
		"zh-Hans-CN":         "zh-CN",
		"fr-FR, zh-CN;q=0.5": "zh-CN",
		"de-DE":              "en",
		"garbage;;;q=x":      "en",
	} {
		if got := i18n.Match(header); got != want {
			t.Errorf("Match(%q) = %s, want %s", header, got, want)
		}
	}
}

func TestLocalizerFillsTemplateData(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Localizer("zh-CN").T("account_hello", "Name", "李伟"); got != "当前登录：李伟。" {
		t.Fatalf("got %q", got)
	}
	if got := b.Localizer("xx").T("nav_help"); got != "Help" {
		t.Fatalf("unknown language fell back to %q", got)
	}
}

func TestDeviceNamesBrowserAndSystem(t *testing.T) {
	b, _ := i18n.Load(web.Locales)
	en, zh := b.Localizer("en"), b.Localizer("zh-CN")
	ua := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
	if got := en.Device(ua); got != "Chrome on Windows" {
		t.Errorf("en: %q", got)
	}
	if got := zh.Device(ua); got != "Chrome（Windows）" {
		t.Errorf("zh: %q", got)
	}
	if got := en.Device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1"); got != "Safari on iPhone" {
		t.Errorf("iPhone: %q", got)
	}
	wechat := "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36 MicroMessenger/8.0.47"
	if got := zh.Device(wechat); got != "微信（Android）" {
		t.Errorf("zh WeChat: %q", got)
	}
	if got := en.Device(wechat); got != "WeChat on Android" {
		t.Errorf("en WeChat: %q", got)
	}
	if got := en.Device(""); got != "–" {
		t.Errorf("empty: %q", got)
	}
}

// A count picks the plural form in English; Chinese has one form. Sentences join as each
// language writes them.
func TestMessagesWithACountArePlural(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	en, zh := b.Localizer("en"), b.Localizer("zh-CN")
	if got := en.Message("err_maintenance_too_long", map[string]any{"Count": 1}); got != "A window may last at most 1 day." {
		t.Errorf("one: %q", got)
	}
	if got := en.Message("err_maintenance_too_long", map[string]any{"Count": 7}); got != "A window may last at most 7 days." {
		t.Errorf("other: %q", got)
	}
	if got := zh.Message("err_maintenance_too_long", map[string]any{"Count": 7}); got != "维护时段最长 7 天。" {
		t.Errorf("zh: %q", got)
	}
	if got := en.Sentences([]string{"One.", "Two."}); got != "One. Two." {
		t.Errorf("en sentences: %q", got)
	}
	if got := zh.Sentences([]string{"一。", "二。"}); got != "一。二。" {
		t.Errorf("zh sentences: %q", got)
	}
}

// A count picks the plural form in pages (T) as in domain messages (Message); a count of one fills
// a message written without plural forms (every Chinese one), too.
func TestCountsPickPluralForms(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	en, zh := b.Localizer("en"), b.Localizer("zh-CN")
	for n, want := range map[int]string{1: "This unlocks 1 account.", 2: "This unlocks 2 accounts."} {
		if got := en.T("admin_unlock_all_count", "Count", n); got != want {
			t.Errorf("T(%d): %q", n, got)
		}
		if got := en.Message("admin_unlock_all_count", map[string]any{"Count": n}); got != want {
			t.Errorf("Message(%d): %q", n, got)
		}
	}
	if got := zh.T("admin_unlock_all_count", "Count", 1); !strings.Contains(got, "1") || got == "admin_unlock_all_count" {
		t.Errorf("zh T(1): %q", got)
	}
}

// Times are written in the zone set, named so the reader knows it: Beijing time by its name in
// Chinese, an offset in English, UTC as UTC.
func TestTimesAreWrittenInTheZoneNamed(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		lang string
		zone *time.Location
		want string
	}{
		{"en", nil, "1 May 2026, 10:00 UTC"},
		{"zh-CN", nil, "2026年5月1日 10:00（UTC）"},
		{"en", shanghai, "1 May 2026, 18:00 UTC+08:00"},
		{"zh-CN", shanghai, "2026年5月1日 18:00（北京时间）"},
	}
	for _, tt := range tests {
		if got := b.Localizer(tt.lang).In(tt.zone).Time(at); got != tt.want {
			t.Errorf("%s in %v: %q, want %q", tt.lang, tt.zone, got, tt.want)
		}
	}
	if got := b.Localizer("zh-CN").In(shanghai).Clock(at); got != "18:00:00（北京时间）" {
		t.Errorf("clock: %q", got)
	}
}

// Every policy key has a name and a help text on the policy page, in both languages.
func TestEveryPolicyKeyIsExplained(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range account.PolicyKeys() {
		id := "policy_" + strings.ReplaceAll(k, ".", "_")
		for _, lang := range i18n.Languages {
			if l := b.Localizer(lang); !l.Has(id) || !l.Has(id+"_help") {
				t.Errorf("%s: %s lacks %s or %s_help", lang, k, id, id)
			}
		}
	}
}

// Every audit action has a name in words in both languages, and details read as "key: value".
func TestAuditActionsAreNamedInWords(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("../audit/audit.go")
	if err != nil {
		t.Fatal(err)
	}
	actions := regexp.MustCompile(`(?m)^\s*[A-Z][A-Za-z]* *= "([a-z_]+\.[a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(actions) < 30 {
		t.Fatalf("found %d audit actions", len(actions))
	}
	for _, lang := range i18n.Languages {
		l := b.Localizer(lang)
		for _, a := range actions {
			if got := l.Action(a[1]); got == a[1] {
				t.Errorf("%s: %s has no name in words", lang, a[1])
			}
		}
	}
	if got := b.Localizer("en").Fields(`{"to":"a***@example.com","channel":"email"}`); got != "Channel: email · To: a***@example.com" {
		t.Errorf("fields: %q", got)
	}
	if got := b.Localizer("zh-CN").Fields(`{"from":"locked","to":"active","role":"helpdesk","ticket":"7"}`); got != "从：已锁定 · 角色：服务台 · ticket：7 · 至：正常" {
		t.Errorf("fields in Chinese: %q", got)
	}
}

func TestRolesAndActorsAreNamedInWords(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	roles := []account.Role{account.RoleUser, account.RoleHelpdesk, account.RoleAuditor, account.RoleAdmin, account.RoleService}
	for _, lang := range i18n.Languages {
		l := b.Localizer(lang)
		for _, r := range roles {
			if got := l.Role(r); got == string(r) {
				t.Errorf("%s: role %s has no name in words", lang, r)
			}
		}
		for _, actor := range []string{"cli", "system", "anonymous", "dev-seed"} {
			if got := l.Actor(actor); got == actor {
				t.Errorf("%s: actor %s has no name in words", lang, actor)
			}
		}
	}
	en, zh := b.Localizer("en"), b.Localizer("zh-CN")
	for _, c := range []struct {
		l          *i18n.Localizer
		actor, say string
	}{
		{en, "admin:bob", "bob (Administrator)"},
		{en, "helpdesk:eve:x", "eve:x (Help desk)"},
		{en, "user:alice", "alice (the account’s owner)"},
		{en, "token:crm", "API token “crm”"},
		{en, "mystery:x", "mystery:x"},
		{en, "", ""},
		{zh, "admin:bob", "bob（管理员）"},
		{zh, "cli", "命令行"},
	} {
		if got := c.l.Actor(c.actor); got != c.say {
			t.Errorf("%s: Actor(%q) = %q, want %q", c.l.Lang, c.actor, got, c.say)
		}
	}
}

func TestRelativeTimesInWords(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	en, zh := b.Localizer("en").Now(clock), b.Localizer("zh-CN").Now(clock)
	for _, c := range []struct {
		d      time.Duration
		en, zh string
	}{
		{20 * time.Second, "in less than a minute", "不到 1 分钟后"},
		{-20 * time.Second, "just now", "刚刚"},
		{time.Minute, "in 1 minute", "1 分钟后"},
		{14*time.Minute + 20*time.Second, "in 14 minutes", "14 分钟后"},
		{-3 * time.Hour, "3 hours ago", "3 小时前"},
		{90 * time.Minute, "in 2 hours", "2 小时后"},
		{-50 * time.Hour, "2 days ago", "2 天前"},
		{24 * time.Hour * 30, "in 30 days", "30 天后"},
	} {
		if got := en.Relative(now.Add(c.d)); got != c.en {
			t.Errorf("en %s: %q, want %q", c.d, got, c.en)
		}
		if got := zh.Relative(now.Add(c.d)); got != c.zh {
			t.Errorf("zh %s: %q, want %q", c.d, got, c.zh)
		}
	}
}
