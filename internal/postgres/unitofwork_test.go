package postgres_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
)

// refuseWrites makes every write to table fail until the test ends, as a database that refuses
// part of a use case would.
func (e *engine) refuseWrites(table string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.db.Pool.Exec(ctx, `CREATE OR REPLACE FUNCTION refuse_write() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused'; END $$;
		CREATE TRIGGER refuse_write BEFORE INSERT OR UPDATE ON `+table+` FOR EACH ROW EXECUTE FUNCTION refuse_write()`); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { e.db.Pool.Exec(ctx, `DROP TRIGGER IF EXISTS refuse_write ON `+table) })
}

// Each use case that spans several steps commits all of them or none.
func TestUseCasesThatSpanStepsCommitTogether(t *testing.T) {
	ctx := context.Background()

	t.Run("approving a request and the unlock it carries out", func(t *testing.T) {
		e := newEngine(t, "lockout.threshold=3")
		e.add("alice")
		e.fail("alice", 3)
		if _, err := e.svc.SelfService.RequestHelp(ctx, "alice", "", "please", "192.0.2.1", "en"); err != nil {
			t.Fatal(err)
		}
		reqs, err := e.svc.Oversight.Requests(ctx, "open")
		if err != nil || len(reqs) != 1 {
			t.Fatalf("%d requests: %v", len(reqs), err)
		}
		e.refuseWrites("unlock_requests")
		if err := e.svc.Staff.HandleRequest(ctx, reqs[0].ID, true, "", account.Actor{Name: "admin:root", Role: account.RoleAdmin}); err == nil {
			t.Fatal("closing the request failed, yet the approval reported success")
		}
		if s := e.state("alice"); s != account.StateLockedTemporarily {
			t.Fatalf("the request stayed open but the account was unlocked: %s", s)
		}
	})

	t.Run("a self-service unlock and the reset link it offers", func(t *testing.T) {
		e := newEngine(t, "lockout.threshold=3")
		e.add("alice")
		e.fail("alice", 3)
		flow, err := account.NewFlow(account.PurposeUnlock, "alice", account.ChannelEmail)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "alice", Purpose: account.PurposeUnlock, Client: "192.0.2.1", Flow: flow.Nonce}); err != nil {
			t.Fatal(err)
		}
		e.refuseWrites("reset_tokens")
		if _, err := e.svc.SelfService.UnlockWithCode(ctx, account.Proof{Flow: flow, Code: e.lastCode("alice@example.com"), Client: "192.0.2.1"}); err == nil {
			t.Fatal("the reset link failed, yet the unlock reported success")
		}
		if s := e.state("alice"); s != account.StateLockedTemporarily {
			t.Fatalf("unlocked without the page that offers a new password: %s", s)
		}
	})

	t.Run("a new account and its first code", func(t *testing.T) {
		e := newEngine(t)
		e.refuseWrites("codes")
		_, err := e.svc.Accounts.AddAccount(ctx, account.NewAccount{Username: "bob", Email: "bob@example.com", Pending: true}, account.Actor{Name: "test"})
		if err == nil {
			t.Fatal("the first code failed, yet the account was reported created")
		}
		if _, err := e.svc.Accounts.AccountByLogin(ctx, "bob"); account.ErrorCode(err) != account.ENOTFOUND {
			t.Fatalf("a pending account that was sent nothing exists: %v", err)
		}
	})
}

// A directory that refuses connections inside a unit of work is the directory's outage: its error
// holds a network error, which must not make it read as the database's.
func TestADirectoryOutageInAUnitOfWorkIsNotTheDatabases(t *testing.T) {
	e := newEngine(t)
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"the directory's", fmt.Errorf("%w: directory connect: %w", account.ErrDirectoryUnavailable, refused), account.EDIRECTORY},
		{"a bare network error", fmt.Errorf("dial: %w", refused), account.EUNAVAILABLE},
	} {
		err := e.db.Atomic(context.Background(), func(context.Context) error { return c.err })
		if got := account.ErrorCode(err); got != c.want {
			t.Errorf("%s in a unit of work: %q (%v), want %q", c.name, got, err, c.want)
		}
	}
}
