package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/mailcatcher"
	"github.com/unlockd/unlockd/internal/pgcluster"
)

// Development stack addresses.
const (
	devMailSMTP = "127.0.0.1:1025"
	devMailWeb  = "127.0.0.1:8025"
	devDataDir  = ".data"
)

// cmdDev runs what `make run` promises: a PostgreSQL cluster under .data/ (unless
// UNLOCKD_DATABASE_URL is set), mailpit, migrations, the demo seed and the server. Ctrl-C stops all
// of it; the data stays for the next run.
func cmdDev(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	if len(args) > 0 {
		return usagef("dev takes no arguments")
	}
	env := map[string]string{"UNLOCKD_DEV": "1"}
	if getenv("UNLOCKD_DATABASE_URL") == "" && getenv("DATABASE_URL") == "" {
		cluster, err := pgcluster.New(filepath.Join(devDataDir, "pg"), 0)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdio.Err, "unlockd dev: starting PostgreSQL in", cluster.Dir)
		if err := cluster.Start(ctx); err != nil {
			return err
		}
		defer func() {
			fmt.Fprintln(stdio.Err, "unlockd dev: stopping PostgreSQL")
			if err := cluster.Stop(); err != nil {
				fmt.Fprintln(stdio.Err, "unlockd dev:", err)
			}
		}()
		if err := cluster.EnsureDatabase(ctx, "unlockd"); err != nil {
			return err
		}
		env["UNLOCKD_DATABASE_URL"] = cluster.URL("unlockd")
	}
	mailWeb := ""
	if getenv("UNLOCKD_SMTP_URL") == "" {
		stop, err := startMailpit(stdio)
		if err != nil {
			return err
		}
		defer stop()
		env["UNLOCKD_SMTP_URL"] = "smtp://" + devMailSMTP + "?tls=none"
		mailWeb = "http://" + devMailWeb
	}
	merged := func(k string) string {
		if v, ok := env[k]; ok && getenv(k) == "" {
			return v
		}
		return getenv(k)
	}
	a, err := open(ctx, merged, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.migrateUp(ctx); err != nil {
		return err
	}
	if err := seedDemo(ctx, a); err != nil {
		return fmt.Errorf("demo seed: %w", err)
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return &config.Error{Var: "UNLOCKD_LISTEN", Msg: err.Error()}
	}
	return a.serve(ctx, ln, func(addr string) {
		printDemo(stdio, a.cfg.BaseURL.String(), mailWeb)
	})
}

// startMailpit runs mailpit as the development mail catcher, storing mail under .data/. A mail
// catcher already listening there (another `unlockd dev`) is used as it is.
func startMailpit(stdio IO) (stop func(), err error) {
	bin, err := mailcatcher.Find() // make run installs it
	if err != nil {
		return nil, err
	}
	if conn, err := net.DialTimeout("tcp", devMailSMTP, 200*time.Millisecond); err == nil {
		conn.Close()
		fmt.Fprintln(stdio.Err, "unlockd dev: a mail catcher already listens on", devMailSMTP)
		return func() {}, nil
	}
	if err := os.MkdirAll(devDataDir, 0o755); err != nil {
		return nil, err
	}
	p, err := mailcatcher.Start(bin, mailcatcher.Options{SMTPAddr: devMailSMTP, WebAddr: devMailWeb,
		Database: filepath.Join(devDataDir, "mailpit.db"), Args: []string{"--quiet"}, Output: stdio.Err})
	if err != nil {
		return nil, err
	}
	return p.Stop, nil
}

// demoAccount is one account of the demo seed.
type demoAccount struct {
	username, email, phone, name, password string
	role                                   account.Role
	state                                  account.State
	reason                                 string
}

// demoPassword is every demo account's password: long enough for the policy, easy to type.
const demoPassword = "unlockd-demo-password"

var demoAccounts = []demoAccount{
	{"admin", "admin@example.com", "", "Ada Admin", demoPassword, account.RoleAdmin, account.StateActive, ""},
	{"helpdesk", "helpdesk@example.com", "", "Hui Helpdesk", demoPassword, account.RoleHelpdesk, account.StateActive, ""},
	{"alice", "alice@example.com", "+14155550100", "Alice Adams", demoPassword, account.RoleUser, account.StateActive, ""},
	{"li.wei", "li.wei@example.cn", "+8613800000000", "李伟", demoPassword, account.RoleUser, account.StateActive, ""},
	{"bob", "bob@example.com", "", "Bob Brown", demoPassword, account.RoleUser, account.StateLockedTemporarily, "too many failed sign-ins"},
	{"carol", "carol@example.com", "", "Carol Chen", demoPassword, account.RoleUser, account.StateLocked, "repeated lockouts"},
	{"dave", "dave@example.com", "", "Dave Davis", demoPassword, account.RoleUser, account.StateFrozen, "compliance review"},
	{"erin", "erin@example.com", "", "Erin Evans", demoPassword, account.RoleUser, account.StateExpired, ""},
	{"frank", "frank@example.com", "", "Frank Fu", demoPassword, account.RoleUser, account.StatePendingVerification, ""},
}

// seedDemo creates the demo accounts once; a second run leaves them as they are.
func seedDemo(ctx context.Context, a *app) error {
	for _, d := range demoAccounts {
		if _, err := a.accounts.Accounts.AccountByLogin(ctx, d.username); err == nil {
			continue
		} else if account.ErrorCode(err) != account.ENOTFOUND {
			return err
		}
		acc, err := a.accounts.Accounts.AddAccount(ctx, account.NewAccount{Username: d.username, Email: d.email,
			Phone: d.phone, DisplayName: d.name, Role: d.role, Password: d.password}, account.Actor{Name: "dev-seed"})
		if err != nil {
			return err
		}
		if d.state == account.StateActive {
			continue
		}
		now := a.accounts.Now()
		var until, expires *time.Time
		switch d.state {
		case account.StateLockedTemporarily:
			t := now.Add(15 * time.Minute)
			until = &t
		case account.StateExpired:
			t := now.Add(-24 * time.Hour)
			expires = &t
		}
		if err := a.stores.Accounts.SetState(ctx, acc.ID, d.state, d.reason, until, expires); err != nil {
			return err
		}
	}
	return nil
}

func printDemo(stdio IO, baseURL, mailWeb string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  unlockd is running at %s\n\n", baseURL)
	fmt.Fprintf(&b, "  Demo accounts (password for all: %s):\n", demoPassword)
	for _, d := range demoAccounts {
		fmt.Fprintf(&b, "    %-10s %-9s %s\n", d.username, d.role, d.state)
	}
	if mailWeb != "" {
		fmt.Fprintf(&b, "\n  Mail (and SMS, once configured) arrives in the inbox at %s\n", mailWeb)
	}
	fmt.Fprintf(&b, "  Press Ctrl-C to stop everything.\n\n")
	fmt.Fprint(stdio.Out, b.String())
}
