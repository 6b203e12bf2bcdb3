package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/cli"
	"github.com/unlockd/unlockd/internal/postgres"
)

// oneDirectory is a directory of one locked person, safe for concurrent use: it counts the unlocks
// it carried out, and refuses passwords or stops answering on demand.
type oneDirectory struct {
	mu       sync.Mutex
	person   account.DirectoryPerson
	password string
	unlocks  int
	refuse   error
	down     bool
	// writesDown: reads are answered, writes are not (the directory's primary is gone).
	writesDown bool
}

func (d *oneDirectory) Person(_ context.Context, username string) (account.DirectoryPerson, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return account.DirectoryPerson{}, account.ErrDirectoryUnavailable
	}
	if username != d.person.Username {
		return account.DirectoryPerson{}, account.Errorf(account.ENOTFOUND, "nobody is %s", username)
	}
	return d.person, nil
}

func (d *oneDirectory) CheckPassword(context.Context, string, string) (account.DirectoryVerdict, error) {
	return account.DirectoryPasswordWrong, nil
}

func (d *oneDirectory) Unlock(context.Context, string, bool) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down || d.writesDown {
		return false, account.ErrDirectoryUnavailable
	}
	if d.person.State == account.StateActive {
		return false, nil
	}
	d.person.State, d.person.LockedUntil = account.StateActive, nil
	d.unlocks++
	return true, nil
}

func (d *oneDirectory) SetPassword(_ context.Context, _, password string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse != nil {
		return d.refuse
	}
	d.password = password
	return nil
}

// newDirectoryEngine is an engine whose directory holds one person, ann, locked by the directory.
func newDirectoryEngine(t *testing.T) (*engine, *oneDirectory) {
	e := newEngine(t)
	dir := &oneDirectory{person: account.DirectoryPerson{DN: "uid=ann,ou=people,dc=example,dc=com", Username: "ann",
		Email: "ann@example.com", State: account.StateLocked}, password: "ann's old password"}
	d := cli.StoreDeps(postgres.NewStores(e.db))
	d.Directory, d.DirectoryStore = dir, e.stores.Directory
	e.svc = newServiceOver(d, newEngineHasher(), e.clock.Now)
	return e, dir
}

func (e *engine) directoryWrites() int {
	e.t.Helper()
	return len(e.auditEvents(audit.DirectoryWritten))
}

// auditEvents lists the details of every audit event of action, oldest first.
func (e *engine) auditEvents(action string) []string {
	e.t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), `SELECT details FROM audit_events WHERE action = $1 ORDER BY id`, action)
	if err != nil {
		e.t.Fatal(err)
	}
	details, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		e.t.Fatal(err)
	}
	return details
}

