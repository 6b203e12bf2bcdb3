package notify

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/web"
)

// The files of one template in one language directory, and the files every language shares.
const (
	suffixSubject = ".subject.txt" // text/template, one line
	suffixText    = ".txt"         // text/template, the plain-text part of the email
	suffixHTML    = ".html"        // html/template, defines "content" for layout.html
	suffixSMS     = ".sms.txt"     // text/template, the SMS
	phrasesFile   = "phrases.tmpl" // per language: greeting, footer and the words for Purpose, Method, ...
	layoutFile    = "layout.html"  // shared: the HTML document around "content"
)

// Templates holds every message template in every language, parsed once.
type Templates struct {
	byLang map[string]map[string]*templateSet
	zone   *time.Location // times are written in it; nil: in the zone they carry
}

// In returns the templates writing every time in zone (UNLOCKD_TIMEZONE).
func (t *Templates) In(zone *time.Location) *Templates {
	c := *t
	c.zone = zone
	return &c
}

type templateSet struct {
	text *texttemplate.Template // NAME.subject.txt, NAME.txt, NAME.sms.txt and the phrases
	html *htmltemplate.Template // layout.html, the phrases and NAME.html
	name string
}

// LoadTemplates parses the templates embedded from web/email. Call it at start-up: a missing or
// malformed template is an error.
func LoadTemplates() (*Templates, error) {
	sub, err := fs.Sub(web.Email, "email")
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}
	return ParseTemplates(sub)
}

// ParseTemplates parses templates from fsys, laid out as
//
//	layout.html
//	<lang>/phrases.tmpl
//	<lang>/<name>.subject.txt, <name>.txt, <name>.html, <name>.sms.txt
//
// for every language in Languages and every name in TemplateNames. A missing file, or a file that
// belongs to no template (a misspelt name), is an error.
func ParseTemplates(fsys fs.FS) (*Templates, error) {
	layout, err := fs.ReadFile(fsys, layoutFile)
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}
	t := &Templates{byLang: map[string]map[string]*templateSet{}}
	for _, lang := range Languages {
		if err := checkNoStrays(fsys, lang); err != nil {
			return nil, err
		}
		phrases, err := fs.ReadFile(fsys, path.Join(lang, phrasesFile))
		if err != nil {
			return nil, fmt.Errorf("email templates: %w", err)
		}
		// split reads a Method of several ways joined with "+" (email+totp) one way at a time.
		funcs := map[string]any{"lang": func() string { return lang }, "split": strings.Split}
		textBase, err := texttemplate.New(phrasesFile).Option("missingkey=error").Funcs(funcs).Parse(string(phrases))
		if err != nil {
			return nil, fmt.Errorf("email templates: %s/%s: %w", lang, phrasesFile, err)
		}
		htmlBase, err := htmltemplate.New(layoutFile).Option("missingkey=error").Funcs(funcs).Parse(string(layout))
		if err != nil {
			return nil, fmt.Errorf("email templates: %s: %w", layoutFile, err)
		}
		if _, err := htmlBase.New(phrasesFile).Parse(string(phrases)); err != nil {
			return nil, fmt.Errorf("email templates: %s/%s: %w", lang, phrasesFile, err)
		}
		t.byLang[lang] = map[string]*templateSet{}
		for _, name := range TemplateNames() {
			set := &templateSet{name: name}
			if set.text, err = textBase.Clone(); err != nil {
				return nil, err
			}
			for _, suffix := range []string{suffixSubject, suffixText, suffixSMS} {
				file := path.Join(lang, name+suffix)
				src, err := fs.ReadFile(fsys, file)
				if err != nil {
					return nil, fmt.Errorf("email templates: %w", err)
				}
				if _, err := set.text.New(name + suffix).Parse(string(src)); err != nil {
					return nil, fmt.Errorf("email templates: %s: %w", file, err)
				}
			}
			if set.html, err = htmlBase.Clone(); err != nil {
				return nil, err
			}
			file := path.Join(lang, name+suffixHTML)
			src, err := fs.ReadFile(fsys, file)
			if err != nil {
				return nil, fmt.Errorf("email templates: %w", err)
			}
			if _, err := set.html.New(name + suffixHTML).Parse(string(src)); err != nil {
				return nil, fmt.Errorf("email templates: %s: %w", file, err)
			}
			if set.html.Lookup("content") == nil {
				return nil, fmt.Errorf("email templates: %s does not define \"content\"", file)
			}
			t.byLang[lang][name] = set
		}
	}
	return t, nil
}

// checkNoStrays refuses files in a language directory that no template reads, so that a misspelt
// file name fails start-up rather than leaving the real one missing in a language nobody tested.
func checkNoStrays(fsys fs.FS, lang string) error {
	entries, err := fs.ReadDir(fsys, lang)
	if err != nil {
		return fmt.Errorf("email templates: %w", err)
	}
	names := TemplateNames()
	for _, e := range entries {
		f := e.Name()
		if f == phrasesFile {
			continue
		}
		known := false
		for _, suffix := range []string{suffixSubject, suffixSMS, suffixHTML, suffixText} {
			if base, ok := strings.CutSuffix(f, suffix); ok {
				known = slices.Contains(names, base)
				break
			}
		}
		if !known || e.IsDir() {
			return fmt.Errorf("email templates: %s/%s belongs to no template (names: %s)", lang, f, strings.Join(names, ", "))
		}
	}
	return nil
}

