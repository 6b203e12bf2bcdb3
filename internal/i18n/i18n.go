// Package i18n picks the language of a request (English or Simplified Chinese) and translates
// message ids from web/locales. A missing message fails loudly at start-up, not on a page.
package i18n

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Languages are the supported languages, the default first.
var Languages = []string{"en", "zh-CN"}

var tags = []language.Tag{language.English, language.MustParse("zh-CN")}

var matcher = language.NewMatcher(tags)

// Bundle holds every translation.
type Bundle struct {
	b    *goi18n.Bundle
	ids  map[string]map[string]bool // lang -> ids
	locs map[string]*Localizer
}

// Load reads locales/<lang>.toml for every language from fsys and checks that each language has
// exactly the same message ids.
func Load(fsys fs.FS) (*Bundle, error) {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	bundle := &Bundle{b: b, ids: map[string]map[string]bool{}, locs: map[string]*Localizer{}}
	for _, lang := range Languages {
		name := path.Join("locales", lang+".toml")
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		mf, err := b.ParseMessageFileBytes(data, name)
		if err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", name, err)
		}
		bundle.ids[lang] = map[string]bool{}
		for _, m := range mf.Messages {
			bundle.ids[lang][m.ID] = true
		}
	}
	for _, lang := range Languages[1:] {
		if missing := diff(bundle.ids["en"], bundle.ids[lang]); len(missing) > 0 {
			return nil, fmt.Errorf("i18n: %s lacks %s", lang, strings.Join(missing, ", "))
		}
		if extra := diff(bundle.ids[lang], bundle.ids["en"]); len(extra) > 0 {
			return nil, fmt.Errorf("i18n: en lacks %s", strings.Join(extra, ", "))
		}
	}
	for _, lang := range Languages {
		l := &Localizer{Lang: lang, l: goi18n.NewLocalizer(b, lang), known: bundle.ids[lang], devices: &sync.Map{}}
		// A message asked for without data reads the same every time: translated once, here.
		l.plain = make(map[string]string, len(l.known))
		for id := range l.known {
			l.plain[id] = l.Message(id, nil)
		}
		bundle.locs[lang] = l
	}
	return bundle, nil
}

