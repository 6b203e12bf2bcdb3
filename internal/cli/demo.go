package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// demoAccount is one account of the demo seed.
type demoAccount struct {
	username, email, phone, name string
	role                         account.Role
	state                        account.State
	reason                       string
}

// demoPassword is every demo account's password: long enough for the policy, easy to type.
const demoPassword = "unlockd-demo-password"

var demoAccounts = []demoAccount{
	{"admin", "admin@example.com", "", "Ada Admin", account.RoleAdmin, account.StateActive, ""},
	{"helpdesk", "helpdesk@example.com", "", "Hui Helpdesk", account.RoleHelpdesk, account.StateActive, ""},
	{"alice", "alice@example.com", "+14155550100", "Alice Adams", account.RoleUser, account.StateActive, ""},
	{"li.wei", "li.wei@example.cn", "+8613800000000", "李伟", account.RoleUser, account.StateActive, ""},
	{"bob", "bob@example.com", "", "Bob Brown", account.RoleUser, account.StateLockedTemporarily, "too many failed sign-ins"},
	{"carol", "carol@example.com", "", "Carol Chen", account.RoleUser, account.StateLocked, "repeated lockouts"},
	{"dave", "dave@example.com", "", "Dave Davis", account.RoleUser, account.StateFrozen, "compliance review"},
	{"erin", "erin@example.com", "", "Erin Evans", account.RoleUser, account.StateExpired, ""},
	{"frank", "frank@example.com", "", "Frank Fu", account.RoleUser, account.StatePendingVerification, ""},
}

// seedDemo creates the demo accounts once; a second run leaves them as they are.
func seedDemo(ctx context.Context, a *app, stdio IO) error {
	for _, d := range demoAccounts {
		if _, err := a.accounts.Accounts.AccountByLogin(ctx, d.username); err == nil {
			continue
		} else if account.ErrorCode(err) != account.ENOTFOUND {
			return err
		}
		acc, err := a.accounts.Accounts.AddAccount(ctx, account.NewAccount{Username: d.username, Email: d.email,
			Phone: d.phone, DisplayName: d.name, Role: d.role, Password: demoPassword}, account.Actor{Name: "dev-seed"})
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

// demoBanner is what `unlockd dev` prints once the server listens: where, the demo accounts as they
// stand now, and where mail arrives.
func demoBanner(ctx context.Context, a *app, inbox string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  unlockd is running at %s\n\n", a.cfg.BaseURL)
	fmt.Fprintf(&b, "  Demo accounts (password for all: %s):\n", demoPassword)
	now := a.accounts.Now()
	for _, d := range demoAccounts {
		acc, err := a.accounts.Accounts.AccountByLogin(ctx, d.username)
		if account.ErrorCode(err) == account.ENOTFOUND {
			continue
		} else if err != nil {
			return "", err
		}
		state := acc.EffectiveState(now)
		line := fmt.Sprintf("    %-10s %-9s %s", d.username, acc.Role, state)
		if state == account.StateLockedTemporarily && acc.LockedUntil != nil {
			line += " until " + acc.LockedUntil.In(a.cfg.Timezone).Format("15:04 MST")
		}
		if acc.Reason != "" && (state == account.StateLocked || state == account.StateFrozen) {
			line += ": " + acc.Reason
		}
		b.WriteString(line + "\n")
	}
	if inbox != "" {
		fmt.Fprintf(&b, "\n  Mail (and SMS, once configured) arrives in the inbox at %s\n", inbox)
	}
	fmt.Fprintf(&b, "  A fresh demo: make run RESET=1 (unlockd dev --reset).\n")
	fmt.Fprintf(&b, "  Press Ctrl-C to stop everything.\n\n")
	return b.String(), nil
}