// A write the directory refuses, or cannot take, leaves unlockd's record as it was: the reset link
// still works, the account is still locked, and no write is recorded; the attempt is, with why.
func TestADirectoryWriteAndItsRecordGoTogether(t *testing.T) {
	ctx := context.Background()
	e, dir := newDirectoryEngine(t)
	flow, err := account.NewFlow(account.PurposeUnlock, "ann", account.ChannelEmail)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "ann", Purpose: account.PurposeUnlock, Client: "192.0.2.1", Flow: flow.Nonce}); err != nil {
		t.Fatal(err)
	}
	code := e.lastCode("ann@example.com")

	dir.down = true
	_, err = e.svc.SelfService.UnlockWithCode(ctx, account.Proof{Flow: flow, Code: code, Client: "192.0.2.1"})
	if account.ErrorCode(err) != account.EDIRECTORY {
		t.Fatalf("an unlock with the directory down: %v; want the directory's outage", err)
	}
	dir.down = false
	if s := e.state("ann"); s != account.StateLocked || e.directoryWrites() != 0 || len(e.auditEvents(audit.DirectoryWriteFailed)) != 0 {
		t.Fatalf("after the outage ann is %s with %d directory writes; want locked, none, and no write tried (the read failed first)", s, e.directoryWrites())
	}

	// The directory reads but does not take the unlock: the same, and the attempt is recorded.
	e.clock.Advance(account.SendWindow)
	if err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "ann", Purpose: account.PurposeUnlock, Client: "192.0.2.1", Flow: flow.Nonce}); err != nil {
		t.Fatal(err)
	}
	dir.writesDown = true
	if _, err = e.svc.SelfService.UnlockWithCode(ctx, account.Proof{Flow: flow, Code: e.lastCode("ann@example.com"), Client: "192.0.2.1"}); account.ErrorCode(err) != account.EDIRECTORY {
		t.Fatalf("an unlock the directory does not take: %v; want the directory's outage", err)
	}
	dir.writesDown = false
	failed := e.auditEvents(audit.DirectoryWriteFailed)
	if s := e.state("ann"); s != account.StateLocked || e.directoryWrites() != 0 || len(failed) != 1 ||
		audit.DetailValue(failed[0], "operation") != "unlock" || !strings.Contains(audit.DetailValue(failed[0], "error"), "cannot be reached") {
		t.Fatalf("after the failed write ann is %s, %d writes, failed attempts %q; want locked, none, the unlock's", s, e.directoryWrites(), failed)
	}

	// The code was used up by the failed unlock; the owner asks for another one.
	e.clock.Advance(account.SendWindow)
	if err := e.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "ann", Purpose: account.PurposeUnlock, Client: "192.0.2.1", Flow: flow.Nonce}); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.SelfService.UnlockWithCode(ctx, account.Proof{Flow: flow, Code: e.lastCode("ann@example.com"), Client: "192.0.2.1"})
	if err != nil || res.Outcome != account.UnlockDone {
		t.Fatalf("UnlockWithCode = %+v, %v", res, err)
	}
	if s := e.state("ann"); s != account.StateActive || dir.unlocks != 1 || e.directoryWrites() != 1 {
		t.Fatalf("ann is %s, %d directory unlocks, %d recorded; want active, 1, 1", s, dir.unlocks, e.directoryWrites())
	}

	dir.refuse = account.DirectoryRefusal(account.DirectoryRuleQuality, "Password fails quality checking policy")
	const pw = "paper boats on a winter canal"
	if _, err := e.svc.SelfService.CompleteReset(ctx, res.ResetToken, pw, pw, "192.0.2.1", "en"); account.ErrorCode(err) != account.EINVALID {
		t.Fatalf("a refused password: %v; want the directory's refusal", err)
	}
	dir.refuse = nil
	if failed := e.auditEvents(audit.DirectoryWriteFailed); len(failed) != 2 || audit.DetailValue(failed[1], "operation") != "set_password" ||
		!strings.Contains(audit.DetailValue(failed[1], "error"), "quality") {
		t.Fatalf("failed attempts %q; want the refused password's, with the directory's words", failed)
	}
	if _, err := e.svc.SelfService.CompleteReset(ctx, res.ResetToken, pw, pw, "192.0.2.1", "en"); err != nil {
		t.Fatalf("the link after a refusal: %v; want it still working", err)
	}
	if dir.password != pw || e.directoryWrites() != 2 {
		t.Errorf("directory password %q, %d writes recorded; want the new one, 2", dir.password, e.directoryWrites())
	}
}

// Fifty administrators unlocking one directory person at once: one unlock is carried out in the
// directory and recorded, the others find the person unlocked.
func TestConcurrentUnlocksOfADirectoryPersonUnlockOnce(t *testing.T) {
	ctx := context.Background()
	e, dir := newDirectoryEngine(t)
	admin := account.Actor{Name: "admin:root", Role: account.RoleAdmin}
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := e.svc.Staff.Unlock(ctx, "ann", "ticket 9", admin)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case account.ErrorCode(err) != account.EINVALID:
			t.Errorf("unlock: %v", err)
		}
	}
	if ok != 1 || dir.unlocks != 1 || e.directoryWrites() != 1 || e.state("ann") != account.StateActive {
		t.Errorf("%d unlocks answered, %d in the directory, %d recorded, ann %s; want 1, 1, 1, active",
			ok, dir.unlocks, e.directoryWrites(), e.state("ann"))
	}
}
