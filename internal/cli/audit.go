package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/postgres"
)

// errChainBroken makes `audit verify` exit 1 after it has printed the first bad event.
var errChainBroken = errors.New("the audit chain is broken")

func cmdAudit(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	if len(args) == 0 {
		return usagef("audit needs an action: verify or export")
	}
	switch args[0] {
	case "verify":
		if len(args) > 1 {
			return usagef("audit verify takes no arguments")
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		n, err := postgres.NewAuditStore(a.db).Verify(ctx)
		var p *audit.Problem
		if errors.As(err, &p) {
			fmt.Fprintf(stdio.Out, "BROKEN at event %d: %s (%d events before it verified)\n", p.ID, p.Reason, n)
			return errChainBroken
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "ok: %d events, chain intact\n", n)
		return nil
	case "export":
		fs := newFlagSet("audit export", stdio)
		since := fs.String("since", "", "only events at or after this time (RFC 3339)")
		format := fs.String("format", "jsonl", "jsonl or csv")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		var from time.Time
		if *since != "" {
			t, err := time.Parse(time.RFC3339, *since)
			if err != nil {
				return usagef("--since %q is not an RFC 3339 time", *since)
			}
			from = t
		}
		w := bufio.NewWriter(stdio.Out)
		x, ok := audit.NewExporter(w, *format)
		if !ok {
			return usagef("--format must be jsonl or csv")
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		if err := postgres.NewAuditStore(a.db).Each(ctx, from, x.Write); err != nil {
			return err
		}
		if err := x.Flush(); err != nil {
			return err
		}
		return w.Flush()
	}
	return usagef("audit: unknown action %q", args[0])
}
