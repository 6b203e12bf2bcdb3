package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/cli"
	"github.com/unlockd/unlockd/internal/lockout"
	"github.com/unlockd/unlockd/internal/postgres"
)

// hangUp is one request whose client disconnects (its context is cancelled) just before its at-th
// call into storage or the hasher.
type hangUp struct {
	mu     sync.Mutex
	n, at  int
	cancel context.CancelFunc
	points []string
}

// tick counts one call, named point, and hangs up when it is the at-th.
func (h *hangUp) tick(point string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n++
	h.points = append(h.points, point)
	if h.n == h.at {
		h.cancel()
	}
}

// hangUpStores puts a hang-up point before each store call a sign-in or code check makes, over the
// real stores of d.
func hangUpStores(d account.Deps, h *hangUp) account.Deps {
	d.Accounts = hangUpAccounts{d.Accounts, h}
	d.Lockout = hangUpLockout{d.Lockout, h}
	d.SecondFactors = hangUpFactors{d.SecondFactors, h}
	d.Codes = hangUpCodes{d.Codes, h}
	return d
}

type hangUpAccounts struct {
	account.AccountStore
	h *hangUp
}

func (s hangUpAccounts) AccountByLogin(ctx context.Context, login string) (*account.Account, error) {
	s.h.tick("AccountByLogin")
	return s.AccountStore.AccountByLogin(ctx, login)
}

type hangUpLockout struct {
	account.LockoutStore
	h *hangUp
}

func (s hangUpLockout) Policy(ctx context.Context) (account.Policy, error) {
	s.h.tick("Policy")
	return s.LockoutStore.Policy(ctx)
}
func (s hangUpLockout) ClientFailureCount(ctx context.Context, client string, since time.Time) (int, error) {
	s.h.tick("ClientFailureCount")
	return s.LockoutStore.ClientFailureCount(ctx, client, since)
}
func (s hangUpLockout) IsRepeatedPassword(ctx context.Context, id int64, mac []byte, since time.Time) (bool, error) {
	s.h.tick("IsRepeatedPassword")
	return s.LockoutStore.IsRepeatedPassword(ctx, id, mac, since)
}
func (s hangUpLockout) DeviceAccount(ctx context.Context, nonceHash []byte) (int64, int64, error) {
	s.h.tick("DeviceAccount")
	return s.LockoutStore.DeviceAccount(ctx, nonceHash)
}
func (s hangUpLockout) ReserveAttempt(ctx context.Context, a account.Attempt) (account.Reservation, error) {
	s.h.tick("ReserveAttempt")
	return s.LockoutStore.ReserveAttempt(ctx, a)
}
func (s hangUpLockout) RefundAttempt(ctx context.Context, id int64, r account.Reservation, device int64) error {
	s.h.tick("RefundAttempt")
	return s.LockoutStore.RefundAttempt(ctx, id, r, device)
}
func (s hangUpLockout) RecordFailure(ctx context.Context, f account.Failure) (lockout.Outcome, error) {
	s.h.tick("RecordFailure")
	return s.LockoutStore.RecordFailure(ctx, f)
}
func (s hangUpLockout) RecordSuccess(ctx context.Context, sc account.Success) (bool, error) {
	s.h.tick("RecordSuccess")
	return s.LockoutStore.RecordSuccess(ctx, sc)
}
func (s hangUpLockout) RecordRejection(ctx context.Context, r account.Rejection) error {
	s.h.tick("RecordRejection")
	return s.LockoutStore.RecordRejection(ctx, r)
}

type hangUpFactors struct {
	account.FactorStore
	h *hangUp
}

func (s hangUpFactors) SecondFactors(ctx context.Context, id int64) (bool, int, error) {
	s.h.tick("SecondFactors")
	return s.FactorStore.SecondFactors(ctx, id)
}

type hangUpCodes struct {
	account.CodeStore
	h *hangUp
}

func (s hangUpCodes) AttemptCode(ctx context.Context, id int64, p account.Purpose, flow []byte, now time.Time) (int64, []byte, string, bool, error) {
	s.h.tick("AttemptCode")
	return s.CodeStore.AttemptCode(ctx, id, p, flow, now)
}
func (s hangUpCodes) ConsumeCode(ctx context.Context, id int64, now time.Time, username, client string) (bool, error) {
	s.h.tick("ConsumeCode")
	return s.CodeStore.ConsumeCode(ctx, id, now, username, client)
}

