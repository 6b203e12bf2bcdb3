package cli

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/secret"
)

func cmdUser(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	if len(args) == 0 {
		return usagef("user needs an action: add, import, show, list, unlock, lock, disable, enable or unlock-all")
	}
	switch args[0] {
	case "add":
		return cmdUserAdd(ctx, args[1:], stdio, getenv)
	case "import":
		return cmdUserImport(ctx, args[1:], stdio, getenv)
	case "show":
		return cmdUserShow(ctx, args[1:], stdio, getenv)
	case "list":
		return cmdUserList(ctx, args[1:], stdio, getenv)
	case "unlock", "lock", "disable", "enable":
		return cmdUserState(ctx, args[0], args[1:], stdio, getenv)
	case "unlock-all":
		return cmdUserUnlockAll(ctx, args[1:], stdio, getenv)
	}
	return usagef("user: unknown action %q", args[0])
}

func cmdUserAdd(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("user add", stdio)
	in := account.NewAccount{}
	fs.StringVar(&in.Username, "username", "", "username")
	fs.StringVar(&in.Email, "email", "", "email address")
	fs.StringVar(&in.Phone, "phone", "", "phone in international form (+86...)")
	fs.StringVar(&in.DisplayName, "display-name", "", "display name")
	role := fs.String("role", "user", "user, helpdesk, auditor or admin")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	fs.BoolVar(&in.Pending, "pending", false, "create the account as pending_verification")
	fs.StringVar(&in.Language, "language", "", "language of the account's messages: en or zh-CN (default: learned at sign-in)")
	fs.StringVar(&in.TimeZone, "time-zone", "", "IANA zone the person reads times in, e.g. Asia/Shanghai (default: UNLOCKD_TIMEZONE)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("user add: unexpected argument %q", fs.Arg(0))
	}
	if in.Username == "" || in.Email == "" {
		return usagef("user add needs --username and --email")
	}
	in.Role = account.Role(*role)
	if *pwStdin {
		pw, err := readPasswordLine(stdio.In)
		if err != nil {
			return err
		}
		in.Password = pw
	}
	a, err := open(ctx, getenv, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	acc, err := a.accounts.Accounts.AddAccount(ctx, in, cliActor)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Out, "added %s (%s, %s)\n", acc.Username, acc.Role, acc.State)
	return nil
}

// readPasswordLine reads one line; its line ending is not part of the password.
func readPasswordLine(r io.Reader) (string, error) {
	br := bufio.NewReader(io.LimitReader(r, 4096))
	line, err := br.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usagef("--password-stdin: standard input held no password")
	}
	return line, nil
}

func cmdUserImport(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("user import", stdio)
	pending := fs.Bool("pending", false, "create new accounts as pending_verification")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("user import needs one FILE.csv")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("open %s: %w", fs.Arg(0), err)
	}
	defer f.Close()
	// Every row is checked before the database is touched.
	rows, err := account.ParseImport(f, secret.ValidateHash, *pending)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	a, err := open(ctx, getenv, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	created, updated, err := a.accounts.Accounts.ImportAccounts(ctx, rows, cliActor)
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	fmt.Fprintf(stdio.Out, "imported %d account(s): %d created, %d updated\n", len(rows), created, updated)
	return nil
}

// accountJSON is the shape of `user show --json` and `user list --json` (CONTRACT.md).
type accountJSON struct {
	Username       string     `json:"username"`
	Email          string     `json:"email"`
	Phone          string     `json:"phone"`
	DisplayName    string     `json:"display_name"`
	Role           string     `json:"role"`
	State          string     `json:"state"`
	Reason         string     `json:"reason"`
	LockedUntil    *time.Time `json:"locked_until"`
	LockedSince    *time.Time `json:"locked_since"`
	FailedAttempts int        `json:"failed_attempts"`
	ExpiresAt      *time.Time `json:"expires_at"`
	LastSignInAt   *time.Time `json:"last_sign_in_at"`
	CreatedAt      time.Time  `json:"created_at"`
	Language       string     `json:"language"`  // "" until learned at sign-in
	TimeZone       string     `json:"time_zone"` // "" for the organisation's
	Source         string     `json:"source"`    // "local" or "directory"
	DirectoryDN    string     `json:"directory_dn,omitempty"`

	// When the directory expires a directory account's password; left out when it never does.
	PasswordExpiresAt *time.Time `json:"password_expires_at,omitempty"`
}

