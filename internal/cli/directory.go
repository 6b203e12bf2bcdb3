package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/directory"
)

// errNoDirectory: the command needs a directory and none is configured.
var errNoDirectory = errors.New("no directory is configured: set UNLOCKD_DIRECTORY_URL and the other UNLOCKD_DIRECTORY_* variables (see the README)")

func cmdDirectory(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	if len(args) == 0 {
		return usagef("directory needs an action: sync")
	}
	switch args[0] {
	case "sync":
		fs := newFlagSet("directory sync", stdio)
		full := fs.Bool("full", false, "read everyone, not only the people changed since the last sync")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usagef("directory sync takes no arguments")
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		sync, err := a.directorySync()
		if err != nil {
			return err
		}
		run := sync.Run
		if *full {
			run = sync.RunFull
		}
		counts, err := run(ctx)
		for _, p := range counts.Problems {
			fmt.Fprintln(stdio.Err, "skipped", p)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdio.Out, syncSummary(counts))
		return nil
	}
	return usagef("directory: unknown action %q", args[0])
}

// syncSummary is one line of counts.
func syncSummary(c account.DirectorySyncCounts) string {
	kind := "incremental"
	if c.Full {
		kind = "full"
	}
	line := fmt.Sprintf("%s sync: read %d, created %d, updated %d, locked %d, unlocked %d, skipped %d",
		kind, c.Read, c.Created, c.Updated, c.Locked, c.Unlocked, c.Skipped)
	if c.LockNotices+c.ExpiryWarnings > 0 {
		line += fmt.Sprintf("; told of a lock %d, warned of an expiring password %d", c.LockNotices, c.ExpiryWarnings)
	}
	return line
}

// directorySync wires the sync of the configured directory; errNoDirectory when there is none.
func (a *app) directorySync() (*account.DirectorySync, error) {
	if a.directory == nil {
		return nil, errNoDirectory
	}
	sync := account.NewDirectorySync(a.directory, a.stores.Directory, a.stores.UnitOfWork, a.accounts.Now)
	return sync.WithCare(a.stores.Directory, ServiceOptions(a.cfg)), nil
}

func directoryConfig(c *config.Directory) directory.Config {
	return directory.Config{URL: c.URL, Kind: directory.Kind(c.Kind), BindDN: c.BindDN, BindPassword: c.BindPassword,
		BaseDN: c.BaseDN, UserFilter: c.UserFilter, StartTLS: c.StartTLS, CAFile: c.CAFile, SyncInterval: c.SyncInterval}
}

// directorySource is the connector as the domain sees it: account.DirectoryReader for the sync,
// and account.Directory for the flows, which read and write a person at request time.
type directorySource struct {
	dir      *directory.Directory
	name     string
	now      account.Clock
	policies policies
	metrics  directoryMetrics // nil: counts nothing
}

func (s *directorySource) Name() string { return s.name }

func (s *directorySource) People(ctx context.Context, since string, each func(account.DirectoryPerson) error) (string, error) {
	policies := map[string]directory.Policy{} // by policy DN, read once a sync
	mark, err := s.dir.People(ctx, directory.SyncMark(since), func(p directory.Person) error {
		policy, ok := policies[p.PolicyDN]
		if !ok {
			var err error
			if policy, err = s.dir.Policy(ctx, p.PolicyDN); err != nil {
				return err
			}
			policies[p.PolicyDN] = policy
		}
		return each(s.personOf(p, policy))
	})
	return string(mark), err
}

// personOf is the person as the domain sees them, in the state their attributes and policy give now.
func (s *directorySource) personOf(p directory.Person, policy directory.Policy) account.DirectoryPerson {
	status := directory.Derive(s.dir.Kind(), p.Lock, policy, s.now())
	person := account.DirectoryPerson{DN: p.DN, ID: p.ID, Username: p.Username, Email: p.Email, Phone: p.Phone,
		DisplayName: p.DisplayName, State: account.State(status.State)}
	if !status.LockedAt.IsZero() {
		at := status.LockedAt
		person.LockedAt = &at
	}
	if !status.LockedUntil.IsZero() {
		until := status.LockedUntil
		person.LockedUntil = &until
	}
	if !status.PasswordExpiresAt.IsZero() {
		expires := status.PasswordExpiresAt
		person.PasswordExpiresAt = &expires
	}
	return person
}

// fullSyncEvery is how often serve reads everyone rather than only what changed: an incremental
// sync does not see what changes no entry (a change made to a directory account in unlockd itself).
const fullSyncEvery = time.Hour

// runDirectorySync syncs the directory now and then every interval until ctx ends: everyone at
// start and every fullSyncEvery, the people changed since the last sync otherwise. An error is
// logged and the next round tries again; a round another process is running is left to it.
func (a *app) runDirectorySync(ctx context.Context, sync *account.DirectorySync, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastFull time.Time
	for {
		run := sync.Run
		if time.Since(lastFull) >= fullSyncEvery {
			run = sync.RunFull
		}
		counts, err := run(ctx)
		if err == nil && counts.Full {
			lastFull = time.Now()
		}
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, account.ErrDirectorySyncBusy):
			a.log.Debug("directory sync: another process is syncing")
		case err != nil:
			a.log.Error("directory sync", "err", err, "read", counts.Read)
		case counts.Created+counts.Updated+counts.Skipped+counts.ExpiryWarnings > 0:
			a.log.Info("directory sync", "full", counts.Full, "read", counts.Read, "created", counts.Created,
				"updated", counts.Updated, "locked", counts.Locked, "unlocked", counts.Unlocked, "skipped", counts.Skipped,
				"lock_notices", counts.LockNotices, "expiry_warnings", counts.ExpiryWarnings)
		default:
			a.log.Debug("directory sync", "read", counts.Read)
		}
		for _, p := range counts.Problems {
			a.log.Warn("directory sync skipped a person", "why", p)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
