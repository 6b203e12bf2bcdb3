package site

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"text/template/parse"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/web"
)

// views holds, for each language, the layout, parsed once, and one template set per page: the
// page's content and the partials it uses. A page renders its content first, and the layout prints
// it (Page.Content): a set per page with a copy of the layout and every partial in each held four
// times the templates' objects, which every garbage collection marks. The messages a template asks
// for without data are translated into its language's sets when they are parsed
// (translateConstants): the two languages' sets hold 18,500 objects, against 15,500 for one set
// of calls.
type views map[string]*languageViews

type languageViews struct {
	layout *template.Template
	pages  map[string]*template.Template
}

func loadBundle() (*i18n.Bundle, error) { return i18n.Load(web.Locales) }

func parseViews(bundle *i18n.Bundle) (views, error) {
	v := views{}
	for _, lang := range i18n.Languages {
		lv, err := parseLanguageViews(bundle.Localizer(lang))
		if err != nil {
			return nil, fmt.Errorf("templates (%s): %w", lang, err)
		}
		v[lang] = lv
	}
	return v, nil
}

func parseLanguageViews(l *i18n.Localizer) (*languageViews, error) {
	layout, err := template.New("layout").ParseFS(web.Templates, "templates/layout.html")
	if err == nil {
		err = translateConstants(layout, l)
	}
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(web.Templates, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &languageViews{layout: layout, pages: map[string]*template.Template{}}
	for _, name := range names {
		t, err := parsePage(web.Templates, name)
		if err == nil {
			err = translateConstants(t, l)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		v.pages[strings.TrimSuffix(path.Base(name), ".html")] = t
	}
	return v, nil
}

// parsePage parses a page's file in fsys, which defines "content", with the partials it calls, and
// theirs: the partial "x" is templates/partials/x.html.
func parsePage(fsys fs.FS, name string) (*template.Template, error) {
	t, err := template.New(path.Base(name)).ParseFS(fsys, name)
	if err != nil {
		return nil, err
	}
	for {
		missing := ""
		for _, called := range calledTemplates(t) {
			if t.Lookup(called) == nil {
				missing = called
				break
			}
		}
		if missing == "" {
			break
		}
		if _, err := t.ParseFS(fsys, "templates/partials/"+missing+".html"); err != nil {
			return nil, fmt.Errorf("the partial %q: %w", missing, err)
		}
		if t.Lookup(missing) == nil {
			return nil, fmt.Errorf("templates/partials/%s.html does not define %q", missing, missing)
		}
	}
	if t.Lookup("content") == nil {
		return nil, errors.New(`no "content" defined`)
	}
	return t, nil
}

// calledTemplates lists the names of the templates t's templates call ({{template "x"}}).
func calledTemplates(t *template.Template) []string {
	var names []string
	for _, x := range t.Templates() {
		if x.Tree != nil {
			inspect(x.Tree.Root, func(n parse.Node) {
				if call, ok := n.(*parse.TemplateNode); ok {
					names = append(names, call.Name)
				}
			})
		}
	}
	return names
}

// render writes the page name with p into buf, in the language of p's localizer: its content,
// then the layout around it.
func (v views) render(buf *bytes.Buffer, name string, p *Page) error {
	lv, ok := v[p.L.Lang]
	if !ok {
		return fmt.Errorf("no pages in %q", p.L.Lang)
	}
	t, ok := lv.pages[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	if err := t.ExecuteTemplate(buf, "content", p); err != nil {
		return err
	}
	// The content was escaped as it was rendered: it goes into the layout as it is.
	p.Content = template.HTML(buf.String())
	buf.Reset()
	return lv.layout.Execute(buf, p)
}

// Flash is a one-line message carried to the next page.
type Flash struct {
	Kind string // ok, info, error
	Text string
}

// Page is what every template receives.
type Page struct {
	Path    string // for aria-current in the navigation
	Lang    string
	L       *i18n.Localizer
	Title   string
	Account *account.Account
	Flash   *Flash
	Error   string
	Data    any
	// Maintenance is a window running now or announced; MaintenanceNow says which.
	Maintenance    *account.Maintenance
	MaintenanceNow bool
	// Content is the page's own part, rendered; the layout prints it. Render sets it.
	Content template.HTML
}

// NewPage prepares the data for a page whose title is the message titleID.
func (s *Site) NewPage(r *http.Request, titleID string, data any) *Page {
	l := s.Localizer(r)
	p := &Page{Path: r.URL.Path, Lang: l.Lang, L: l, Title: l.T(titleID), Account: CurrentAccount(r), Data: data}
	if m := s.Maintenance.Current(r); m != nil {
		p.Maintenance, p.MaintenanceNow = m, m.Active(s.accounts.Now())
	}
	return p
}

// Render writes a page. It renders into a buffer first, so a template failure becomes a clean
// error page instead of half a page.
func (s *Site) Render(w http.ResponseWriter, r *http.Request, status int, name string, p *Page) {
	var buf bytes.Buffer
	if err := s.views.render(&buf, name, p); err != nil {
		if name == "error" {
			// The error page itself failed: say so plainly rather than loop.
			s.log.Error("render error page", "err", err)
			http.Error(w, "Internal error.", http.StatusInternalServerError)
			return
		}
		s.RenderError(w, r, fmt.Errorf("render %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}