// withLock adds when the current lock began, for reports such as "locked for more than a day".
func withLock(ctx context.Context, a *app, acc *account.Account, j accountJSON) (accountJSON, error) {
	if j.State == string(account.StateActive) {
		return j, nil
	}
	l, err := a.stores.SelfService.CurrentLock(ctx, acc.ID)
	if err != nil || l == nil {
		return j, err
	}
	j.LockedSince = utc(&l.StartedAt)
	return j, nil
}

func toJSON(a *account.Account, now time.Time) accountJSON {
	j := accountJSON{Username: a.Username, Email: a.Email, Phone: a.Phone, DisplayName: a.DisplayName,
		Role: string(a.Role), State: string(a.EffectiveState(now)), Reason: a.Reason,
		FailedAttempts: a.FailedAttempts, ExpiresAt: utc(a.ExpiresAt), LastSignInAt: utc(a.LastSignInAt),
		CreatedAt: a.CreatedAt.UTC(), Language: a.Language, TimeZone: a.TimeZone,
		Source: string(cmp.Or(a.Source, account.SourceLocal)), DirectoryDN: a.DirectoryDN,
		PasswordExpiresAt: utc(a.PasswordExpiresAt)}
	if j.State == string(account.StateLockedTemporarily) {
		j.LockedUntil = utc(a.LockedUntil)
	}
	return j
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC().Truncate(time.Second)
	return &u
}

func cmdUserShow(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("user show", stdio)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("user show needs one username")
	}
	a, err := open(ctx, getenv, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	acc, err := a.accounts.Accounts.AccountByLogin(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	j, err := withLock(ctx, a, acc, toJSON(acc, a.accounts.Now()))
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(j)
	}
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "username\t%s\nemail\t%s\nphone\t%s\ndisplay name\t%s\nrole\t%s\nstate\t%s\n",
		j.Username, j.Email, dash(j.Phone), dash(j.DisplayName), j.Role, j.State)
	if j.DirectoryDN != "" {
		fmt.Fprintf(tw, "source\t%s (%s)\n", j.Source, j.DirectoryDN)
	} else {
		fmt.Fprintf(tw, "source\t%s\n", j.Source)
	}
	if j.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", j.Reason)
	}
	if j.LockedUntil != nil {
		fmt.Fprintf(tw, "locked until\t%s\n", j.LockedUntil.Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "failed attempts\t%d\n", j.FailedAttempts)
	if j.ExpiresAt != nil {
		fmt.Fprintf(tw, "expires\t%s\n", j.ExpiresAt.Format(time.RFC3339))
	}
	if j.LastSignInAt != nil {
		fmt.Fprintf(tw, "last sign-in\t%s\n", j.LastSignInAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func cmdUserList(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	fs := newFlagSet("user list", stdio)
	state := fs.String("state", "", "only accounts in this state")
	asJSON := fs.Bool("json", false, "print JSON (an array)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("user list takes no arguments")
	}
	if *state != "" && !account.State(*state).Valid() {
		return usagef("user list: --state %q is not an account state", *state)
	}
	a, err := open(ctx, getenv, nil, stdio)
	if err != nil {
		return err
	}
	defer a.Close()
	list, err := a.accounts.Accounts.ListAccounts(ctx, account.State(*state), 100000)
	if err != nil {
		return err
	}
	now := a.accounts.Now()
	if *asJSON {
		out := make([]accountJSON, 0, len(list))
		for _, acc := range list {
			j, err := withLock(ctx, a, acc, toJSON(acc, now))
			if err != nil {
				return err
			}
			out = append(out, j)
		}
		enc := json.NewEncoder(stdio.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdio.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USERNAME\tEMAIL\tROLE\tSTATE")
	for _, acc := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", acc.Username, acc.Email, acc.Role, acc.EffectiveState(now))
	}
	return tw.Flush()
}
