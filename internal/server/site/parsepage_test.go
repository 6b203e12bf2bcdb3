package site

import (
	"bytes"
	"strings"
	"testing"
	"testing/fstest"
)

// A page is parsed with the partials it calls and theirs, and nothing else; a partial with no file,
// a file that does not define its partial and a page without content each stop the server at start,
// naming what is wrong.
func TestParsePageTakesThePartialsItCalls(t *testing.T) {
	file := func(text string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(text)} }
	fsys := fstest.MapFS{
		"templates/pages/good.html":      file(`{{define "content"}}<main>{{template "card" .}}</main>{{end}}`),
		"templates/partials/card.html":   file(`{{define "card"}}<div>{{if .}}{{template "badge" .}}{{end}}</div>{{end}}`),
		"templates/partials/badge.html":  file(`{{define "badge"}}<b>{{.}}</b>{{end}}`),
		"templates/partials/unused.html": file(`{{define "unused"}}never{{end}}`),
		"templates/pages/missing.html":   file(`{{define "content"}}{{template "nowhere" .}}{{end}}`),
		"templates/pages/misnamed.html":  file(`{{define "content"}}{{template "wrong" .}}{{end}}`),
		"templates/partials/wrong.html":  file(`{{define "right"}}x{{end}}`),
		"templates/pages/nocontent.html": file(`{{define "main"}}x{{end}}`),
	}
	good, err := parsePage(fsys, "templates/pages/good.html")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := good.ExecuteTemplate(&buf, "content", "new"); err != nil || buf.String() != "<main><div><b>new</b></div></main>" {
		t.Errorf("good page rendered %q, %v", buf.String(), err)
	}
	if good.Lookup("unused") != nil {
		t.Error("a partial the page does not call was parsed into it")
	}
	for page, want := range map[string]string{
		"missing":   `the partial "nowhere"`,
		"misnamed":  `templates/partials/wrong.html does not define "wrong"`,
		"nocontent": `no "content" defined`,
	} {
		if _, err := parsePage(fsys, "templates/pages/"+page+".html"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %s", page, err, want)
		}
	}
}
