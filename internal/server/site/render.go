package site

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/web"
)

// views holds one parsed template set per page: the layout, the partials and the page.
type views struct {
	pages map[string]*template.Template
}

func loadBundle() (*i18n.Bundle, error) { return i18n.Load(web.Locales) }

func parseViews() (*views, error) {
	base, err := template.New("layout").ParseFS(web.Templates, "templates/layout.html", "templates/partials/*.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	names, err := fs.Glob(web.Templates, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{pages: map[string]*template.Template{}}
	for _, name := range names {
		t, err := template.Must(base.Clone()).ParseFS(web.Templates, name)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", name, err)
		}
		v.pages[strings.TrimSuffix(path.Base(name), ".html")] = t
	}
	return v, nil
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
	t, ok := s.views.pages[name]
	if !ok {
		s.RenderError(w, r, fmt.Errorf("render: no page %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
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
