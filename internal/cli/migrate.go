package cli

import (
	"context"
	"fmt"

	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/postgres"
)

func cmdMigrate(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	sub := "up"
	if len(args) > 0 {
		sub = args[0]
	}
	if len(args) > 1 {
		return usagef("migrate takes one of up, down, status")
	}
	switch sub {
	case "up", "down", "status":
	default:
		return usagef("migrate: unknown action %q (up, down or status)", sub)
	}
	a, err := open(ctx, getenv, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	m, err := postgres.NewMigrator(a.db, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	switch sub {
	case "up":
		n, err := m.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "applied %d migration(s)\n", n)
	case "down":
		if err := m.Down(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdio.Out, "rolled back one migration")
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied"
			}
			fmt.Fprintf(stdio.Out, "%05d  %-8s %s\n", s.Version, state, s.Name)
		}
	}
	return nil
}
