package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type cliEnv struct {
	t   testing.TB
	env map[string]string
}

func newCLIEnv(t testing.TB) *cliEnv {
	t.Helper()
	return &cliEnv{t: t, env: map[string]string{
		"UNLOCKD_DATABASE_URL": pgtest.NewDatabase(t, pgtest.Migrate),
		"UNLOCKD_SECRET_KEY":   strings.Repeat("k", 32),
		"UNLOCKD_LOG_LEVEL":    "warn",
	}}
}

// run executes one command line and returns its exit code, standard output and standard error.
func (e *cliEnv) run(stdin string, args ...string) (int, string, string) {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, IO{In: strings.NewReader(stdin), Out: &out, Err: &errOut},
		func(k string) string { return e.env[k] })
	return code, out.String(), errOut.String()
}

func TestUserAddAndShowJSON(t *testing.T) {
	e := newCLIEnv(t)
	code, _, stderr := e.run("a long enough password\n", "user", "add", "--username", "Alice", "--email", "alice@example.com",
		"--phone", "+86 138 0000 0000", "--display-name", "Alice A", "--password-stdin")
	if code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	code, out, stderr := e.run("", "user", "show", "alice", "--json")
	if code != 0 {
		t.Fatalf("user show: exit %d: %s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("user show --json is not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"username", "email", "phone", "role", "state", "reason", "locked_until", "failed_attempts"} {
		if _, ok := got[k]; !ok {
			t.Errorf("user show --json lacks %q", k)
		}
	}
	if got["username"] != "Alice" || got["phone"] != "+8613800000000" || got["state"] != "active" || got["role"] != "user" ||
		got["locked_until"] != nil || got["failed_attempts"] != float64(0) {
		t.Errorf("unexpected account: %v", got)
	}
	// The newline was not part of the password: signing in with the bare password works.
	a, err := open(context.Background(), func(k string) string { return e.env[k] }, nil, IO{Err: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.accounts.Gate.SignIn(context.Background(), signInAs("alice", "a long enough password")); err != nil {
		t.Fatalf("sign-in with the stdin password: %v", err)
	}
}

func TestUserAddRefusesDuplicatesAndBadInput(t *testing.T) {
	e := newCLIEnv(t)
	if code, _, _ := e.run("", "user", "add", "--username", "bob", "--email", "bob@example.com"); code != 0 {
		t.Fatal("first add failed")
	}
	if code, _, stderr := e.run("", "user", "add", "--username", "BOB", "--email", "x@example.com"); code != 1 || !strings.Contains(stderr, "taken") {
		t.Fatalf("duplicate username: exit %d %q", code, stderr)
	}
	if code, _, stderr := e.run("", "user", "add", "--username", "carol", "--email", "not-an-email"); code != 1 || !strings.Contains(stderr, "email") {
		t.Fatalf("bad email: exit %d %q", code, stderr)
	}
	if code, _, stderr := e.run("", "user", "add", "--username", "dora", "--email", "dora@example.com", "--time-zone", "Mars/Base"); code != 1 || !strings.Contains(stderr, "Mars/Base") {
		t.Fatalf("a zone there is none of: exit %d %q", code, stderr)
	}
	if code, _, stderr := e.run("", "user", "add", "--username", "dora", "--email", "dora@example.com", "--language", "zh-CN", "--time-zone", "Asia/Shanghai"); code != 0 {
		t.Fatalf("language and zone: exit %d %q", code, stderr)
	}
	if _, out, _ := e.run("", "user", "show", "dora", "--json"); !strings.Contains(out, `"language": "zh-CN"`) || !strings.Contains(out, `"time_zone": "Asia/Shanghai"`) {
		t.Fatalf("user show --json after --language and --time-zone:\n%s", out)
	}
	if code, _, _ := e.run("", "user", "add", "--username", "carol"); code != 2 {
		t.Fatalf("missing --email: exit %d, want 2", code)
	}
	if code, _, _ := e.run("", "user", "add", "--username", "dan", "--email", "dan@example.com", "--role", "root"); code != 1 {
		t.Fatalf("bad role: exit %d, want 1", code)
	}
}

func TestUserImportReportsLineAndWritesNothing(t *testing.T) {
	e := newCLIEnv(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("username,email,phone,display_name,role,password_hash\n"+
		"ann,ann@example.com,,Ann,user,\n"+
		"ben,ben@example.com,,Ben,user,$argon2id$v=19$m=19456,t=2,p=1$bm90YmFzZTY0$\n"), 0o600)
	code, _, stderr := e.run("", "user", "import", bad)
	if code != 1 || !strings.Contains(stderr, "line 3") {
		t.Fatalf("bad import: exit %d, stderr %q; want 1 naming line 3", code, stderr)
	}
	if code, _, _ := e.run("", "user", "show", "ann"); code != 1 {
		t.Fatal("line 2 was written although line 3 was bad")
	}

	hash, _ := bcrypt.GenerateFromPassword([]byte("imported password 1"), 4)
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("username,email,phone,display_name,role,password_hash\n"+
		"ann,ann@example.com,+8613900000000,Ann,helpdesk,"+string(hash)+"\n"+
		"ben,ben@example.com,,Ben,user,\n"), 0o600)
	code, out, stderr := e.run("", "user", "import", good)
	if code != 0 || !strings.Contains(out, "2 created") {
		t.Fatalf("good import: exit %d out %q err %q", code, out, stderr)
	}
	code, out, _ = e.run("", "user", "import", good)
	if code != 0 || !strings.Contains(out, "2 updated") {
		t.Fatalf("second import is not idempotent: %q", out)
	}
	code, out, _ = e.run("", "user", "list", "--json")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("user list --json: exit %d, %s", code, out)
	}
	code, out, _ = e.run("", "user", "list")
	if code != 0 || !strings.Contains(out, "ann") || !strings.Contains(out, "helpdesk") {
		t.Fatalf("user list: %s", out)
	}
}

func TestExitCodes(t *testing.T) {
	e := newCLIEnv(t)
	if code, _, _ := e.run(""); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
	if code, _, _ := e.run("", "frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if code, _, _ := e.run("", "user", "show", "nobody"); code != 1 {
		t.Errorf("unknown user: exit %d, want 1", code)
	}
	if code, _, _ := e.run("", "user", "list", "--state", "sleepy"); code != 2 {
		t.Errorf("bad --state: exit %d, want 2", code)
	}
	code, out, _ := e.run("", "migrate", "status")
	if code != 0 || !strings.Contains(out, "applied") {
		t.Errorf("migrate status: exit %d %q", code, out)
	}
}

func TestConfigErrorIsOneLineNamingTheVariable(t *testing.T) {
	e := newCLIEnv(t)
	e.env["UNLOCKD_LOG_LEVEL"] = "shouting"
	code, _, stderr := e.run("", "serve")
	if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "UNLOCKD_LOG_LEVEL") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// A directory setting the connector refuses stops every command as the rest of the configuration
// does, on one line naming the variable, before the database is reached: here there is none.
func TestDirectorySettingsAreCheckedBeforeAnythingConnects(t *testing.T) {
	e := newCLIEnv(t)
	e.env["UNLOCKD_DATABASE_URL"] = "postgres://nobody@127.0.0.1:1/none?connect_timeout=1"
	for variable, value := range map[string]string{
		"UNLOCKD_DIRECTORY_KIND":        "freeipa",
		"UNLOCKD_DIRECTORY_BASE_DN":     "not a dn",
		"UNLOCKD_DIRECTORY_USER_FILTER": "(uid=alice)",
	} {
		e.env["UNLOCKD_DIRECTORY_URL"] = "ldap://ldap.example.org:389"
		e.env["UNLOCKD_DIRECTORY_BIND_DN"] = "cn=unlockd,dc=example,dc=org"
		e.env["UNLOCKD_DIRECTORY_BIND_PASSWORD"] = "service secret"
		e.env["UNLOCKD_DIRECTORY_BASE_DN"] = "ou=people,dc=example,dc=org"
		e.env[variable] = value
		code, _, stderr := e.run("", "serve")
		if code != 1 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "unlockd: "+variable+": ") {
			t.Errorf("%s=%q: exit %d, stderr %q", variable, value, code, stderr)
		}
		delete(e.env, variable)
	}
}

func signInAs(login, password string) account.SignInRequest {
	return account.SignInRequest{Login: login, Password: password}
}
