package site

import (
	"bytes"
	"html/template"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
)

// A message asked for without data is put into the template as a string constant, wherever the
// call is (an action, a variable, a condition, a parenthesised pipeline, a template's argument),
// and prints through the same escaping as the call did: in text, in an attribute, in the title.
// A message with data, or with a computed id, stays a call.
func TestTranslateConstantsKeepsTheOutput(t *testing.T) {
	bundle, err := loadBundle()
	if err != nil {
		t.Fatal(err)
	}
	const text = `<title>{{.L.T "status_title"}}</title>` +
		`<p title="{{$.L.T "status_title"}}">{{.L.T "status_title"}}</p>` +
		`{{$s := .L.T "nav_help"}}<a aria-label="{{$s}}">{{$s}}</a>` +
		`{{if .L.T "nav_help"}}<b>{{(.L.T "nav_help") | printf "%s!"}}</b>{{end}}` +
		`{{template "inner" .L.T "nav_label"}}{{define "inner"}}<i>{{.}}</i>{{end}}` +
		`<p>{{.L.T "account_recovery_left" "Count" 3}} {{.L.T (printf "state_%s" "locked")}}</p>`
	for _, lang := range i18n.Languages {
		l := bundle.Localizer(lang)
		byCall := template.Must(template.New("t").Parse(text))
		translated := template.Must(template.New("t").Parse(text))
		if err := translateConstants(translated, l); err != nil {
			t.Fatal(err)
		}
		tree := translated.Tree.Root.String()
		if strings.Contains(tree, `L.T "status_title"`) || strings.Contains(tree, `L.T "nav_help"`) || strings.Contains(tree, `L.T "nav_label"`) {
			t.Errorf("%s: a message without data is still a call: %s", lang, tree)
		}
		if !strings.Contains(tree, `.L.T "account_recovery_left" "Count" 3`) || !strings.Contains(tree, `.L.T (printf "state_%s" "locked")`) {
			t.Errorf("%s: a message with data or a computed id is no longer a call: %s", lang, tree)
		}
		p := &Page{L: l, Lang: lang}
		var want, got bytes.Buffer
		if err := byCall.Execute(&want, p); err != nil {
			t.Fatal(err)
		}
		if err := translated.Execute(&got, p); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: translated\n%s\nby call\n%s", lang, got.String(), want.String())
		}
		if lang == "en" && !strings.Contains(got.String(), `title="My account&#39;s status"`) {
			t.Errorf("the attribute is not escaped as before: %s", got.String())
		}
	}
}

// An id that no locale has stops start-up, naming the template and the id, instead of showing
// the raw id on a page.
func TestTranslateConstantsRefusesAnUnknownMessage(t *testing.T) {
	bundle, err := loadBundle()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := template.Must(template.New("page").Parse(`<p>{{.L.T "nav_help"}} {{.L.T "no_such_message"}}</p>`))
	err = translateConstants(tmpl, bundle.Localizer("en"))
	if err == nil || !strings.Contains(err.Error(), `page asks for the message "no_such_message"`) {
		t.Fatalf("got %v, want the template and the unknown id named", err)
	}
}

// Every page renders byte for byte as it did when each message was asked for at rendering: the
// account pages with a long-used account's data, and every page whose content renders without
// data, signed out, signed in as a user and as staff, with a flash and a maintenance window, in
// both languages.
func TestTranslatedPagesRenderAsByCall(t *testing.T) {
	bundle, err := loadBundle()
	if err != nil {
		t.Fatal(err)
	}
	byCallSets, err := parseLanguageViews(nil)
	if err != nil {
		t.Fatal(err)
	}
	byCall := views{}
	for _, lang := range i18n.Languages {
		byCall[lang] = byCallSets
	}
	same := func(v views, name string, p func() *Page) bool {
		t.Helper()
		var want, got bytes.Buffer
		if err := byCall.render(&want, name, p()); err != nil {
			return false // the page needs data this test does not give
		}
		if err := v.render(&got, name, p()); err != nil {
			t.Fatalf("%s in %s: %v", name, p().Lang, err)
		}
		if got.String() != want.String() {
			t.Errorf("%s in %s renders otherwise:\n%s\nby call:\n%s", name, p().Lang, got.String(), want.String())
		}
		return true
	}
	now := time.Now()
	window := &account.Maintenance{ID: 1, StartsAt: now.Add(time.Hour), EndsAt: now.Add(2 * time.Hour), MessageEN: "Upgrade", MessageZH: "升级"}
	users := []*account.Account{nil,
		{ID: 1, Username: "alice", Email: "alice@example.com", Role: account.RoleUser, State: account.StateActive},
		{ID: 2, Username: "root", Email: "root@example.com", Role: account.RoleAdmin, State: account.StateActive}}
	var rendered []string
	for _, lang := range i18n.Languages {
		for _, page := range []string{"account", "browsers"} {
			v, p := longUsedAccountPageIn(t, page, lang)
			if !same(v, page, func() *Page { return p }) {
				t.Fatalf("the %s page of a long-used account does not render", page)
			}
		}
		translated, err := parseViews(bundle)
		if err != nil {
			t.Fatal(err)
		}
		l := bundle.Localizer(lang)
		for name := range byCallSets.pages {
			for _, a := range users {
				page := func() *Page {
					return &Page{Path: "/" + name, Lang: lang, L: l, Title: l.T("home_title"), Account: a,
						Flash: &Flash{Kind: "ok", Text: "Done & done"}, Maintenance: window}
				}
				if same(translated, name, page) && !slices.Contains(rendered, name) {
					rendered = append(rendered, name)
				}
			}
		}
	}
	for _, must := range []string{"home", "help", "login"} {
		if !slices.Contains(rendered, must) {
			t.Errorf("the %s page was not compared (compared: %v)", must, rendered)
		}
	}
	t.Logf("compared without data: %v", rendered)
}
