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

// views holds the layout, parsed once, and one template set per page: the page's content and the
// partials it uses. A page renders its content first, and the layout prints it (Page.Content): a
// set per page with a copy of the layout and every partial in each held four times the templates'
// objects, which every garbage collection marks.
type views struct {
	layout *template.Template
	pages  map[string]*template.Template
}

func loadBundle() (*i18n.Bundle, error) { return i18n.Load(web.Locales) }

func parseViews() (*views, error) {
	layout, err := template.New("layout").ParseFS(web.Templates, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	names, err := fs.Glob(web.Templates, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{layout: layout, pages: map[string]*template.Template{}}
	for _, name := range names {
		t, err := parsePage(web.Templates, name)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", name, err)
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
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.IfNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.List)
			walk(n.ElseList)
		case *parse.TemplateNode:
			names = append(names, n.Name)
		}
	}
	for _, x := range t.Templates() {
		if x.Tree != nil {
			walk(x.Tree.Root)
		}
	}
	return names
}

// render writes the page name with p into buf: its content, then the layout around it.
func (v *views) render(buf *bytes.Buffer, name string, p *Page) error {
	t, ok := v.pages[name]
	if !ok {
		return fmt.Errorf("no page %q", name)
	}
	if err := t.ExecuteTemplate(buf, "content", p); err != nil {
		return err
	}
	// The content was escaped as it was rendered: it goes into the layout as it is.
	p.Content = template.HTML(buf.String())
	buf.Reset()
	return v.layout.Execute(buf, p)
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
