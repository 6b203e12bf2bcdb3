package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
)

func cmdToken(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	if len(args) == 0 {
		return usagef("token needs an action: create, list or revoke")
	}
	switch args[0] {
	case "create":
		fs := newFlagSet("token create", stdio)
		name := fs.String("name", "", "a name for the token (who uses it)")
		role := fs.String("role", "", "helpdesk, auditor, admin or service")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if *name == "" || *role == "" || fs.NArg() > 0 {
			return usagef("token create needs --name and --role")
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		token, t, err := a.accounts.Tokens.CreateToken(ctx, *name, account.Role(*role), cliActor)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "created token %q with role %s; it is shown only now:\n%s\n", t.Name, t.Role, token)
		return nil
	case "list":
		fs := newFlagSet("token list", stdio)
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		tokens, err := a.accounts.Tokens.Tokens(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			type row struct {
				Name       string     `json:"name"`
				Role       string     `json:"role"`
				CreatedAt  time.Time  `json:"created_at"`
				LastUsedAt *time.Time `json:"last_used_at"`
				RevokedAt  *time.Time `json:"revoked_at"`
			}
			out := make([]row, 0, len(tokens))
			for _, t := range tokens {
				out = append(out, row{t.Name, string(t.Role), t.CreatedAt.UTC(), utc(t.LastUsedAt), utc(t.RevokedAt)})
			}
			enc := json.NewEncoder(stdio.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST USED\tREVOKED")
		for _, t := range tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.CreatedAt.UTC().Format(time.RFC3339), when(t.LastUsedAt), when(t.RevokedAt))
		}
		return tw.Flush()
	case "revoke":
		if len(args) != 2 {
			return usagef("token revoke needs one NAME")
		}
		a, err := open(ctx, getenv, nil, stdio)
		if err != nil {
			return err
		}
		defer a.Close()
		if err := a.accounts.Tokens.RevokeToken(ctx, args[1], cliActor); err != nil {
			return err
		}
		fmt.Fprintf(stdio.Out, "revoked %s\n", args[1])
		return nil
	}
	return usagef("token: unknown action %q", args[0])
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
