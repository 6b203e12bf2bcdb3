package i18n_test

import (
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/web"
)

// latinAllowed are the Latin words a Chinese message may hold besides acronyms and codes (TOTP,
// API, UR-7KQ2-9XPM, 2h): product and brand names, the role and value words a person types or
// picks as they are, and the examples of weak passwords. Anything else is English left untranslated.
var latinAllowed = map[string]bool{
	"unlockd": true, "Microsoft": true, "Google": true, "Authenticator": true, "Caps": true, "Lock": true,
	"English": true, "true": true, "false": true,
	"user": true, "helpdesk": true, "auditor": true, "admin": true, "service": true,
	"aaa": true, "abcabc": true, "abcd": true, "qwerty": true,
}

var (
	placeholderRE = regexp.MustCompile(`\{\{[^}]*\}\}`)
	urlRE         = regexp.MustCompile(`https?://\S+`)
	zoneRE        = regexp.MustCompile(`\b[A-Z][a-z]+/[A-Z][A-Za-z_]+\b`) // an IANA zone name, typed as it is
	latinTokenRE  = regexp.MustCompile(`[A-Za-z0-9][A-Za-z0-9_'’-]*`)
	rawIDRE       = regexp.MustCompile(`\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b`)
	fieldNameRE   = regexp.MustCompile(`\{\{\s*\.([A-Za-z]+)\s*\}\}`)
)

// englishWords returns the words of s that read as English: Latin words that are no acronym or
// code (no capital-only word, no word with a digit), no single letter and not in latinAllowed.
// Placeholders and URLs are no words.
func englishWords(s string) []string {
	s = zoneRE.ReplaceAllString(urlRE.ReplaceAllString(placeholderRE.ReplaceAllString(s, " "), " "), " ")
	var out []string
	for _, w := range latinTokenRE.FindAllString(s, -1) {
		switch {
		case len(w) == 1, strings.ContainsAny(w, "0123456789"), w == strings.ToUpper(w), latinAllowed[w]:
			continue
		}
		out = append(out, w)
	}
	return out
}