// hangUpHasher is the real hasher with a hang-up point before each hash.
type hangUpHasher struct {
	account.Hasher
	h *hangUp
}

func (x hangUpHasher) Verify(ctx context.Context, pw, encoded string) (bool, bool, error) {
	x.h.tick("Verify")
	return x.Hasher.Verify(ctx, pw, encoded)
}
func (x hangUpHasher) VerifyDummy(ctx context.Context, pw string) error {
	x.h.tick("VerifyDummy")
	return x.Hasher.VerifyDummy(ctx, pw)
}

// A client that disconnects at any point of a sign-in or a code check leaves a state its owner can
// leave: the account is either below its threshold and usable, or locked the way the rules lock
// (and the lock lifts, or the owner unlocks). It is never left active over its threshold.
func TestAHangUpAtAnyPointLeavesAStateTheOwnerCanLeave(t *testing.T) {
	const threshold = 3
	kinds := []struct {
		name string
		try  func(ctx context.Context, svc *account.Services, login, client string, flow *account.Flow) error
	}{
		{"wrong password", func(ctx context.Context, svc *account.Services, login, client string, _ *account.Flow) error {
			_, err := svc.Gate.SignIn(ctx, account.SignInRequest{Login: login, Password: "the last wrong guess", ClientIP: client})
			return err
		}},
		{"right password", func(ctx context.Context, svc *account.Services, login, client string, _ *account.Flow) error {
			_, err := svc.Gate.SignIn(ctx, account.SignInRequest{Login: login, Password: password, ClientIP: client})
			return err
		}},
		{"wrong sign-in code", func(ctx context.Context, svc *account.Services, login, client string, flow *account.Flow) error {
			_, err := svc.Gate.SignInWithCode(ctx, account.SignInRequest{Login: login, ClientIP: client, Flow: flow.Nonce}, "000000")
			return err
		}},
	}
	e := newEngine(t, fmt.Sprintf("lockout.threshold=%d", threshold), "lockout.duration=1m")
	for k, kind := range kinds {
		for at := 1; ; at++ {
			// A fresh account for every point, one failure short of its threshold.
			// Each from a client of its own, so the spraying throttle stays out of it.
			login, client := fmt.Sprintf("user%d-%d", k, at), fmt.Sprintf("2001:db8::%x", k*1000+at)
			fromClient := func(r *account.SignInRequest) { r.ClientIP = client }
			e.add(login)
			for i := 0; i < threshold-1; i++ {
				if _, err := e.signIn(login, fmt.Sprintf("%s %d", wrong, i), fromClient); !errors.Is(err, account.ErrBadCredentials) {
					t.Fatal(err)
				}
			}
			flow, err := account.NewFlow(account.PurposeSignIn, login, account.ChannelEmail)
			if err != nil {
				t.Fatal(err)
			}
			hu := &hangUp{at: at}
			svc := newServiceOver(hangUpStores(cli.StoreDeps(postgres.NewStores(e.db)), hu),
				hangUpHasher{Hasher: newEngineHasher(), h: hu}, e.clock.Now)
			ctx, cancel := context.WithCancel(context.Background())
			hu.cancel = cancel
			kind.try(ctx, svc, login, client, flow)
			cancel()
			if hu.n < at {
				break // the attempt ended before this point: every point has been tried
			}
			where := fmt.Sprintf("%s, hang-up before call %d (%s)", kind.name, at, hu.points[at-1])
			a := e.account(login)
			switch {
			case a.State == account.StateActive && a.FailedAttempts >= threshold:
				t.Fatalf("%s: left active with %d failures", where, a.FailedAttempts)
			case a.State == account.StateLockedTemporarily:
				e.clock.Advance(time.Minute)
			case a.State != account.StateActive:
				t.Fatalf("%s: left %s", where, a.State)
			}
			if _, err := e.signIn(login, password, fromClient); err != nil && !errors.Is(err, account.ErrBadCredentials) {
				t.Fatalf("%s: the owner's sign-in: %v", where, err)
			} else if err != nil {
				t.Fatalf("%s: the owner could not sign in afterwards (%s, %d failures)", where, a.State, a.FailedAttempts)
			}
		}
	}
}