func diff(a, b map[string]bool) []string {
	var out []string
	for id := range a {
		if !b[id] {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Localizer returns the localizer of a supported language (English for anything else).
func (b *Bundle) Localizer(lang string) *Localizer {
	if l, ok := b.locs[lang]; ok {
		return l
	}
	return b.locs["en"]
}

// Supported returns the canonical spelling of lang when it is supported ("zh-cn" -> "zh-CN").
func Supported(lang string) (string, bool) {
	for _, l := range Languages {
		if strings.EqualFold(l, lang) {
			return l, true
		}
	}
	return "", false
}

// Match picks the best supported language for an Accept-Language header. Any Chinese other than
// explicitly Traditional is served Simplified Chinese.
func Match(acceptLanguage string) string {
	prefs, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(prefs) == 0 {
		return "en"
	}
	_, idx, conf := matcher.Match(prefs...)
	if conf == language.No {
		return "en"
	}
	return Languages[idx]
}

// Localizer translates for one language.
type Localizer struct {
	Lang  string
	l     *goi18n.Localizer
	known map[string]bool
	plain map[string]string // each message without data, as Message(id, nil) writes it
	zone  *time.Location    // nil: UTC
	// devices holds what Device wrote for a browser and a system, a few dozen pairs at most.
	devices *sync.Map
}

// In returns the localizer writing times in zone.
func (l *Localizer) In(zone *time.Location) *Localizer {
	c := *l
	c.zone = zone
	return &c
}

// local is t in the localizer's zone.
func (l *Localizer) local(t time.Time) time.Time {
	if l.zone == nil {
		return t.UTC()
	}
	return t.In(l.zone)
}

// chinaZones are the IANA names of China's one zone, which Chinese readers know as Beijing time.
var chinaZones = map[string]bool{"Asia/Shanghai": true, "Asia/Chongqing": true, "Asia/Chungking": true,
	"Asia/Harbin": true, "PRC": true}

// ZoneName names the zone a time is written in, for readers of lang: UTC; 北京时间 for China's zone
// in Chinese; else the offset, UTC+08:00.
func ZoneName(lang string, t time.Time) string {
	_, offset := t.Zone()
	switch {
	case offset == 0:
		return "UTC"
	case lang == "zh-CN" && offset == 8*3600 && chinaZones[t.Location().String()]:
		return "北京时间"
	}
	return "UTC" + t.Format("-07:00")
}

// T translates id; kv are pairs of template field name and value ("Name", "Alice"); a "Count"
// picks the plural form.
// An unknown id renders as the id itself, which the templates test catches.
func (l *Localizer) T(id string, kv ...any) string {
	if len(kv) < 2 {
		if s, ok := l.plain[id]; ok {
			return s
		}
	}
	if !l.known[id] {
		return id
	}
	var data map[string]any
	if len(kv) > 1 {
		data = make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			data[fmt.Sprint(kv[i])] = kv[i+1]
		}
	}
	return l.Message(id, data)
}

// Message translates id filled with data; a "Count" in data picks the plural form of a message
// that has them ("one" or "other" in English; Chinese has only "other"). T does the same.
func (l *Localizer) Message(id string, data map[string]any) string {
	if !l.known[id] {
		return id
	}
	cfg := &goi18n.LocalizeConfig{MessageID: id, TemplateData: data}
	if n, ok := data["Count"]; ok {
		cfg.PluralCount = n
	}
	s, err := l.l.Localize(cfg)
	if err != nil && cfg.PluralCount != nil {
		// A message without plural forms has only "other", which go-i18n refuses for a count of one.
		cfg.PluralCount = nil
		s, err = l.l.Localize(cfg)
	}
	if err != nil {
		return id
	}
	return s
}

// Action names an audit action (account.locked) in words; one without a message stays as it is.
func (l *Localizer) Action(action string) string {
	if id := "audit_" + strings.ReplaceAll(action, ".", "_"); l.known[id] {
		return l.T(id)
	}
	return action
}

// Fields writes an audit event's details (a JSON object) as "key: value" pairs in key order; text
// that is no JSON object is returned as it is.
func (l *Localizer) Fields(details string) string {
	var m map[string]any
	if json.Unmarshal([]byte(details), &m) != nil {
		return details
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %v", k, m[k]))
	}
	return strings.Join(parts, " · ")
}

// Has reports whether id has a message in this language.
func (l *Localizer) Has(id string) bool { return l.known[id] }

// Time formats a moment for people in this language, in the localizer's zone (UTC unless set), named.
func (l *Localizer) Time(t time.Time) string {
	t = l.local(t)
	if l.Lang == "zh-CN" {
		return t.Format("2006年1月2日 15:04 ") + ZoneName(l.Lang, t)
	}
	return t.Format("2 Jan 2006, 15:04 ") + ZoneName(l.Lang, t)
}

// Clock writes the time of day to the second, with its zone, for what happens within minutes.
func (l *Localizer) Clock(t time.Time) string {
	t = l.local(t)
	return t.Format("15:04:05 ") + ZoneName(l.Lang, t)
}

// ZoneName names the zone this localizer writes times in, for form inputs read in it.
func (l *Localizer) ZoneName() string { return ZoneName(l.Lang, l.local(time.Now())) }

// Sentences joins whole sentences as this language writes them: Chinese runs them together after
// its full stops, English puts a space between.
func (l *Localizer) Sentences(s []string) string {
	if l.Lang == "zh-CN" {
		return strings.Join(s, "")
	}
	return strings.Join(s, " ")
}

// Place describes where a sign-in came from as well as an address allows without a location
// database: the address itself, marked when it is inside the organisation's network.
func (l *Localizer) Place(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	switch {
	case a.IsLoopback():
		return l.T("place_with", "IP", ip, "Where", l.T("place_this_machine"))
	case a.IsPrivate() || a.IsLinkLocalUnicast():
		return l.T("place_with", "IP", ip, "Where", l.T("place_internal"))
	}
	return ip
}

// Device summarises a User-Agent for people: "Chrome on Windows". Anything unrecognised is shown
// shortened as it came.
func (l *Localizer) Device(ua string) string {
	if ua == "" {
		return "–"
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"MicroMessenger", "WeChat"},
		{"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"unlockd", "unlockd"}, {"api:", "API"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ token, name string }{
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Android", "Android"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		key := browser + "\x00" + system
		if s, ok := l.devices.Load(key); ok {
			return s.(string)
		}
		s := l.T("device_on", "Browser", browser, "System", system)
		l.devices.Store(key, s)
		return s
	case browser != "":
		return browser
	}
	if len(ua) > 40 {
		return ua[:40] + "…"
	}
	return ua
}
