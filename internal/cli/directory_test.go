package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/directory"
	"github.com/unlockd/unlockd/internal/directory/slapdtest"
	"github.com/unlockd/unlockd/internal/servetest"
)

// These tests read from a real slapd with the ppolicy overlay (slapdtest): locks come from real
// failed binds and an administrator's pwdAccountLockedTime, unlocks from the connector's own Unlock.

func (e *cliEnv) useDirectory(url string) {
	e.env["UNLOCKD_DIRECTORY_URL"] = url
	e.env["UNLOCKD_DIRECTORY_BIND_DN"] = slapdtest.ServiceDN
	e.env["UNLOCKD_DIRECTORY_BIND_PASSWORD"] = slapdtest.ServicePassword
	e.env["UNLOCKD_DIRECTORY_BASE_DN"] = slapdtest.PeopleDN
}

// mustSync runs `directory sync` and returns its one line of counts.
func (e *cliEnv) mustSync() string {
	e.t.Helper()
	code, out, stderr := e.run("", "directory", "sync")
	if code != 0 {
		e.t.Fatalf("directory sync: exit %d: %s", code, stderr)
	}
	return strings.TrimSpace(out)
}

func TestDirectorySyncReadsPeopleAndLocksFromSlapd(t *testing.T) {
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	srv.MustAddPerson(t, slapdtest.Person{UID: "alice", Password: "alice's password", Mail: "alice@example.org",
		Mobile: "+86 138 0000 0001", DisplayName: "Alice Liddell"})
	bobDN := srv.MustAddPerson(t, slapdtest.Person{UID: "bob", Password: "bob's password", Mail: "bob@example.org", Mobile: "13800000002"})
	carolDN := srv.MustAddPerson(t, slapdtest.Person{UID: "carol", Password: "carol's password", Mail: "carol@example.org"})
	srv.MustAddPerson(t, slapdtest.Person{UID: "dan", Password: "dan's password"}) // no mail: not taken
	e := newCLIEnv(t)
	e.useDirectory(srv.URL)

	// The first sync reads everyone.
	if got := e.mustSync(); got != "full sync: read 4, created 3, updated 0, locked 0, unlocked 0, skipped 1" {
		t.Fatalf("first sync: %q", got)
	}
	alice := e.showJSON("alice")
	if alice["source"] != "directory" || alice["directory_dn"] != slapdtest.PersonDN("alice") || alice["state"] != "active" ||
		alice["email"] != "alice@example.org" || alice["phone"] != "+8613800000001" || alice["display_name"] != "Alice Liddell" ||
		alice["role"] != "user" {
		t.Fatalf("alice after the sync: %v", alice)
	}
	if bob := e.showJSON("bob"); bob["phone"] != "" || bob["source"] != "directory" {
		t.Fatalf("bob's phone without a country code should be left out: %v", bob)
	}
	if code, _, _ := e.run("", "user", "show", "dan"); code != 1 {
		t.Fatalf("dan, who has no mail, was taken: exit %d", code)
	}
	e.run("", "user", "add", "--username", "erin", "--email", "erin@example.org")
	if erin := e.showJSON("erin"); erin["source"] != "local" {
		t.Fatalf("a local account shows source %v", erin["source"])
	}

	// Nothing changed: the next sync is incremental and writes nothing.
	if got := e.mustSync(); !strings.HasPrefix(got, "incremental sync: ") || !strings.Contains(got, "created 0, updated 0, locked 0, unlocked 0") {
		t.Fatalf("a sync with nothing changed: %q", got)
	}

	// Real failed binds lock bob for the policy's five minutes; an administrator freezes carol.
	before := time.Now()
	srv.MustFailBinds(t, bobDN, 3)
	srv.MustFreeze(t, carolDN)
	if got := e.mustSync(); !strings.HasPrefix(got, "incremental sync: ") || !strings.Contains(got, "created 0, updated 2, locked 2, unlocked 0") {
		t.Fatalf("the sync after the locks: %q", got)
	}
	bob := e.showJSON("bob")
	until, err := time.Parse(time.RFC3339, stringOf(bob["locked_until"]))
	if bob["state"] != "locked_temporarily" || err != nil || until.Before(before.Add(4*time.Minute)) || until.After(time.Now().Add(6*time.Minute)) {
		t.Fatalf("bob after three failed binds: %v", bob)
	}
	// The lock began when slapd locked him: five minutes before it ends.
	if since, err := time.Parse(time.RFC3339, stringOf(bob["locked_since"])); err != nil || !since.Add(5*time.Minute).Equal(until) {
		t.Fatalf("bob's lock began %v, ends %v: %v", bob["locked_since"], until, err)
	}
	if carol := e.showJSON("carol"); carol["state"] != "frozen" || carol["locked_until"] != nil || carol["reason"] == "" {
		t.Fatalf("carol under an administrator's lock: %v", carol)
	}

	// The directory lifts bob's lock: the next sync shows him active.
	d, err := directory.New(directory.Config{URL: srv.URL, BindDN: slapdtest.ServiceDN,
		BindPassword: slapdtest.ServicePassword, BaseDN: slapdtest.PeopleDN})
	if err != nil {
		t.Fatal(err)
	}
	if lifted, err := d.Unlock(context.Background(), bobDN, directory.KeepFreeze); err != nil || !lifted {
		t.Fatalf("unlock bob in the directory: %v, %v", lifted, err)
	}
	if got := e.mustSync(); !strings.Contains(got, "created 0, updated 1, locked 0, unlocked 1") {
		t.Fatalf("the sync after the unlock: %q", got)
	}
	if bob := e.showJSON("bob"); bob["state"] != "active" || bob["locked_until"] != nil || bob["reason"] != "" {
		t.Fatalf("bob after the directory's unlock: %v", bob)
	}
	if got := e.mustSync(); !strings.Contains(got, "created 0, updated 0, locked 0, unlocked 0") {
		t.Fatalf("a sync with nothing changed: %q", got)
	}
	// A full sync reads everyone again, and finds nothing to change.
	if code, out, stderr := e.run("", "directory", "sync", "--full"); code != 0 ||
		strings.TrimSpace(out) != "full sync: read 4, created 0, updated 0, locked 0, unlocked 0, skipped 1" {
		t.Fatalf("a full sync: exit %d, %q, %q", code, out, stderr)
	}
	if code, out, stderr := e.run("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify after the syncs: %s %s", out, stderr)
	}
}

