package main

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/unlockd/unlockd"

// The binary that ships links no test code: not the testing package (its flags and its runtime hooks
// have no place in a server), and none of the helpers that give tests throwaway databases and mail
// servers. `unlockd dev` gets its cluster and mail catcher from packages made for it.
func TestBinaryLinksNoTestCode(t *testing.T) {
	helpers := testHelperPackages(t)
	for _, want := range []string{module + "/internal/pgtest", module + "/internal/mailpit"} {
		if !helpers[want] {
			t.Fatalf("%s is not recognised as a test helper (it imports testing); found %v", want, helpers)
		}
	}
	linked := goList(t, "-deps", ".")
	if _, ok := linked[module+"/internal/cli"]; !ok {
		t.Fatalf("the dependency list of the binary lacks internal/cli: %v", linked)
	}
	for pkg := range linked {
		if pkg != "testing" && !strings.HasPrefix(pkg, "testing/") && pkg != "net/http/httptest" && !helpers[pkg] {
			continue
		}
		var importers []string
		for p, imports := range linked {
			if slices.Contains(imports, pkg) {
				importers = append(importers, p)
			}
		}
		slices.Sort(importers)
		t.Errorf("the unlockd binary links %s, imported by %s", pkg, strings.Join(importers, ", "))
	}
}

// testHelperPackages lists the packages of this module that import testing in their own (non-test)
// files: helpers that only tests may link.
func testHelperPackages(t *testing.T) map[string]bool {
	t.Helper()
	helpers := map[string]bool{}
	for pkg, imports := range goList(t, module+"/...") {
		if slices.Contains(imports, "testing") {
			helpers[pkg] = true
		}
	}
	return helpers
}

// goList runs go list with args and returns each package it names with the packages it imports.
func goList(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command lists what the binary links: %v", err)
	}
	args = append([]string{"list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, args...)
	out, err := exec.Command(goCmd, args...).Output()
	if err != nil {
		msg := ""
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, msg)
	}
	pkgs := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) > 0 {
			pkgs[fields[0]] = fields[1:]
		}
	}
	return pkgs
}
