// Package cli is the unlockd command: its subcommands, and the one place that wires configuration,
// storage, the domain and the server together. Nothing imports it but main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/server"
)

// IO is where a command reads and writes.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Exit codes (CONTRACT.md).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a mistake in how the command was called: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const usage = `unlockd: self-service account unlock

usage:
  unlockd serve [flags]                 run the HTTP server (migrates first unless --no-migrate)
  unlockd migrate [up|down|status]      apply, roll back one, or list migrations
  unlockd dev [--reset] [--data DIR]    the development stack of 'make run'; --reset starts a fresh demo
  unlockd user add --username U --email E [--phone P] [--display-name N] [--role R] [--password-stdin] [--pending]
                   [--language en|zh-CN] [--time-zone ZONE]
  unlockd user import FILE.csv [--pending]
  unlockd user show U [--json]
  unlockd user list [--state S] [--json]
  unlockd user unlock U --reason R
  unlockd user lock U --reason R [--until RFC3339] [--message M]   an administrator's freeze
  unlockd user disable|enable U --reason R
  unlockd user unlock-all --locked-since DURATION --reason R      emergency bulk unlock
  unlockd policy show [--json]
  unlockd policy set KEY=VALUE...
  unlockd token create --name N --role helpdesk|auditor|admin|service   prints the bearer token once
  unlockd token list [--json] | revoke NAME
  unlockd audit verify                  exit 0 when the chain is intact, 1 at the first bad event
  unlockd audit export [--since RFC3339] [--format jsonl|csv]
  unlockd health [--url URL] [--timeout 3s]   exit 0 when the server's /readyz (on UNLOCKD_LISTEN) answers 2xx
  unlockd directory sync [--full]       read people and lock states from the directory now