func TestDirectorySyncWithoutADirectory(t *testing.T) {
	e := newCLIEnv(t)
	code, _, stderr := e.run("", "directory", "sync")
	if code != 1 || !strings.Contains(stderr, "UNLOCKD_DIRECTORY_URL") {
		t.Fatalf("sync without a directory: exit %d, %q", code, stderr)
	}
	if code, _, _ := e.run("", "directory"); code != 2 {
		t.Fatalf("directory without an action: exit %d, want 2", code)
	}
}

func TestDirectorySyncUnreachableWritesNothing(t *testing.T) {
	// A port nobody listens on any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	e := newCLIEnv(t)
	e.useDirectory("ldap://" + addr)
	code, out, stderr := e.run("", "directory", "sync")
	if code != 1 || out != "" || !strings.Contains(stderr, "directory unreachable") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Fatalf("an unreachable directory: exit %d, out %q, err %q", code, out, stderr)
	}
	code, out, _ = e.run("", "user", "list", "--json")
	var accounts []any
	if code != 0 || json.Unmarshal([]byte(out), &accounts) != nil || len(accounts) != 0 {
		t.Fatalf("accounts after a failed sync: %s", out)
	}
	code, out, _ = e.run("", "audit", "export")
	if code != 0 || strings.Contains(out, "directory.synced") {
		t.Fatalf("audit after a failed sync: %s", out)
	}
}

func stringOf(v any) string { s, _ := v.(string); return s }

// outage forwards connections to a directory, or, while down, closes them at once: the directory
// is unreachable as if its host refused or dropped connections.
type outage struct {
	ln     net.Listener
	target string
	down   atomic.Bool
}

func newOutage(t *testing.T, target string) *outage {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &outage{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if o.down.Load() {
				c.Close()
				continue
			}
			go o.forward(c)
		}
	}()
	return o
}

func (o *outage) forward(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", o.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (o *outage) URL() string { return "ldap://" + o.ln.Addr().String() }

// serve syncs every interval, survives an outage of the directory (logging it), and stops with the
// server.
func TestServeSyncsTheDirectoryEveryIntervalThroughOutages(t *testing.T) {
	srv := slapdtest.New(t, slapdtest.DefaultPolicy())
	srv.MustAddPerson(t, slapdtest.Person{UID: "alice", Password: "alice's password", Mail: "alice@example.org"})
	link := newOutage(t, strings.TrimPrefix(srv.URL, "ldap://"))
	link.down.Store(true)
	e := newCLIEnv(t)
	e.useDirectory(link.URL())
	e.env["UNLOCKD_DIRECTORY_SYNC_INTERVAL"] = "1s"
	e.env["UNLOCKD_LISTEN"] = "127.0.0.1:0"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs servetest.SyncBuffer
	a, err := open(ctx, func(k string) string { return e.env[k] }, nil, IO{Err: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- a.serve(ctx, ln, nil) }()

	waitFor := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !done(); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited in vain for %s; log:\n%s", what, logs.String())
			}
		}
	}
	waitFor("the outage to be logged", func() bool { return strings.Contains(logs.String(), "directory unreachable") })
	link.down.Store(false)
	waitFor("alice to be read once the directory is back", func() bool {
		acc, err := a.accounts.Accounts.AccountByLogin(ctx, "alice")
		return err == nil && acc.Source == account.SourceDirectory
	})

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop with its context")
	}
}

// BenchmarkDirectorySyncIntoPostgres measures the first (full) sync of a directory of
// benchDirectoryPeople people into an empty database, then an incremental one with nothing
// changed: go test -run '^$' -bench DirectorySyncIntoPostgres -benchtime 1x ./internal/cli/
func BenchmarkDirectorySyncIntoPostgres(b *testing.B) {
	const benchDirectoryPeople = 5000
	policy := slapdtest.DefaultPolicy()
	policy.LockoutDuration = 0 // the preloaded locks (every 50th person) last until lifted
	srv := slapdtest.NewPreloaded(b, policy, benchDirectoryPeople)
	for b.Loop() {
		b.StopTimer()
		e := newCLIEnv(b)
		e.useDirectory(srv.URL)
		b.StartTimer()
		start := time.Now()
		code, full, stderr := e.run("", "directory", "sync")
		fullTook := time.Since(start)
		start = time.Now()
		code2, incremental, stderr2 := e.run("", "directory", "sync")
		incrementalTook := time.Since(start)
		if code != 0 || code2 != 0 || !strings.Contains(full, fmt.Sprintf("created %d", benchDirectoryPeople)) {
			b.Fatalf("sync: %s %s %s %s", full, stderr, incremental, stderr2)
		}
		b.Logf("%s in %v (%.0f people/s); %s in %v", strings.TrimSpace(full), fullTook.Round(time.Millisecond),
			benchDirectoryPeople/fullTook.Seconds(), strings.TrimSpace(incremental), incrementalTook.Round(time.Millisecond))
	}
}
