package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/internal/postgres"
)

// demoAccount is one account of the demo seed.
type demoAccount struct {
	username, email, phone, name, language string
	role                                   account.Role
	pending                                bool // added waiting for its owner to confirm the address
}

// demoPassword is every demo account's password: long enough for the policy, easy to type.
const demoPassword = "unlockd-demo-password"

var demoAccounts = []demoAccount{
	{"admin", "admin@example.com", "", "Ada Admin", "", account.RoleAdmin, false},
	{"helpdesk", "helpdesk@example.com", "", "Hui Helpdesk", "", account.RoleHelpdesk, false},
	{"alice", "alice@example.com", "+14155550100", "Alice Adams", "", account.RoleUser, false},
	{"li.wei", "li.wei@example.cn", "+8613800000000", "李伟", "zh-CN", account.RoleUser, false},
	{"bob", "bob@example.com", "", "Bob Brown", "", account.RoleUser, false},
	{"carol", "carol@example.com", "", "Carol Chen", "", account.RoleUser, false},
	{"dave", "dave@example.com", "", "Dave Davis", "", account.RoleUser, false},
	{"erin", "erin@example.com", "", "Erin Evans", "", account.RoleUser, false},
	{"frank", "frank@example.com", "", "Frank Fu", "", account.RoleUser, true},
}

// The demo's history, as offsets from the moment it is seeded. It goes through the same use cases
// real people and staff do, so every lock has its failed sign-ins, reason, times, audit events and
// notices:
//   - carol mistypes her way into three temporary locks, each run out, and a fourth lockout locks
//     her account until she proves who she is;
//   - bob's phone retries a stale password: a temporary lock three and a half hours ago, and a
//     second, longer one just now;
//   - an administrator freezes dave for a compliance review;
//   - an administrator sets erin's contract end, which has passed;
//   - frank is added waiting to confirm his address.
var (
	demoStart      = -5 * time.Hour
	demoCarolLocks = []time.Duration{-4 * time.Hour, -3 * time.Hour, -2 * time.Hour, -30 * time.Minute}
	demoBobLocks   = []time.Duration{-3*time.Hour - 30*time.Minute, 0}
	demoDaveFrozen = -90 * time.Minute
	demoErinEnds   = -time.Hour
)

// demoAdmin is the administrator the demo's staff actions are recorded for.
var demoAdmin = account.Actor{Name: "admin:admin", Role: account.RoleAdmin, Client: "127.0.0.1"}

// demoClock is the seed's clock: the real time moved back by an offset the story sets step by
// step, always forward, so that the history is written in the order it is dated.
type demoClock struct{ offset atomic.Int64 }

func (c *demoClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *demoClock) set(offset time.Duration) { c.offset.Store(int64(offset)) }

