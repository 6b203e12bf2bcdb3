package cli

import (
	"context"
	"io"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/directory"
	"github.com/unlockd/unlockd/internal/directory/slapdtest"
)

// queued is one message in the outbox, as a test reads it.
type queued struct {
	Channel, To, Lang string
	Data              map[string]string
}

// outbox lists the queued messages of one template, oldest first.
func (e *cliEnv) outbox(template string) []queued {
	e.t.Helper()
	ctx := context.Background()
	a, err := open(ctx, func(k string) string { return e.env[k] }, nil, IO{Err: io.Discard})
	if err != nil {
		e.t.Fatal(err)
	}
	defer a.Close()
	rows, err := a.db.Pool.Query(ctx, `SELECT channel, recipient, lang, data FROM outbox WHERE template = $1 ORDER BY id`, template)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	var out []queued
	for rows.Next() {
		var q queued
		if err := rows.Scan(&q.Channel, &q.To, &q.Lang, &q.Data); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// Against a real slapd: a person the directory locks after real failed binds is told after the
// next sync, with the unlock link, once; a person whose password (ppolicy pwdChangedTime and
// pwdMaxAge) expires within directory.expiry_warning is warned by email and SMS, once, and not
// again once the password is changed.
func TestDirectorySyncTellsOfRealLocksAndExpiringPasswords(t *testing.T) {
	srv := slapdtest.New(t, slapdtest.DefaultPolicy()) // passwords live 90 days
	aliceDN := srv.MustAddPerson(t, slapdtest.Person{UID: "alice", Password: "alice's password", Mail: "alice@example.org",
		Mobile: "+86 138 0000 0001", DisplayName: "Alice Liddell"})
	bobDN := srv.MustAddPerson(t, slapdtest.Person{UID: "bob", Password: "bob's password", Mail: "bob@example.org"})
	// alice set her password 80 days ago: it expires in 10 days, within the default 14.
	changed := time.Now().Add(-80 * 24 * time.Hour).Truncate(time.Second)
	srv.MustSetPasswordChanged(t, aliceDN, changed)
	e := newCLIEnv(t)
	e.useDirectory(srv.URL)
	e.env["UNLOCKD_BASE_URL"] = "https://unlock.example.com"
	e.env["UNLOCKD_SMS_WEBHOOK_URL"] = "https://sms.example.com/send"

	if got := e.mustSync(); got != "full sync: read 2, created 2, updated 0, locked 0, unlocked 0, skipped 0; told of a lock 0, warned of an expiring password 1" {
		t.Fatalf("first sync: %q", got)
	}
	expires := changed.Add(90 * 24 * time.Hour)
	if got := stringOf(e.showJSON("alice")["password_expires_at"]); got != expires.UTC().Format(time.RFC3339) {
		t.Fatalf("alice's password expires at %q, want %s", got, expires.UTC().Format(time.RFC3339))
	}
	warnings := e.outbox("password_expiry")
	if len(warnings) != 2 || warnings[0].Channel != "email" || warnings[0].To != "alice@example.org" ||
		warnings[1].Channel != "sms" || warnings[1].To != "+8613800000001" {
		t.Fatalf("the warnings queued: %+v", warnings)
	}
	if w := warnings[0].Data; w["Link"] != "https://unlock.example.com/reset" || w["Until"] != expires.UTC().Format(time.RFC1123) || w["Name"] != "Alice Liddell" {
		t.Fatalf("the warning says %v", w)
	}

	// Real failed binds lock bob; the next sync tells him, once.
	srv.MustFailBinds(t, bobDN, 3)
	if got := e.mustSync(); !strings.HasPrefix(got, "incremental sync: ") || !strings.Contains(got, "updated 1, locked 1") ||
		!strings.HasSuffix(got, "; told of a lock 1, warned of an expiring password 0") {
		t.Fatalf("the sync after bob's lock: %q", got)
	}
	notices := e.outbox("locked")
	if len(notices) != 1 || notices[0].Channel != "email" || notices[0].To != "bob@example.org" ||
		notices[0].Data["UnlockLink"] != "https://unlock.example.com/unlock" || notices[0].Data["Until"] == "" {
		t.Fatalf("the lock notices queued: %+v", notices)
	}
	for _, args := range [][]string{{"directory", "sync"}, {"directory", "sync", "--full"}} {
		code, out, stderr := e.run("", args...)
		if code != 0 || strings.Contains(out, "told of") {
			t.Fatalf("%v after the notices: exit %d, %q, %q", args, code, out, stderr)
		}
	}
	if n, m := len(e.outbox("locked")), len(e.outbox("password_expiry")); n != 1 || m != 2 {
		t.Fatalf("after more syncs: %d lock notices, %d warnings; want no more", n, m)
	}

	// alice chooses a new password: it lasts 90 days again, and nobody is warned.
	d, err := directory.New(directory.Config{URL: srv.URL, BindDN: slapdtest.ServiceDN,
		BindPassword: slapdtest.ServicePassword, BaseDN: slapdtest.PeopleDN})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetPassword(context.Background(), aliceDN, "alice's brand new password"); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := e.run("", "directory", "sync", "--full")
	if code != 0 || !strings.Contains(out, "updated 1") || strings.Contains(out, "warned") {
		t.Fatalf("the sync after alice's new password: exit %d, %q, %q", code, out, stderr)
	}
	renewed, err := time.Parse(time.RFC3339, stringOf(e.showJSON("alice")["password_expires_at"]))
	if err != nil || renewed.Before(time.Now().Add(89*24*time.Hour)) {
		t.Fatalf("alice's new password expires at %v (%v), want in 90 days", renewed, err)
	}
	if code, out, stderr := e.run("", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify after the syncs: %s %s", out, stderr)
	}
	code, out, _ = e.run("", "audit", "export")
	if code != 0 || strings.Count(out, "password.expiry_warned") != 1 {
		t.Fatalf("the audit log has %d expiry warnings, want 1", strings.Count(out, "password.expiry_warned"))
	}
}

// The directory of `make run LDAP=1`: its people are read, mei.lin is locked by real failed binds
// after that and told (in Chinese) by the sync serve runs at start, oscar is warned of his
// password's expiry, and pat stays frozen.
func TestDemoDirectoryShowsALockAndAnExpiryWarning(t *testing.T) {
	if _, _, err := slapdtest.Find(); err != nil {
		if slapdtest.InCI() {
			t.Fatalf("prerequisite missing (CI=true, so this fails instead of skipping): %v", err)
		}
		t.Skipf("prerequisite missing: %v", err)
	}
	ctx := context.Background()
	srv, err := startDemoDirectory(ctx, filepath.Join(t.TempDir(), "ldap"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	e := newCLIEnv(t)
	maps.Copy(e.env, demoDirectoryEnv(srv))
	a, err := open(ctx, func(k string) string { return e.env[k] }, nil, IO{Err: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := playDemoDirectory(ctx, a, srv); err != nil {
		t.Fatal(err)
	}
	if notices := e.outbox("locked"); len(notices) != 0 {
		t.Fatalf("told of a lock before the sync saw it: %+v", notices)
	}
	// What serve's first round does.
	sync, err := a.directorySync()
	if err != nil {
		t.Fatal(err)
	}
	counts, err := sync.RunFull(ctx)
	if err != nil || counts.LockNotices != 1 || counts.Locked != 1 {
		t.Fatalf("the sync at start: %+v, %v", counts, err)
	}
	if mei := e.showJSON(demoLockedPerson); mei["state"] != "locked_temporarily" || mei["source"] != "directory" {
		t.Fatalf("mei.lin after failed binds: %v", mei)
	}
	if pat := e.showJSON("pat"); pat["state"] != "frozen" {
		t.Fatalf("pat: %v", pat)
	}
	notices := e.outbox("locked")
	if len(notices) != 1 || notices[0].To != "mei.lin@example.cn" || notices[0].Lang != "zh-CN" ||
		notices[0].Data["UnlockLink"] != "http://127.0.0.1:8080/unlock" {
		t.Fatalf("the lock notice: %+v", notices)
	}
	warnings := e.outbox("password_expiry")
	if len(warnings) != 1 || warnings[0].To != "oscar@example.org" {
		t.Fatalf("the expiry warnings: %+v", warnings)
	}
	banner := demoDirectoryBanner(srv, a.cfg.Directory.SyncInterval)
	for _, want := range []string{srv.URL, demoDirectoryPassword, "mei.lin", "oscar", "ldapwhoami", "every 10s"} {
		if !strings.Contains(banner, want) {
			t.Errorf("the banner lacks %q:\n%s", want, banner)
		}
	}
}