Configuration comes from the environment (UNLOCKD_DATABASE_URL, ...); see the README.
`

// Run executes one command line and returns the process exit code.
func Run(ctx context.Context, args []string, stdio IO, getenv config.Getenv) int {
	err := run(ctx, args, stdio, getenv)
	if err == nil {
		return exitOK
	}
	if errors.Is(err, errChainBroken) {
		return exitFailure
	}
	var ue *usageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdio.Err, "unlockd:", ue.msg)
		}
		fmt.Fprint(stdio.Err, usage)
		return exitUsage
	}
	fmt.Fprintln(stdio.Err, "unlockd:", oneLine(err))
	return exitFailure
}

func run(ctx context.Context, args []string, stdio IO, getenv config.Getenv) error {
	if len(args) == 0 {
		return usagef("a command is required")
	}
	switch args[0] {
	case "serve":
		return cmdServe(ctx, args[1:], stdio, getenv)
	case "migrate":
		return cmdMigrate(ctx, args[1:], stdio, getenv)
	case "dev":
		return cmdDev(ctx, args[1:], stdio, getenv)
	case "user":
		return cmdUser(ctx, args[1:], stdio, getenv)
	case "policy":
		return cmdPolicy(ctx, args[1:], stdio, getenv)
	case "audit":
		return cmdAudit(ctx, args[1:], stdio, getenv)
	case "token":
		return cmdToken(ctx, args[1:], stdio, getenv)
	case "health":
		return cmdHealth(ctx, args[1:], stdio, getenv)
	case "directory":
		return cmdDirectory(ctx, args[1:], stdio, getenv)
	case "help", "-h", "--help":
		fmt.Fprint(stdio.Out, usage)
		return nil
	}
	return usagef("unknown command %q", args[0])
}

// oneLine keeps an error on one line for the terminal.
func oneLine(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce.Error()
	}
	msg := err.Error()
	if code := account.ErrorCode(err); code != account.EINTERNAL {
		msg = account.ErrorMessage(err)
	}
	return strings.ReplaceAll(msg, "\n", " ")
}

// newFlagSet makes a flag set whose errors come back as usage errors rather than exiting.
func newFlagSet(name string, stdio IO) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	// Allow flags after positional arguments ("user show alice --json").
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// app is everything a command needs, wired from the configuration.
type app struct {
	cfg      *config.Config
	log      *slog.Logger
	db       *postgres.DB
	reads    *postgres.DB // UNLOCKD_DATABASE_READ_URL's pool, or nil
	hasher   *secret.Hasher
	stores   *postgres.Stores
	metrics  *server.Metrics
	accounts *account.Services
	// directory is the directory accounts live in; nil when none is configured.
	directory *directorySource
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// open loads the configuration and connects to the database.
func open(ctx context.Context, getenv config.Getenv, overrides map[string]string, stdio IO) (*app, error) {
	cfg, err := config.Load(getenv, overrides)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg, stdio.Err)
	// One clock for every expiry, in the domain and in storage alike.
	clock := time.Now
	metrics := server.NewMetrics()
	// The directory's settings are checked before anything connects, as the rest of the
	// configuration is; the directory itself is not reached until a request or a sync needs it.
	dir, err := newDirectorySource(cfg.Directory, clock, metrics)
	if err != nil {
		return nil, err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, clock)
	if err != nil {
		return nil, err
	}
	workers := cfg.HashWorkers
	if workers == 0 {
		workers = runtime.NumCPU()
	}
	hasher := secret.NewHasher(secret.DefaultParams, workers, cfg.HashQueue, 5*time.Second)
	stores := postgres.NewStores(db)
	db.Watch("primary", metrics, log)
	a := &app{cfg: cfg, log: log, db: db, hasher: hasher, stores: stores, metrics: metrics, directory: dir}
	if cfg.DatabaseReadURL != "" {
		if a.reads, err = postgres.OpenReads(ctx, cfg.DatabaseReadURL, clock); err != nil {
			db.Close()
			return nil, &config.Error{Var: "UNLOCKD_DATABASE_READ_URL", Msg: err.Error()}
		}
		a.reads.Watch("read", metrics, log)
		stores.ReadFrom(a.reads)
	}
	deps := ServiceDeps(cfg, stores, hasher, clock, metrics)
	if a.directory != nil {
		deps.Directory, deps.DirectoryStore, deps.DirectoryCare = a.directory, stores.Directory, stores.Directory
	}
	a.accounts = account.New(deps)
	return a, nil
}

// StoreDeps fills every store of the domain's dependencies from stores.
func StoreDeps(stores *postgres.Stores) account.Deps {
	return account.Deps{
		Accounts:      stores.Accounts,
		UnitOfWork:    stores.UnitOfWork,
		Lockout:       stores.Lockout,
		States:        stores.States,
		Codes:         stores.Codes,
		SelfService:   stores.SelfService,
		SecondFactors: stores.SecondFactors,
		AccountPage:   stores.AccountPage,
		Contact:       stores.Contact,
		Tokens:        stores.Tokens,
		API:           stores.API,
		Admin:         stores.Admin,
		Alerts:        stores.Alerts,
		Maintenance:   stores.Maintenance,
		Ledger:        stores.Ledger,
	}
}

// ServiceDeps are the domain's dependencies as the binary wires them: every store from stores, the
// settings and second-factor primitives from the configuration. clock and metrics may be nil.
func ServiceDeps(cfg *config.Config, stores *postgres.Stores, hasher account.Hasher, clock account.Clock, metrics account.Metrics) account.Deps {
	d := StoreDeps(stores)
	d.Hasher = hasher
	d.CheckTimes = secret.NewCheckTimes(secret.DefaultCheckTimesSize, secret.DefaultCheckTimesMaxAge, secret.DefaultCheckTimesMin)
	d.Key = cfg.SecretKey
	d.Clock = clock
	d.Metrics = metrics
	d.Options = ServiceOptions(cfg)
	d.Factors = ServiceFactors(cfg)
	return d
}

// ServiceFactors are the second-factor primitives, keyed by the server key.
func ServiceFactors(cfg *config.Config) account.Factors {
	return account.Factors{
		NewTOTP: func(name string) (string, string, error) {
			k, err := secret.NewTOTPKey("unlockd", name)
			return k.Secret, k.URL, err
		},
		MatchTOTP: secret.MatchTOTP,
		Seal:      func(plain string) ([]byte, error) { return secret.Seal(cfg.SecretKey, plain) },
		Open: func(sealed []byte) (string, error) {
			plain, err := secret.Open(cfg.SecretKey, sealed)
			if err != nil && len(cfg.PreviousKey) > 0 {
				// Sealed before a key rotation.
				return secret.Open(cfg.PreviousKey, sealed)
			}
			return plain, err
		},
		NewRecoveryCode:       secret.NewRecoveryCode,
		NormalizeRecoveryCode: secret.NormalizeRecoveryCode,
	}
}

// ServiceOptions are the self-service settings that come from the configuration.
func ServiceOptions(cfg *config.Config) account.Options {
	return account.Options{
		BaseURL:   cfg.BaseURL.String(),
		SMS:       cfg.SMSWebhookURL != nil,
		NewCode:   secret.NewCode,
		NewToken:  secret.NewToken,
		HashToken: secret.HashToken,
		Strength:  secret.PasswordStrength,
		ValidHash: secret.ValidateHash,
		Webhooks:  cfg.WebhookURLs,
	}
}

func (a *app) Close() {
	if a.reads != nil {
		a.reads.Close()
	}
	a.db.Close()
}

// migrateUp applies pending migrations under the advisory lock.
func (a *app) migrateUp(ctx context.Context) error {
	m, err := postgres.NewMigrator(a.db, a.log)
	if err != nil {
		return err
	}
	defer m.Close()
	n, err := m.Up(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		a.log.Info("migrations applied", "count", n)
	}
	return nil
}
