package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func (e *cliEnv) showJSON(username string) map[string]any {
	e.t.Helper()
	code, out, stderr := e.run("", "user", "show", username, "--json")
	if code != 0 {
		e.t.Fatalf("user show %s: %s", username, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

func TestLockUnlockDisableEnable(t *testing.T) {
	e := newCLIEnv(t)
	e.run("", "user", "add", "--username", "alice", "--email", "alice@example.com")
	steps := []struct {
		args  []string
		code  int
		state string
	}{
		{[]string{"user", "lock", "alice", "--reason", "compliance review", "--until", "2099-01-01T00:00:00Z"}, 0, "frozen"},
		{[]string{"user", "lock", "alice"}, 2, "frozen"},
		{[]string{"user", "enable", "alice", "--reason", "x"}, 1, "frozen"},
		{[]string{"user", "unlock", "alice", "--reason", "review passed"}, 0, "active"},
		{[]string{"user", "disable", "alice", "--reason", "left the company"}, 0, "disabled"},
		{[]string{"user", "unlock", "alice", "--reason", "x"}, 1, "disabled"},
		{[]string{"user", "enable", "alice", "--reason", "came back"}, 0, "active"},
		{[]string{"user", "lock", "alice", "--reason", "x", "--until", "tomorrow"}, 2, "active"},
	}
	for _, s := range steps {
		code, _, stderr := e.run("", s.args...)
		if code != s.code {
			t.Fatalf("%v: exit %d (%s), want %d", s.args, code, stderr, s.code)
		}
		if got := e.showJSON("alice")["state"]; got != s.state {
			t.Fatalf("%v: state %v, want %s", s.args, got, s.state)
		}
	}
	code, out, _ := e.run("", "user", "unlock-all", "--locked-since", "1h", "--reason", "wave")
	if code != 0 || !strings.Contains(out, "unlocked 0") {
		t.Fatalf("unlock-all: %d %q", code, out)
	}
}

func TestPolicyShowAndSet(t *testing.T) {
	e := newCLIEnv(t)
	if code, _, stderr := e.run("", "policy", "set", "lockout.threshold=0"); code != 1 || !strings.Contains(stderr, "lockout.threshold") {
		t.Fatalf("threshold 0: exit %d %q", code, stderr)
	}
	if code, _, _ := e.run("", "policy", "set", "nonsense"); code != 2 {
		t.Fatalf("no '=': exit %d, want 2", code)
	}
	if code, out, stderr := e.run("", "policy", "set", "lockout.threshold=5", "lockout.duration=2s"); code != 0 || !strings.Contains(out, "lockout.duration = 2s") {
		t.Fatalf("set: %d %q %q", code, out, stderr)
	}
	code, out, _ := e.run("", "policy", "show", "--json")
	var p map[string]string
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p["lockout.threshold"] != "5" || p["code.length"] != "6" {
		t.Fatalf("policy show --json: %s", out)
	}
	if code, out, _ := e.run("", "policy", "show"); code != 0 || !strings.Contains(out, "consecutive failed sign-ins") {
		t.Fatalf("policy show: %s", out)
	}
}

func TestAuditVerifyAndExport(t *testing.T) {
	e := newCLIEnv(t)
	e.run("", "policy", "set", "lockout.threshold=5")
	e.run("", "user", "add", "--username", "alice", "--email", "alice@example.com")
	e.run("", "user", "lock", "alice", "--reason", "=HYPERLINK(\"x\")")
	if code, out, _ := e.run("", "audit", "verify"); code != 0 || !strings.Contains(out, "ok: 3 events") {
		t.Fatalf("verify: %d %q", code, out)
	}
	code, out, _ := e.run("", "audit", "export")
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"action":"account.frozen"`) {
		t.Fatalf("export jsonl: %q", out)
	}
	code, out, _ = e.run("", "audit", "export", "--format", "csv", "--since", "2000-01-01T00:00:00Z")
	if code != 0 || !strings.HasPrefix(out, "id,at,actor,action") || strings.Count(out, "\n") < 3 {
		t.Fatalf("export csv: %q", out)
	}
	if code, _, _ := e.run("", "audit", "export", "--format", "xml"); code != 2 {
		t.Fatalf("bad format: exit %d", code)
	}
	// Tamper around the application, as a database superuser could.
	conn, err := pgx.Connect(context.Background(), e.env["UNLOCKD_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `ALTER TABLE audit_events DISABLE TRIGGER USER;
		DELETE FROM audit_events WHERE id = 1; ALTER TABLE audit_events ENABLE TRIGGER USER`); err != nil {
		t.Fatal(err)
	}
	code, out, _ = e.run("", "audit", "verify")
	if code != 1 || !strings.Contains(out, "BROKEN at event 2") {
		t.Fatalf("verify after tampering: exit %d %q", code, out)
	}
}

func TestTokenCreateListRevoke(t *testing.T) {
	e := newCLIEnv(t)
	code, out, stderr := e.run("", "token", "create", "--name", "crm", "--role", "service")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || !strings.HasPrefix(lines[len(lines)-1], "ulk_") || len(lines[len(lines)-1]) < 40 {
		t.Fatalf("token create: %d %q %q", code, out, stderr)
	}
	if code, _, _ := e.run("", "token", "create", "--name", "crm", "--role", "service"); code != 1 {
		t.Fatal("a second live token with the same name was created")
	}
	if code, _, _ := e.run("", "token", "create", "--name", "x", "--role", "root"); code != 1 {
		t.Fatal("a bad role was accepted")
	}
	if code, out, _ := e.run("", "token", "list"); code != 0 || !strings.Contains(out, "crm") || !strings.Contains(out, "service") {
		t.Fatalf("token list: %q", out)
	}
	if code, _, _ := e.run("", "token", "revoke", "crm"); code != 0 {
		t.Fatal("revoke failed")
	}
	if code, _, _ := e.run("", "token", "revoke", "crm"); code != 1 {
		t.Fatal("revoking twice succeeded")
	}
}
