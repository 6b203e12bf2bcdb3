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
	now   func() time.Time  // the clock relative times are told from; nil: time.Now
	// devices holds what Device wrote for a browser and a system, a few dozen pairs at most.
	devices *sync.Map
}

// In returns the localizer writing times in zone.
func (l *Localizer) In(zone *time.Location) *Localizer {
	c := *l
	c.zone = zone
	return &c
}

// Now returns the localizer telling relative times ("in 14 minutes") from the clock now.
func (l *Localizer) Now(now func() time.Time) *Localizer {
	c := *l
	c.now = now
	return &c
}

// Relative says how far t is from now in words: "in 14 minutes", "3 hours ago", "in 2 days";
// "in less than a minute" and "just now" close by.
func (l *Localizer) Relative(t time.Time) string {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	d := t.Sub(now())
	dir := "in"
	if d < 0 {
		d, dir = -d, "ago"
	}
	switch minutes := int(d.Round(time.Minute) / time.Minute); {
	case d < time.Minute && dir == "in":
		return l.T("rel_soon")
	case d < time.Minute:
		return l.T("rel_just_now")
	case minutes < 60:
		return l.T("rel_"+dir+"_minutes", "Count", minutes)
	case minutes < 48*60:
		return l.T("rel_"+dir+"_hours", "Count", (minutes+30)/60)
	default:
		return l.T("rel_"+dir+"_days", "Count", (minutes+12*60)/(24*60))
	}
}

// Zone is the zone this localizer writes times in.
func (l *Localizer) Zone() *time.Location {
	if l.zone == nil {
		return time.UTC
	}
	return l.zone
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

// Role names a role (admin, helpdesk, auditor, user, service) in words; an unknown one stays as it is.
func (l *Localizer) Role(role any) string {
	if id := fmt.Sprint("role_", role); l.known[id] {
		return l.T(id)
	}
	return fmt.Sprint(role)
}

// Actor names who did something, as the audit log records it ("admin:bob", "user:alice",
// "token:crm", "cli", "system", "anonymous"), in words: "bob (administrator)".
func (l *Localizer) Actor(actor string) string {
	kind, name, named := strings.Cut(actor, ":")
	switch {
	case !named && l.known["actor_"+kind]:
		return l.T("actor_" + kind)
	case named && kind == "token":
		return l.T("actor_token", "Name", name)
	case named && kind == "user":
		return l.T("actor_owner", "Name", name)
	case named && l.known["role_"+kind]:
		return l.T("actor_staff", "Name", name, "Role", l.T("role_"+kind))
	}
	return actor
}

// Fields writes an audit event's details (a JSON object) as "key: value" pairs in key order, a key
// in words where it has a message (audit_field_KEY) and a state or role by its name; text that is no
// JSON object is returned as it is.
func (l *Localizer) Fields(details string) string {
	var m map[string]any
	if json.Unmarshal([]byte(details), &m) != nil {
		return details
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name, value := k, fmt.Sprint(m[k])
		if id := "audit_field_" + k; l.known[id] {
			name = l.T(id)
		}
		// A state or a role reads as the pages name it.
		if id := "state_" + value; l.known[id] && (k == "state" || k == "from" || k == "to") {
			value = l.T(id)
		} else if id := "role_" + value; l.known[id] && (k == "role" || k == "from" || k == "to") {
			value = l.T(id)
		}
		parts = append(parts, l.T("audit_field", "Name", name, "Value", value))
	}
	return strings.Join(parts, " · ")
}

// Has reports whether id has a message in this language.
func (l *Localizer) Has(id string) bool { return l.known[id] }

// Time formats a moment for people in this language, in the localizer's zone (UTC unless set), named.
// Chinese puts the zone in brackets after the time, "2026年5月1日 18:00（北京时间）", as mail does.
func (l *Localizer) Time(t time.Time) string {
	t = l.local(t)
	if l.Lang == "zh-CN" {
		return t.Format("2006年1月2日 15:04") + "（" + ZoneName(l.Lang, t) + "）"
	}
	return t.Format("2 Jan 2006, 15:04 ") + ZoneName(l.Lang, t)
}

// Clock writes the time of day to the second, with its zone, for what happens within minutes.
func (l *Localizer) Clock(t time.Time) string {
	t = l.local(t)
	if l.Lang == "zh-CN" {
		return t.Format("15:04:05") + "（" + ZoneName(l.Lang, t) + "）"
	}
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
	if browser == "WeChat" {
		browser = l.T("device_wechat") // 微信 to Chinese readers
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
