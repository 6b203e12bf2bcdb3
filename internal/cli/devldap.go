package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/directory/slapd"
)

// The directory of `unlockd dev --ldap` (make run LDAP=1): a throwaway OpenLDAP with the ppolicy
// overlay and a few people, made afresh at every run, that unlockd fronts as it would a company's.
// The demo shows the two things the sync does of its own accord: mei.lin is locked by real failed
// binds after unlockd first read her, so the sync at start tells her (in Chinese, her language);
// oscar set his password 80 days ago and it expires in 10, so he is warned.

// demoDirectoryPassword is the directory password of every demo person.
const demoDirectoryPassword = "directory-demo-password"

// demoDirectorySyncInterval is how often the demo reads its directory: often, so that a lock made
// with ldapwhoami shows within seconds. UNLOCKD_DIRECTORY_SYNC_INTERVAL overrides it.
const demoDirectorySyncInterval = 10 * time.Second

// demoDirectoryPolicy locks after 3 failed binds for 15 minutes; passwords live 90 days.
func demoDirectoryPolicy() slapd.Policy {
	p := slapd.DefaultPolicy()
	p.LockoutDuration = 15 * time.Minute
	return p
}

// demoPerson is one person of the demo directory.
type demoPerson struct {
	uid, mail, mobile, name string
	// language and zone unlockd knows them by, as if they had signed in before: the directory
	// does not say.
	language, zone string
	passwordAge    time.Duration // how long ago the password was set; 0: now
	frozen         bool          // a directory administrator's lock
}

// The usernames are not the local demo accounts': a directory person never takes a local account.
var demoPeople = []demoPerson{
	{uid: "grace", mail: "grace@example.org", name: "Grace Hopper"},
	{uid: "mei.lin", mail: "mei.lin@example.cn", mobile: "+8613900000001", name: "林梅", language: "zh-CN", zone: "Asia/Shanghai"},
	{uid: "oscar", mail: "oscar@example.org", mobile: "+14155550199", name: "Oscar Ortiz", passwordAge: 80 * 24 * time.Hour},
	{uid: "pat", mail: "pat@example.org", name: "Pat Park", frozen: true},
}

// demoLockedPerson is the person the demo locks through failed binds.
const demoLockedPerson = "mei.lin"

// startDemoDirectory builds the demo directory in dir (deleting what an earlier run left) and
// starts it. Stop ends it; it also ends with this process.
func startDemoDirectory(ctx context.Context, dir string) (*slapd.Server, error) {
	if _, _, err := slapd.Find(); err != nil {
		return nil, fmt.Errorf("%w (make run LDAP=1 installs it when run as root)", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	srv, err := slapd.Start(ctx, dir, demoDirectoryPolicy(), 0)
	if err != nil {
		return nil, fmt.Errorf("demo directory: %w", err)
	}
	for _, p := range demoPeople {
		dn, err := srv.AddPerson(slapd.Person{UID: p.uid, Password: demoDirectoryPassword, Mail: p.mail, Mobile: p.mobile, DisplayName: p.name})
		if err == nil && p.passwordAge > 0 {
			err = srv.SetPasswordChanged(dn, time.Now().Add(-p.passwordAge))
		}
		if err == nil && p.frozen {
			err = srv.Freeze(dn)
		}
		if err != nil {
			srv.Stop()
			return nil, fmt.Errorf("demo directory: %w", err)
		}
	}
	return srv, nil
}

// demoDirectoryEnv is the configuration that points unlockd at the demo directory.
func demoDirectoryEnv(srv *slapd.Server) map[string]string {
	return map[string]string{
		"UNLOCKD_DIRECTORY_URL":           srv.URL,
		"UNLOCKD_DIRECTORY_KIND":          "openldap",
		"UNLOCKD_DIRECTORY_BIND_DN":       slapd.ServiceDN,
		"UNLOCKD_DIRECTORY_BIND_PASSWORD": slapd.ServicePassword,
		"UNLOCKD_DIRECTORY_BASE_DN":       slapd.PeopleDN,
		"UNLOCKD_DIRECTORY_SYNC_INTERVAL": demoDirectorySyncInterval.String(),
	}
}

// playDemoDirectory reads the demo directory into unlockd once, gives its people the language and
// zone they read in, and then locks mei.lin with real failed binds, after that read: the sync that
// serve runs at start sees the lock happen and tells her.
func playDemoDirectory(ctx context.Context, a *app, srv *slapd.Server) error {
	sync, err := a.directorySync()
	if err != nil {
		return err
	}
	if _, err := sync.RunFull(ctx); err != nil {
		return fmt.Errorf("demo directory: first sync: %w", err)
	}
	for _, p := range demoPeople {
		acc, err := a.accounts.Accounts.AccountByLogin(ctx, p.uid)
		if err != nil {
			return fmt.Errorf("demo directory: %s: %w", p.uid, err)
		}
		if acc.Source != account.SourceDirectory {
			return fmt.Errorf("demo directory: %s is a local account here, not the directory's: make run RESET=1 for a fresh demo", p.uid)
		}
		if p.language != "" && acc.Language != p.language {
			if err := a.stores.Accounts.SetLanguage(ctx, acc.ID, p.language); err != nil {
				return err
			}
		}
		if p.zone != "" && acc.TimeZone != p.zone {
			if err := a.stores.Accounts.SetTimeZone(ctx, acc.ID, p.zone); err != nil {
				return err
			}
		}
	}
	return srv.FailBinds(slapd.PersonDN(demoLockedPerson), demoDirectoryPolicy().MaxFailures)
}

// demoDirectoryBanner is the banner's part about the directory, which unlockd syncs every interval.
func demoDirectoryBanner(srv *slapd.Server, interval time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  Directory accounts, in a throwaway OpenLDAP at %s (password for all: %s):\n", srv.URL, demoDirectoryPassword)
	for _, p := range demoPeople {
		what := "active"
		switch {
		case p.uid == demoLockedPerson:
			what = fmt.Sprintf("locked by %d failed binds; the lock notice is in the inbox, in Chinese", demoDirectoryPolicy().MaxFailures)
		case p.passwordAge > 0:
			what = "password expires in 10 days; the warning is in the inbox"
		case p.frozen:
			what = "frozen by a directory administrator"
		}
		fmt.Fprintf(&b, "    %-10s %s\n", p.uid, what)
	}
	fmt.Fprintf(&b, "  Lock someone yourself: three wrong passwords with\n")
	fmt.Fprintf(&b, "    ldapwhoami -x -H %s -D %s -w wrong\n", srv.URL, slapd.PersonDN("grace"))
	fmt.Fprintf(&b, "  and the next sync (every %s) tells them.\n", interval)
	return b.String()
}

// errDirectoryTwice: --ldap would replace a directory the environment names.
var errDirectoryTwice = errors.New("dev --ldap runs its own directory, but UNLOCKD_DIRECTORY_URL names one: unset it, or run without --ldap (LDAP=1)")

// demoDirectoryDir is where the demo directory lives under the data directory.
func demoDirectoryDir(dataDir string) string { return filepath.Join(dataDir, "ldap") }
