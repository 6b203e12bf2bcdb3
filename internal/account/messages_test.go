package account_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/web"
)

// failIDs collects the message id of every account.Fail call in the packages' sources. An id that
// is not a string literal fails the test: it could not be checked.
func failIDs(t *testing.T, dirs ...string) map[string][]string {
	t.Helper()
	ids := map[string][]string{} // id -> where
	fset := token.NewFileSet()
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || !isFail(call.Fun, f.Name.Name) || len(call.Args) < 2 {
					return true
				}
				pos := fset.Position(call.Pos()).String()
				lit, ok := call.Args[1].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("%s: the message id of Fail is not a string literal", pos)
					return true
				}
				id, _ := strconv.Unquote(lit.Value)
				ids[id] = append(ids[id], pos)
				return true
			})
		}
	}
	return ids
}

func isFail(fun ast.Expr, pkg string) bool {
	switch f := fun.(type) {
	case *ast.Ident:
		return pkg == "account" && f.Name == "Fail"
	case *ast.SelectorExpr:
		x, ok := f.X.(*ast.Ident)
		return ok && x.Name == "account" && f.Sel.Name == "Fail"
	}
	return false
}

func TestEveryDomainMessageIDIsTranslated(t *testing.T) {
	ids := failIDs(t, ".", "../postgres", "../server", "../cli")
	if len(ids) < 40 {
		t.Fatalf("found only %d message ids: is the parsing still right?", len(ids))
	}
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for id, where := range ids {
		for _, lang := range i18n.Languages {
			if !b.Localizer(lang).Has(id) {
				missing = append(missing, lang+": "+id+" (used at "+strings.Join(where, ", ")+")")
			}
		}
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Error(m)
	}
}

func TestStateNamesAreMessageIDs(t *testing.T) {
	b, err := i18n.Load(web.Locales)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range account.States {
		if id := string(account.StateName(s)); !b.Localizer("zh-CN").Has(id) {
			t.Errorf("%s has no translated name", s)
		}
	}
}
