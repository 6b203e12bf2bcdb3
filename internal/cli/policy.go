package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
)

func cmdPolicy(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	if len(args) == 0 {
		return usagef("policy needs an action: show or set")
	}
	switch args[0] {
	case "show":
		fs := newFlagSet("policy show", stdio)
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		p, err := a.accounts.Staff.Policy(ctx)
		if err != nil {
			return err
		}
		return printPolicy(stdio, p, *asJSON)
	case "set":
		if len(args) < 2 {
			return usagef("policy set needs KEY=VALUE...")
		}
		changes := map[string]string{}
		for _, kv := range args[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usagef("policy set: %q is not KEY=VALUE", kv)
			}
			changes[strings.TrimSpace(k)] = v
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		p, err := a.accounts.Staff.SetPolicy(ctx, changes, cliActor)
		if err != nil {
			return err
		}
		values := p.Values()
		for _, k := range account.PolicyKeys() {
			if _, ok := changes[k]; ok {
				fmt.Fprintf(stdio.Out, "%s = %s\n", k, values[k])
			}
		}
		return nil
	}
	return usagef("policy: unknown action %q", args[0])
}

func printPolicy(stdio IO, p account.Policy, asJSON bool) error {
	values := p.Values()
	if asJSON {
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(values)
	}
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	for _, k := range account.PolicyKeys() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k, values[k], account.PolicyHelp[k])
	}
	return tw.Flush()
}