func (t *Templates) set(m Message) (*templateSet, map[string]string, error) {
	spec, ok := templateSpecs[m.Template]
	if !ok {
		return nil, nil, Permanent(fmt.Errorf("notify: unknown template %q", m.Template))
	}
	for _, k := range spec.required {
		if strings.TrimSpace(m.Data[k]) == "" {
			return nil, nil, Permanent(fmt.Errorf("notify: template %s needs %s", m.Template, k))
		}
	}
	if err := checkValues(m.Template, m.Data); err != nil {
		return nil, nil, Permanent(err)
	}
	// Every key the template takes is present, so a template that names a key it does not take fails
	// (missingkey=error) and an optional key left out renders as nothing.
	data := make(map[string]string, len(spec.required)+len(spec.optional)+1)
	lang, zone := NormalizeLang(m.Lang), t.zone
	if z, ok := account.TimeZone(m.Zone); ok {
		zone = z // the reader's own zone, chosen on /account
	}
	for _, k := range slices.Concat(spec.required, spec.optional) {
		data[k] = clean(k, m.Data[k])
		if k == "Time" || k == "Until" {
			data[k] = formatTime(lang, data[k], zone)
		}
	}
	return t.byLang[lang][m.Template], data, nil
}

// formatTime writes a time given in RFC 3339 or RFC 1123 form the reader's way, in zone (nil: the
// zone it carries), named; anything else is taken to be formatted already.
func formatTime(lang, v string, zone *time.Location) string {
	var t time.Time
	var err error
	for _, layout := range []string{time.RFC3339, time.RFC1123Z, time.RFC1123} {
		if t, err = time.Parse(layout, v); err == nil {
			break
		}
	}
	if err != nil {
		return v
	}
	if zone != nil {
		t = t.In(zone)
	}
	name := i18n.ZoneName(lang, t)
	if lang == LangChinese {
		return t.Format("2006年1月2日 15:04") + "（" + name + "）"
	}
	return t.Format("2 January 2006, 15:04") + " " + name
}

// Render renders an email: its subject, its plain-text part and its HTML part.
func (t *Templates) Render(m Message) (subject, text, html string, err error) {
	set, data, err := t.set(m)
	if err != nil {
		return "", "", "", err
	}
	if subject, err = set.execText(set.name+suffixSubject, data); err != nil {
		return "", "", "", err
	}
	subject = strings.Join(strings.Fields(subject), " ")
	if subject == "" {
		return "", "", "", Permanent(fmt.Errorf("notify: template %s rendered an empty subject", set.name))
	}
	if text, err = set.execText(set.name+suffixText, data); err != nil {
		return "", "", "", err
	}
	text = tidy(text) + "\n"
	data["Subject"] = subject
	var b bytes.Buffer
	if err := set.html.ExecuteTemplate(&b, layoutFile, data); err != nil {
		return "", "", "", Permanent(fmt.Errorf("notify: render %s%s: %w", set.name, suffixHTML, err))
	}
	return subject, text, b.String(), nil
}

// RenderSMS renders the text of an SMS.
func (t *Templates) RenderSMS(m Message) (string, error) {
	set, data, err := t.set(m)
	if err != nil {
		return "", err
	}
	s, err := set.execText(set.name+suffixSMS, data)
	if err != nil {
		return "", err
	}
	return tidy(s), nil
}

func (s *templateSet) execText(name string, data map[string]string) (string, error) {
	var b bytes.Buffer
	if err := s.text.ExecuteTemplate(&b, name, data); err != nil {
		return "", Permanent(fmt.Errorf("notify: render %s: %w", name, err))
	}
	return b.String(), nil
}

// tidy trims the ends of lines and collapses runs of blank lines, which the templates' optional
// parts leave behind, so templates can be written one sentence to a line.
func tidy(s string) string {
	var out []string
	blank := true // drop leading blank lines
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRightFunc(line, unicode.IsSpace)
		if line == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		blank = false
		out = append(out, line)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return strings.Join(out, "\n")
}

// clean keeps a data value on its own line (only Message, a person's note, may span lines) and drops
// control and bidirectional-override characters, so a display name cannot fake a line of the message
// (a code of its own, say) or reorder the text around it.
func clean(key, v string) string {
	var b strings.Builder
	for _, r := range strings.ReplaceAll(v, "\r\n", "\n") {
		switch {
		case r == '\n' && key == "Message":
			b.WriteRune(r)
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteRune(' ')
		case unicode.IsControl(r), r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f':
		default:
			b.WriteRune(r)
		}
	}
	return strings.TrimSpace(b.String())
}
