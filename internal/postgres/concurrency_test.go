package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/cli"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/secret"
)

// countingCodes is the real code store, counting the code entries AttemptCode lets through to be
// compared with the code.
type countingCodes struct {
	*postgres.Codes
	codeChecks *atomic.Int64
}

func (s countingCodes) AttemptCode(ctx context.Context, accountID int64, purpose account.Purpose, flowHash []byte, now time.Time) (int64, []byte, string, bool, error) {
	id, hash, channel, ok, err := s.Codes.AttemptCode(ctx, accountID, purpose, flowHash, now)
	if ok {
		s.codeChecks.Add(1)
	}
	return id, hash, channel, ok, err
}

// race is one counter under attack: the engine's database served by two processes, each with its
// own pool, hasher and service, on the engine's clock. Each counter gets an account of its own
// (login) on the same database.
type race struct {
	t          *testing.T
	e          *engine
	procs      [2]*account.Services
	codeChecks atomic.Int64 // code entries that got past AttemptCode, in both processes
	login      string
	alice      *account.Account
}

func newRace(t *testing.T) *race {
	t.Helper()
	e := newEngine(t)
	r := &race{t: t, e: e}
	for i := range r.procs {
		db := e.db
		if i > 0 {
			var err error
			if db, err = postgres.Open(context.Background(), e.url, nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
		}
		warmPool(t, db)
		stores := postgres.NewStores(db)
		d := cli.StoreDeps(stores)
		d.Codes = countingCodes{Codes: stores.Codes, codeChecks: &r.codeChecks}
		r.procs[i] = newServiceOver(d, secret.NewHasher(fastParams, 8, 100, 10*time.Second), e.clock.Now)
	}
	return r
}

// warmPool opens every connection db's pool may hold before the guesses start, so that the race
// tests the counters and not sixty connections opening at once: on a machine busy with other
// test binaries one handshake could run past the pool's connect cap, and its guess be answered as
// an unavailable database.
func warmPool(t *testing.T, db *postgres.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conns := make([]*pgxpool.Conn, db.Pool.Config().MaxConns)
	for i := range conns {
		for {
			c, err := db.Pool.Acquire(ctx)
			if err == nil {
				conns[i] = c
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("warming the pool: %v", err)
			}
		}
	}
	for _, c := range conns {
		c.Release()
	}
}

// next starts the next counter's round: its own test, account and policy, an hour after the last
// round so that no window of one carries into the next.
func (r *race) next(t *testing.T, round int, policy map[string]string) {
	t.Helper()
	r.t, r.e.t = t, t
	r.e.clock.Advance(time.Hour)
	if _, err := r.e.svc.Staff.SetPolicy(context.Background(), policy, account.Actor{Name: "test"}); err != nil {
		t.Fatal(err)
	}
	r.codeChecks.Store(0)
	r.login = fmt.Sprintf("alice%d", round)
	r.alice = r.e.add(r.login)
}

// email is where the round's account gets its mail; newEmail the address it changes to.
func (r *race) email() string    { return r.login + "@example.com" }
func (r *race) newEmail() string { return r.login + ".new@example.com" }

// all makes n calls at once, alternating between the two processes: every goroutine waits at a
// start line until all are ready, so the calls really overlap. It returns each call's error.
func (r *race) all(n int, call func(i int, svc *account.Services) error) []error {
	r.t.Helper()
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = call(i, r.procs[i%2])
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// count runs a count(*) query.
func (r *race) count(sql string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.e.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// tally counts the calls that succeeded and those refused with one of the expected answers; any
// other error fails.
func (r *race) tally(errs []error, want ...error) (ok, refused int) {
	r.t.Helper()
next:
	for i, err := range errs {
		if err == nil {
			ok++
			continue
		}
		for _, w := range want {
			if errors.Is(err, w) {
				refused++
				continue next
			}
		}
		r.t.Fatalf("call %d: %v, want nil or one of %v", i, err, want)
	}
	return ok, refused
}

// flow starts a browser flow for alice.
func (r *race) flow(purpose account.Purpose) *account.Flow {
	r.t.Helper()
	f, err := account.NewFlow(purpose, r.login, account.ChannelEmail)
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}

// proof is one browser request's copy of the flow (each request reads its own from its session).
func proof(f *account.Flow, code string, i int) account.Proof {
	copied := *f
	return account.Proof{Flow: &copied, Code: code, Client: fmt.Sprintf("192.0.2.%d", i%200+1)}
}

// codePurpose is how a code of one purpose is asked for and entered.
type codePurpose struct {
	purpose account.Purpose
	// send asks for a code in flow f and returns where it went.
	send func(r *race, f *account.Flow) string
	// enter enters a code in flow f.
	enter func(r *race, svc *account.Services, f *account.Flow, code string, i int) error
}

func sendCode(purpose account.Purpose) func(r *race, f *account.Flow) string {
	return func(r *race, f *account.Flow) string {
		r.t.Helper()
		if err := r.e.svc.SelfService.SendCode(context.Background(), account.CodeRequest{Login: r.login, Purpose: purpose,
			Client: "198.51.100.1", Flow: f.Nonce}); err != nil {
			r.t.Fatal(err)
		}
		return r.email()
	}
}

var codePurposes = []codePurpose{
	{account.PurposeSignIn, sendCode(account.PurposeSignIn), func(r *race, svc *account.Services, f *account.Flow, code string, i int) error {
		_, err := svc.Gate.SignInWithCode(context.Background(), account.SignInRequest{Login: r.login, ClientIP: "192.0.2.1", Flow: f.Nonce}, code)
		return err
	}},
	{account.PurposeUnlock, sendCode(account.PurposeUnlock), func(r *race, svc *account.Services, f *account.Flow, code string, i int) error {
		_, err := svc.SelfService.UnlockWithCode(context.Background(), proof(f, code, i))
		return err
	}},
	{account.PurposeStatus, sendCode(account.PurposeStatus), func(r *race, svc *account.Services, f *account.Flow, code string, i int) error {
		_, err := svc.SelfService.StatusWithCode(context.Background(), proof(f, code, i))
		return err
	}},
	{account.PurposeVerify, sendCode(account.PurposeVerify), func(r *race, svc *account.Services, f *account.Flow, code string, i int) error {
		_, err := svc.SelfService.VerifyContact(context.Background(), proof(f, code, i))
		return err
	}},
	{account.PurposeContact, func(r *race, f *account.Flow) string {
		r.t.Helper()
		if _, err := r.e.svc.OwnAccount.StartContactChange(context.Background(), r.alice, account.ChannelEmail, r.newEmail(), "198.51.100.1", "en", f.Nonce); err != nil {
			r.t.Fatal(err)
		}
		return r.newEmail()
	}, func(r *race, svc *account.Services, f *account.Flow, code string, i int) error {
		return svc.OwnAccount.ConfirmContactChange(context.Background(), r.alice, account.ChannelEmail, r.newEmail(), code, "", "192.0.2.1", "en", f.Nonce)
	}},
}

// wrongCode is a code of the same length that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// wrongTOTP is a six-digit code that matches none of the steps the service accepts now.
func wrongTOTP(t *testing.T, key string, now time.Time) string {
	t.Helper()
	near := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := secret.TOTPCode(key, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		near[c] = true
	}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", n*7919%1000000); !near[c] {
			return c
		}
	}
}

// enrollTOTP gives alice an authenticator and returns its key.
func (r *race) enrollTOTP() string {
	r.t.Helper()
	key, _, err := r.e.svc.SecondFactors.BeginTOTP(r.alice)
	if err != nil {
		r.t.Fatal(err)
	}
	code, err := secret.TOTPCode(key, r.e.clock.Now().Add(-30*time.Second))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.e.svc.SecondFactors.ConfirmTOTP(context.Background(), r.alice, key, code, "", "198.51.100.1", "en"); err != nil {
		r.t.Fatal(err)
	}
	return key
}

// recoveryCodes gives alice a set of recovery codes.
func (r *race) recoveryCodes() []string {
	r.t.Helper()
	codes, err := r.e.svc.SecondFactors.NewRecoveryCodes(context.Background(), r.alice, "", "198.51.100.1", "en")
	if err != nil {
		r.t.Fatal(err)
	}
	return codes
}

// Sixty guesses at once, split over two processes on one database, never check more than a
// counter allows, and a secret that works once works exactly once.
func TestEveryCounterHoldsUnderFiftyConcurrentGuesses(t *testing.T) {
	const n = 60
	type counter struct {
		name   string
		policy map[string]string
		run    func(r *race)
	}
	counters := []counter{{
		name:   "wrong passwords lock at exactly lockout.threshold",
		policy: limits(10, 5),
		run: func(r *race) {
			errs := r.all(n, func(i int, svc *account.Services) error {
				_, err := svc.Gate.SignIn(context.Background(), account.SignInRequest{Login: r.login,
					Password: fmt.Sprintf("%s %d", wrong, i), ClientIP: fmt.Sprintf("192.0.2.%d", i+1)})
				return err
			})
			if ok, _ := r.tally(errs, account.ErrBadCredentials); ok != 0 {
				r.t.Fatalf("%d wrong passwords signed in", ok)
			}
			checked := r.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND account_id = $2 AND details LIKE '%wrong_password%'`,
				audit.SignInFailed, r.alice.ID)
			locks := r.count(`SELECT count(*) FROM locks WHERE account_id = $1`, r.alice.ID)
			if checked != 10 || locks != 1 || r.e.state(r.login) != account.StateLockedTemporarily {
				r.t.Fatalf("%d passwords checked, %d locks, state %s; want exactly 10 checked and one temporary lock",
					checked, locks, r.e.state(r.login))
			}
			if _, err := r.procs[1].Gate.SignIn(context.Background(), account.SignInRequest{Login: r.login, Password: password, ClientIP: "192.0.2.1"}); !errors.Is(err, account.ErrBadCredentials) {
				r.t.Fatalf("the right password after the lock: %v", err)
			}
		},
	}, {
		name:   "wrong passwords from the known device stop at its own allowance, then count on the account",
		policy: limits(10, 5),
		run: func(r *race) {
			res, err := r.e.signIn(r.login, password)
			if err != nil || res.DeviceToken == "" {
				r.t.Fatalf("no device cookie: %v", err)
			}
			errs := r.all(n, func(i int, svc *account.Services) error {
				_, err := svc.Gate.SignIn(context.Background(), account.SignInRequest{Login: r.login,
					Password: fmt.Sprintf("%s %d", wrong, i), ClientIP: "192.0.2.1", DeviceToken: res.DeviceToken})
				return err
			})
			if ok, _ := r.tally(errs, account.ErrBadCredentials); ok != 0 {
				r.t.Fatalf("%d wrong passwords signed in", ok)
			}
			checked := func(device string) int {
				return r.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND account_id = $2
					AND details LIKE '%wrong_password%' AND details LIKE '%"device":"`+device+`"%'`, audit.SignInFailed, r.alice.ID)
			}
			// The device's allowance is max(10/2, 3) = 5; beyond it the device is any browser.
			if onDevice, onAccount := checked("known"), checked("unknown"); onDevice != 5 || onAccount > 10 {
				r.t.Fatalf("%d passwords checked on the device's allowance and %d on the account's; want exactly 5, and at most 10",
					onDevice, onAccount)
			}
		},
	}}
	for _, cp := range codePurposes {
		counters = append(counters, counter{
			name: "wrong " + string(cp.purpose) + " codes burn the code at exactly code.max_attempts",
			// A high threshold, so that every sign-in code entry reaches the code's own counter.
			policy: limits(100, 5),
			run: func(r *race) {
				f := r.flow(cp.purpose)
				code := r.e.lastCode(cp.send(r, f))
				errs := r.all(n, func(i int, svc *account.Services) error { return cp.enter(r, svc, f, wrongCode(code), i) })
				if ok, _ := r.tally(errs, account.ErrBadCode); ok != 0 {
					r.t.Fatalf("%d wrong codes worked", ok)
				}
				attempts := r.count(`SELECT attempts FROM codes WHERE account_id = $1 AND purpose = $2 ORDER BY id DESC LIMIT 1`, r.alice.ID, string(cp.purpose))
				if checks := r.codeChecks.Load(); checks != 5 || attempts != 5 {
					r.t.Fatalf("%d entries got past AttemptCode, codes.attempts = %d; want exactly 5", checks, attempts)
				}
				if err := cp.enter(r, r.procs[0], f, code, 0); !errors.Is(err, account.ErrBadCode) {
					r.t.Fatalf("the right code after max_attempts wrong ones: %v, want refused", err)
				}
			},
		}, counter{
			name:   "the right " + string(cp.purpose) + " code entered 60 times at once works once",
			policy: limits(100, 10),
			run: func(r *race) {
				f := r.flow(cp.purpose)
				code := r.e.lastCode(cp.send(r, f))
				errs := r.all(n, func(i int, svc *account.Services) error { return cp.enter(r, svc, f, code, i) })
				if ok, _ := r.tally(errs, account.ErrBadCode); ok != 1 {
					r.t.Fatalf("%d of %d entries of one code succeeded, want exactly 1", ok, n)
				}
				if used := r.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND account_id = $2`, audit.CodeUsed, r.alice.ID); used != 1 {
					r.t.Fatalf("%d code.used events, want 1", used)
				}
			},
		})
	}
	counters = append(counters, counter{
		name:   "wrong TOTP at the sign-in second step counts on lockout.threshold",
		policy: limits(10, 5),
		run: func(r *race) {
			key := r.enrollTOTP()
			guess := wrongTOTP(r.t, key, r.e.clock.Now())
			errs := r.all(n, func(i int, svc *account.Services) error {
				_, err := svc.Gate.SignInSecondFactor(context.Background(), r.alice.ID, account.SignInRequest{ClientIP: "192.0.2.1"}, guess)
				return err
			})
			// A checked code is a bad code; one refused uncounted gets the locked account's answer.
			if ok, _ := r.tally(errs, account.ErrBadCode, account.ErrBadCredentials); ok != 0 {
				r.t.Fatalf("%d wrong TOTP codes signed in", ok)
			}
			checked := r.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND account_id = $2 AND details LIKE '%wrong_totp%'`,
				audit.SignInFailed, r.alice.ID)
			if checked != 10 || r.e.state(r.login) != account.StateLockedTemporarily {
				r.t.Fatalf("%d TOTP codes checked, state %s; want exactly 10 and a temporary lock", checked, r.e.state(r.login))
			}
		},
	}, counter{
		name:   "wrong TOTP at unlock is bounded by MaxFactorGuesses",
		policy: limits(10, 5),
		run: func(r *race) {
			key := r.enrollTOTP()
			guess := wrongTOTP(r.t, key, r.e.clock.Now())
			f := r.flow(account.PurposeUnlock)
			errs := r.all(n, func(i int, svc *account.Services) error {
				_, err := svc.SelfService.UnlockWithFactor(context.Background(), proof(f, guess, i))
				return err
			})
			if ok, _ := r.tally(errs, account.ErrBadCode); ok != 0 {
				r.t.Fatalf("%d wrong TOTP codes unlocked", ok)
			}
			if checked := r.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND account_id = $2`, audit.FactorFailed, r.alice.ID); checked != account.MaxFactorGuesses {
				r.t.Fatalf("%d TOTP guesses checked, want exactly %d", checked, account.MaxFactorGuesses)
			}
		},
	}, counter{
		name:   "wrong recovery codes at unlock are bounded by MaxFactorGuesses, for strangers and for the known device apart",
		policy: limits(10, 5),
		run: func(r *race) {
			res, err := r.e.signIn(r.login, password)
			if err != nil || res.DeviceToken == "" {
				r.t.Fatalf("no device cookie: %v", err)
			}
			r.recoveryCodes()
			f := r.flow(account.PurposeUnlock)
			errs := r.all(n, func(i int, svc *account.Services) error {
				guess, err := secret.NewRecoveryCode()
				if err != nil {
					return err
				}
				p := proof(f, guess, i)
				if i%4 < 2 {
					p.DeviceToken = res.DeviceToken
				}
				_, err = svc.SelfService.UnlockWithFactor(context.Background(), p)
				return err
			})
			if ok, _ := r.tally(errs, account.ErrBadCode); ok != 0 {
				r.t.Fatalf("%d wrong recovery codes unlocked", ok)
			}
			if checked := r.count(`SELECT count(*) FROM audit_events WHERE action = $1 AND account_id = $2`, audit.FactorFailed, r.alice.ID); checked != 2*account.MaxFactorGuesses {
				r.t.Fatalf("%d recovery codes checked, want exactly %d from elsewhere and %d from the known device",
					checked, account.MaxFactorGuesses, account.MaxFactorGuesses)
			}
		},
	}, counter{
		name:   "requests for codes, links and help from one client stop at SendLimitClient, known usernames or not",
		policy: limits(10, 5),
		run: func(r *race) {
			for i := range 10 {
				r.e.add(r.login + "-" + strconv.Itoa(i))
			}
			errs := r.all(n, func(i int, svc *account.Services) error {
				login := r.login + "-" + strconv.Itoa(i%20) // -10 to -19 do not exist
				ctx := context.Background()
				switch i % 3 {
				case 0:
					return svc.SelfService.SendCode(ctx, account.CodeRequest{Login: login, Purpose: account.PurposeStatus, Client: "203.0.113.7"})
				case 1:
					return svc.SelfService.StartReset(ctx, login, "203.0.113.7", "en")
				}
				_, err := svc.SelfService.RequestHelp(ctx, login, "", "please", "203.0.113.7", "en")
				return err
			})
			if ok, throttled := r.tally(errs, account.ErrThrottled); ok != account.SendLimitClient || throttled != n-account.SendLimitClient {
				r.t.Fatalf("%d requests served, %d throttled; want exactly %d served", ok, throttled, account.SendLimitClient)
			}
		},
	}, counter{
		// SECURITY.md 10: sends are limited per account and per destination, not only per client, so
		// that many clients (SMS pumping) cannot flood one person. One at a time, a second code or
		// link within code.resend_interval is not sent; sixty at once must not send more.
		name:   "codes and reset links to one account, asked by 60 clients at once, stop at code.resend_interval",
		policy: limits(10, 5),
		run: func(r *race) {
			errs := r.all(n, func(i int, svc *account.Services) error {
				client := fmt.Sprintf("203.0.113.%d", i+1)
				if i%2 == 0 {
					return svc.SelfService.StartReset(context.Background(), r.login, client, "en")
				}
				return svc.SelfService.SendCode(context.Background(), account.CodeRequest{Login: r.login, Purpose: account.PurposeStatus, Client: client})
			})
			if ok, _ := r.tally(errs); ok != n {
				r.t.Fatalf("%d of %d requests answered", ok, n)
			}
			sent := r.count(`SELECT count(*) FROM outbox WHERE recipient = $1 AND template IN ('code', 'reset_link')`, r.email())
			if sent != 1 {
				r.t.Fatalf("%d codes and links sent to one address at one instant; code.resend_interval allows 1 (and SendLimitAccount %d an hour)",
					sent, account.SendLimitAccount)
			}
		},
	}, counter{
		name:   "one recovery code used 20 times at once signs in once and tells the owner once",
		policy: limits(100, 5),
		run: func(r *race) {
			code := r.recoveryCodes()[3]
			errs := r.all(20, func(i int, svc *account.Services) error {
				_, err := svc.Gate.SignInSecondFactor(context.Background(), r.alice.ID, account.SignInRequest{ClientIP: "192.0.2.1"}, code)
				return err
			})
			if ok, _ := r.tally(errs, account.ErrBadCode, account.ErrBadCredentials); ok != 1 {
				r.t.Fatalf("%d of 20 uses of one recovery code signed in, want exactly 1", ok)
			}
			notices := r.count(`SELECT count(*) FROM outbox WHERE recipient = $1 AND template = 'factor_changed'
				AND data->>'Change' = 'recovery_code_used'`, r.email())
			used := r.count(`SELECT count(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NOT NULL`, r.alice.ID)
			if notices != 1 || used != 1 {
				r.t.Fatalf("%d notices queued, %d codes used; want exactly one of each", notices, used)
			}
		},
	}, counter{
		name:   "one recovery code used 20 times at once unlocks once and tells the owner once",
		policy: limits(3, 5),
		run: func(r *race) {
			code := r.recoveryCodes()[7]
			r.e.fail(r.login, 3)
			f := r.flow(account.PurposeUnlock)
			errs := r.all(20, func(i int, svc *account.Services) error {
				_, err := svc.SelfService.UnlockWithFactor(context.Background(), proof(f, code, i))
				return err
			})
			if ok, _ := r.tally(errs, account.ErrBadCode); ok != 1 {
				r.t.Fatalf("%d of 20 uses of one recovery code unlocked, want exactly 1", ok)
			}
			notices := r.count(`SELECT count(*) FROM outbox WHERE recipient = $1 AND template = 'factor_changed'
				AND data->>'Change' = 'recovery_code_used'`, r.email())
			if notices != 1 || r.e.state(r.login) != account.StateActive {
				r.t.Fatalf("%d notices queued, state %s; want one notice and the account unlocked", notices, r.e.state(r.login))
			}
		},
	})
	r := newRace(t)
	for round, c := range counters {
		t.Run(c.name, func(t *testing.T) {
			r.next(t, round, c.policy)
			c.run(r)
		})
	}
}

// limits is a policy with the lockout threshold and code.max_attempts given.
func limits(threshold, codeAttempts int) map[string]string {
	return map[string]string{"lockout.threshold": strconv.Itoa(threshold), "code.max_attempts": strconv.Itoa(codeAttempts)}
}
