package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/unlockd/unlockd/"

// allowed is the import table of docs/ARCHITECTURE.md: the project packages each may import.
var allowed = map[string][]string{
	"internal/lockout":  {},
	"internal/secret":   {},
	"internal/audit":    {},
	"internal/i18n":     {},
	"internal/config":   {},
	"internal/notice":   {},
	"internal/account":  {"internal/lockout", "internal/audit", "internal/notice"},
	"internal/notify":   {"internal/account", "internal/notice", "internal/i18n", "web"},
	"internal/postgres": {"internal/account", "internal/lockout", "internal/audit", "internal/notify", "internal/secret", "migrations"},
	// The HTTP face: server wires the shared site, the dashboard and the API; those two build on
	// site and know neither server nor each other; site knows none of them.
	"internal/server": {"internal/account", "internal/audit", "internal/config", "internal/i18n", "internal/secret", "web",
		"internal/server/site", "internal/server/dashboard", "internal/server/api"},
	"internal/server/site":      {"internal/account", "internal/audit", "internal/config", "internal/i18n", "internal/secret", "web"},
	"internal/server/dashboard": {"internal/account", "internal/audit", "internal/config", "internal/i18n", "internal/server/site"},
	"internal/server/api":       {"internal/account", "internal/audit", "internal/config", "internal/server/site"},

	// The directory connector knows no domain: it speaks LDAP and says what the directory holds.
	"internal/directory":           {},
	"internal/directory/slapd":     {"internal/directory/testcert", "internal/freeport"},
	"internal/directory/slapdtest": {"internal/directory/slapd"},
	"internal/directory/sambatest": {"internal/directory/testcert"},
	"internal/directory/testcert":  {},
}

// Imports point inward: the domain knows no storage or HTTP, the server and its parts no storage.
func TestImportsPointInward(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		may, ruled := allowed[pkg]
		if !ruled {
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				if pkg == "internal/account" && (imp == "net/http" || strings.HasPrefix(imp, "github.com/jackc/")) {
					t.Errorf("%s imports %s: the domain knows no HTTP and no database driver", pkg, imp)
				}
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			ok := false
			for _, m := range may {
				ok = ok || m == imp
			}
			if !ok {
				t.Errorf("%s imports %s, which docs/ARCHITECTURE.md does not allow", pkg, imp)
			}
		}
	}
	if seen != len(allowed) {
		t.Fatalf("found %d of the %d packages the table rules", seen, len(allowed))
	}
}