func (c *demoClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// demoAttemptGap is the time between two of the demo's failed sign-ins: a person retyping, a phone
// retrying.
const demoAttemptGap = 20 * time.Second

// seedDemo creates the demo accounts that do not exist yet and plays the history of those it
// created (see demoStart); a second run leaves existing accounts as they are. Everything the seed
// writes is dated on its own clock, through a connection of its own: the domain and the store
// alike read the time from the clock they are given.
func seedDemo(ctx context.Context, a *app, stdio IO) error {
	var missing []demoAccount
	for _, d := range demoAccounts {
		if _, err := a.accounts.Accounts.AccountByLogin(ctx, d.username); err == nil {
			continue
		} else if account.ErrorCode(err) != account.ENOTFOUND {
			return err
		}
		missing = append(missing, d)
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintln(stdio.Err, "unlockd dev: seeding the demo accounts and their history (some fifty failed sign-ins: a few seconds)")
	clock := &demoClock{}
	clock.set(demoStart)
	db, err := postgres.Open(ctx, a.cfg.DatabaseURL, clock.now)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := account.New(ServiceDeps(a.cfg, postgres.NewStores(db), a.hasher, clock.now, a.metrics))

	created := map[string]bool{}
	for _, d := range missing {
		if _, err := svc.Accounts.AddAccount(ctx, account.NewAccount{Username: d.username, Email: d.email,
			Phone: d.phone, DisplayName: d.name, Role: d.role, Password: demoPassword, Pending: d.pending,
			Language: d.language}, account.Actor{Name: "dev-seed"}); err != nil {
			return fmt.Errorf("%s: %w", d.username, err)
		}
		created[d.username] = true
	}
	if created["erin"] {
		ends := time.Now().Add(demoErinEnds)
		if _, err := svc.Staff.SetExpiry(ctx, "erin", &ends, "contract ended", demoAdmin); err != nil {
			return fmt.Errorf("erin: %w", err)
		}
	}

	// The remaining steps, in the order of their times.
	type step struct {
		at  time.Duration
		who string
		do  func() error
	}
	var steps []step
	failures := func(login, client, agent string, want account.State) func() error {
		return func() error { return demoFailSignIns(ctx, svc, clock, login, client, agent, want) }
	}
	policy, err := svc.Staff.Policy(ctx)
	if err != nil {
		return err
	}
	// A run of failed sign-ins starts early enough for its lock to fall at the time of its step.
	run := time.Duration(policy.Lockout.Threshold-1) * demoAttemptGap
	phone := "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mail/3826"
	laptop := "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
	for i, at := range demoCarolLocks {
		want := account.StateLockedTemporarily
		if i == len(demoCarolLocks)-1 {
			want = account.StateLocked
		}
		steps = append(steps, step{at - run, "carol", failures("carol", "198.51.100.23", laptop, want)})
	}
	for _, at := range demoBobLocks {
		steps = append(steps, step{at - run, "bob", failures("bob", "203.0.113.7", phone, account.StateLockedTemporarily)})
	}
	steps = append(steps, step{demoDaveFrozen, "dave", func() error {
		_, err := svc.Staff.Freeze(ctx, "dave", "compliance review",
			"Your account is paused during a compliance review. The security team will contact you.", nil, demoAdmin)
		return err
	}})
	for len(steps) > 0 {
		next := 0
		for i, s := range steps {
			if s.at < steps[next].at {
				next = i
			}
		}
		s := steps[next]
		steps = append(steps[:next], steps[next+1:]...)
		if !created[s.who] {
			continue
		}
		clock.set(s.at)
		if err := s.do(); err != nil {
			return fmt.Errorf("%s: %w", s.who, err)
		}
	}
	return nil
}

// demoFailSignIns signs in to login with wrong passwords, each a new one (the same wrong password
// again is not counted) demoAttemptGap after the last, until the lockout policy puts the account in
// state want.
func demoFailSignIns(ctx context.Context, svc *account.Services, clock *demoClock, login, client, agent string, want account.State) error {
	policy, err := svc.Staff.Policy(ctx)
	if err != nil {
		return err
	}
	for i := range 2*policy.Lockout.Threshold + 1 {
		if i > 0 {
			clock.advance(demoAttemptGap)
		}
		_, err := svc.Gate.SignIn(ctx, account.SignInRequest{Login: login, ClientIP: client, UserAgent: agent,
			Password: fmt.Sprintf("%s-wrong-%d-%d", login, clock.now().Unix(), i)})
		if !errors.Is(err, account.ErrBadCredentials) {
			return fmt.Errorf("a wrong password was not refused as such: %v", err)
		}
		a, err := svc.Accounts.AccountByLogin(ctx, login)
		if err != nil {
			return err
		}
		if a.EffectiveState(clock.now()) == want {
			return nil
		}
	}
	return fmt.Errorf("failed sign-ins did not make the account %s", want)
}

// demoBanner is what `unlockd dev` prints once the server listens: where, the demo accounts as they
// stand now, the lines about the demo directory (with --ldap), and where mail arrives.
func demoBanner(ctx context.Context, a *app, inbox, directoryLines string) (string, error) {
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
			until := acc.LockedUntil.In(a.cfg.Timezone)
			line += " until " + until.Format("15:04") + " " + i18n.ZoneName("en", until)
		}
		if acc.Reason != "" && (state == account.StateLocked || state == account.StateFrozen) {
			line += ": " + acc.Reason
		}
		b.WriteString(line + "\n")
	}
	if directoryLines != "" {
		b.WriteString("\n" + directoryLines)
	}
	if inbox != "" {
		fmt.Fprintf(&b, "\n  Mail (and SMS, once configured) arrives in the inbox at %s\n", inbox)
	}
	fmt.Fprintf(&b, "  A fresh demo: make run RESET=1 (unlockd dev --reset).\n")
	fmt.Fprintf(&b, "  Press Ctrl-C to stop everything.\n\n")
	return b.String(), nil
}
