package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
)

// cliActor is how the audit log names an operator at the command line.
var cliActor = account.Actor{Name: "cli"}

// cmdUserState runs unlock, lock, disable and enable: one account, a required reason.
func cmdUserState(ctx context.Context, action string, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("user "+action, stdio)
	reason := fs.String("reason", "", "why (required; recorded in the audit log)")
	until := fs.String("until", "", "with lock: when the freeze ends by itself (RFC 3339)")
	message := fs.String("message", "", "with lock: what the owner is told, when it differs from the reason")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("user %s needs one username", action)
	}
	if *reason == "" {
		return usagef("user %s needs --reason", action)
	}
	var untilTime *time.Time
	if *until != "" {
		if action != "lock" {
			return usagef("--until applies only to user lock")
		}
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil {
			return usagef("--until %q is not an RFC 3339 time such as 2026-12-01T09:00:00Z", *until)
		}
		untilTime = &t
	}
	a, err := open(ctx, getenv, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	login := fs.Arg(0)
	var acc *account.Account
	switch action {
	case "unlock":
		acc, err = a.accounts.Staff.Unlock(ctx, login, *reason, cliActor)
	case "lock":
		acc, err = a.accounts.Staff.Freeze(ctx, login, *reason, *message, untilTime, cliActor)
	case "disable":
		acc, err = a.accounts.Staff.Disable(ctx, login, *reason, cliActor)
	case "enable":
		acc, err = a.accounts.Staff.Enable(ctx, login, *reason, cliActor)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "%s is now %s\n", acc.Username, acc.State)
	return nil
}

func cmdUserUnlockAll(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("user unlock-all", stdio)
	since := fs.Duration("locked-since", 0, "lift automatic locks that started within this duration (e.g. 2h)")
	reason := fs.String("reason", "", "why (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("user unlock-all takes no arguments")
	}
	if *since <= 0 || *reason == "" {
		return usagef("user unlock-all needs --locked-since DURATION and --reason")
	}
	a, err := open(ctx, getenv, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.accounts.Staff.UnlockAll(ctx, *since, *reason, cliActor)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "unlocked %d account(s)\n", n)
	return nil
}