// rawIDs returns what in s looks like a message id or another snake_case identifier
// (admin_request_denied, locked_temporarily), placeholders aside.
func rawIDs(s string) []string {
	return rawIDRE.FindAllString(placeholderRE.ReplaceAllString(s, " "), -1)
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

// messageForms reads a locale file as id -> plural form ("" for a message without forms) -> text.
func messageForms(t *testing.T, lang string) map[string]map[string]string {
	t.Helper()
	src, err := fs.ReadFile(web.Locales, "locales/"+lang+".toml")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := toml.Unmarshal(src, &raw); err != nil {
		t.Fatalf("%s: %v", lang, err)
	}
	out := map[string]map[string]string{}
	for id, v := range raw {
		switch v := v.(type) {
		case string:
			out[id] = map[string]string{"": v}
		case map[string]any:
			out[id] = map[string]string{}
			for form, text := range v {
				s, ok := text.(string)
				if !ok {
					t.Fatalf("%s: %s.%s is no string", lang, id, form)
				}
				out[id][form] = s
			}
		default:
			t.Fatalf("%s: %s is a %T", lang, id, v)
		}
	}
	return out
}

func fieldNames(forms map[string]string) []string {
	var names []string
	for _, s := range forms {
		for _, m := range fieldNameRE.FindAllStringSubmatch(s, -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	sort.Strings(names)
	return names
}

// Every English message has a Chinese one that is really Chinese: not missing or empty, not left in
// English, with the same placeholders and its plural form, no raw message id, and none of the terms
// the glossary replaced.
func TestChineseMessagesAreCompleteAndChinese(t *testing.T) {
	en, zh := messageForms(t, "en"), messageForms(t, "zh-CN")
	avoided := avoidedTerms(t)
	for id, enForms := range en {
		zhForms, ok := zh[id]
		if !ok {
			t.Errorf("zh-CN lacks %s", id)
			continue
		}
		if len(enForms) > 1 || enForms[""] == "" {
			if enForms["one"] == "" || enForms["other"] == "" {
				t.Errorf("en: %s has plural forms %v, want one and other", id, enForms)
			}
			if zhForms["other"] == "" && zhForms[""] == "" {
				t.Errorf("zh-CN: %s has no other form: %v", id, zhForms)
			}
		}
		if got, want := fieldNames(zhForms), fieldNames(enForms); !slices.Equal(got, want) {
			t.Errorf("%s: zh-CN fills %v, en fills %v", id, got, want)
		}
		for form, text := range zhForms {
			if strings.TrimSpace(text) == "" {
				t.Errorf("zh-CN: %s %s is empty", id, form)
				continue
			}
			english := englishWords(text)
			switch {
			case slices.Contains(slices.Collect(maps.Values(enForms)), text) && len(english) > 0:
				t.Errorf("zh-CN: %s is the English text: %q", id, text)
			case len(english) > 0:
				t.Errorf("zh-CN: %s has English words %q: %q", id, english, text)
			}
			for _, term := range avoided {
				if strings.Contains(text, term) {
					t.Errorf("zh-CN: %s says %q, which the glossary replaced: %q", id, term, text)
				}
			}
		}
	}
	for id := range zh {
		if _, ok := en[id]; !ok {
			t.Errorf("zh-CN has %s, which en lacks", id)
		}
	}
	for _, lang := range []string{"en", "zh-CN"} {
		for id, forms := range map[string]map[string]map[string]string{"en": en, "zh-CN": zh}[lang] {
			for _, text := range forms {
				if ids := rawIDs(text); len(ids) > 0 {
					t.Errorf("%s: %s shows the identifier %q: %q", lang, id, ids, text)
				}
			}
		}
	}
}

// Every message renders, with every field it names filled and with a count of one and of many,
// into text with no field left over, no "<no value>" and not its own id.
func TestEveryMessageRenders(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	for lang, forms := range map[string]map[string]map[string]string{"en": messageForms(t, "en"), "zh-CN": messageForms(t, "zh-CN")} {
		l := b.Localizer(lang)
		for id, f := range forms {
			for _, count := range []int{1, 7} {
				data := map[string]any{"Count": count}
				for _, name := range fieldNames(f) {
					if name != "Count" {
						data[name] = "«" + name + "»"
					}
				}
				got := l.Message(id, data)
				if got == id || strings.Contains(got, "{{") || strings.Contains(got, "<no value>") {
					t.Errorf("%s: %s with %v renders %q", lang, id, data, got)
				}
				for name, v := range data {
					if name != "Count" && !strings.Contains(got, fmt.Sprint(v)) {
						t.Errorf("%s: %s lost %s: %q", lang, id, name, got)
					}
				}
			}
		}
	}
}

// The checks above can fail: a message left in English, a half-translated one, a raw id and a
// replaced term are each caught, while codes, placeholders, URLs and product names pass.
func TestChineseChecksCatchEnglish(t *testing.T) {
	for _, s := range []string{
		"Too many failed sign-ins in a row.",
		"账号 is frozen。",
		"“{{.State}}” 状态，applies only to locked",
	} {
		if len(englishWords(s)) == 0 {
			t.Errorf("%q passed as Chinese", s)
		}
	}
	for _, s := range []string{
		"请输入身份验证器应用（TOTP）当前显示的 6 位数字，例如 UR-7KQ2-9XPM、2h 或 30m。",
		"请用 Microsoft Authenticator 或 Google 身份验证器扫描；详见 https://example.com/help?x=1。",
		"{{.Key}} 必须是 true 或 false，而不是“{{.Value}}”。",
		"unlockd · 账号自助解锁。请选择 user、helpdesk、auditor 或 admin。",
	} {
		if w := englishWords(s); len(w) > 0 {
			t.Errorf("%q: %q taken for English", s, w)
		}
	}
	if ids := rawIDs("申请 admin_request_denyd 已处理，locked_temporarily"); len(ids) != 2 {
		t.Errorf("raw ids: %q", ids)
	}
	if ids := rawIDs("{{.Key}} 必须在 {{.Min}} 到 {{.Max}} 之间"); len(ids) != 0 {
		t.Errorf("placeholders taken for ids: %q", ids)
	}
	if avoided := avoidedTerms(t); !slices.Contains(avoided, "账户") || !slices.Contains(avoided, "技术支持人员") {
		t.Errorf("avoided terms: %q", avoided)
	}
}
