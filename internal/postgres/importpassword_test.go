package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/postgres"
	"github.com/unlockd/unlockd/internal/secret"
)

// passwordSetEnv is an account with sessions a test opens and looks for, over the real service.
type passwordSetEnv struct {
	*engine
	a     *account.Account
	codec scs.GobCodec
	store *postgres.SessionStore
}

func newPasswordSetEnv(t *testing.T) *passwordSetEnv {
	e := newEngine(t)
	return &passwordSetEnv{engine: e, a: e.add("alice"), store: postgres.NewSessionStore(e.db, scs.GobCodec{}, engineKey)}
}

// open saves a session of the account under each token, as a sign-in does.
func (p *passwordSetEnv) open(tokens ...string) {
	p.t.Helper()
	for _, token := range tokens {
		data, err := p.codec.Encode(p.clock.Now().Add(12*time.Hour), map[string]any{postgres.SessionAccountKey: p.a.ID})
		if err != nil {
			p.t.Fatal(err)
		}
		if err := p.store.CommitCtx(context.Background(), token, data, p.clock.Now().Add(time.Hour)); err != nil {
			p.t.Fatal(err)
		}
	}
}

// live lists the tokens whose sessions still load.
func (p *passwordSetEnv) live(tokens ...string) []string {
	p.t.Helper()
	var out []string
	for _, token := range tokens {
		_, ok, err := p.store.FindCtx(context.Background(), token)
		if err != nil {
			p.t.Fatal(err)
		}
		if ok {
			out = append(out, token)
		}
	}
	return out
}

// rememberedWrong counts the account's remembered wrong passwords.
func (p *passwordSetEnv) rememberedWrong() (n int) {
	p.t.Helper()
	if err := p.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM failed_passwords WHERE account_id = $1`, p.a.ID).Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	return n
}

func (p *passwordSetEnv) hash(pw string) string {
	p.t.Helper()
	h, err := newEngineHasher().Hash(context.Background(), pw)
	if err != nil {
		p.t.Fatal(err)
	}
	return h
}

var crmToken = account.Actor{Name: "token:crm", Role: account.RoleService}

// A hash the CRM puts for an existing account (PUT /api/v1/accounts/{username}) is a new password,
// as a reset is: a session someone took ends with every other, a wrong password remembered from
// before no longer refuses the new one as repeated, and the owner is told once, on the address on
// file. The same hash again, or a put without one, ends and tells nothing.
func TestPutAccountWithANewHashEndsSessionsAndTellsTheOwner(t *testing.T) {
	p := newPasswordSetEnv(t)
	ctx := context.Background()
	p.open("laptop", "stolen")
	// The new password was tried wrongly before it was set (a typo of the owner's, a guess).
	newPassword := "a brand new passphrase for alice"
	if _, err := p.signIn("alice", newPassword); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("the new password before the put: %v", err)
	}
	if n := p.rememberedWrong(); n != 1 {
		t.Fatalf("%d wrong passwords remembered before the put, want 1", n)
	}

	hash := p.hash(newPassword)
	// The same put moves the address too: the notice still goes to the one on file.
	created, err := p.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", Email: ptr("alice@new.example.com"), PasswordHash: &hash}, crmToken)
	if err != nil || created {
		t.Fatalf("PutAccount = %v, %v", created, err)
	}
	if live := p.live("laptop", "stolen"); len(live) != 0 {
		t.Errorf("sessions %v still load after a new password was put", live)
	}
	if n := p.rememberedWrong(); n != 0 {
		t.Errorf("%d wrong passwords still remembered after a new password was put", n)
	}
	notices := outboxRows(t, p.db, "password_changed")
	if len(notices) != 1 || notices[0].recipient != "alice@example.com" || notices[0].channel != account.ChannelEmail {
		t.Errorf("password_changed notices %+v, want one email to alice@example.com", notices)
	}
	if _, err := p.signIn("alice", newPassword); err != nil {
		t.Errorf("the new password, tried wrongly before it was put: %v; want signed in", err)
	}

	// The sync sends the same hash again, then a row without one: nothing ends, nobody is told.
	for _, put := range []struct {
		name string
		in   account.ImportFields
	}{
		{"the same hash", account.ImportFields{Username: "alice", PasswordHash: &hash}},
		{"no hash", account.ImportFields{Username: "alice", DisplayName: ptr("Alice")}},
	} {
		p.open("after " + put.name)
		if _, err := p.svc.Accounts.PutAccount(ctx, put.in, crmToken); err != nil {
			t.Fatal(err)
		}
		if live := p.live("after " + put.name); len(live) != 1 {
			t.Errorf("a put of %s ended the session", put.name)
		}
	}
	if n := len(outboxRows(t, p.db, "password_changed")); n != 1 {
		t.Errorf("%d password_changed notices after puts that set no new password, want still 1", n)
	}

	// The stored hash changes afterwards (the owner chooses a password of their own; an upgrade at
	// a sign-in is the same write). The sync sends its hash again: the password stays the owner's,
	// nothing ends, nobody is told.
	own := p.hash("alice's own choice, made since")
	if _, err := p.db.Pool.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, p.a.ID, own); err != nil {
		t.Fatal(err)
	}
	p.open("after the owner's change")
	if _, err := p.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", PasswordHash: &hash}, crmToken); err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := p.db.Pool.QueryRow(ctx, `SELECT password_hash FROM accounts WHERE id = $1`, p.a.ID).Scan(&stored); err != nil || stored != own {
		t.Errorf("the sync's hash sent again replaced the owner's since (%v)", err)
	}
	if live := p.live("after the owner's change"); len(live) != 1 || len(outboxRows(t, p.db, "password_changed")) != 1 {
		t.Error("the sync's hash sent again ended a session or told the owner")
	}
	// A hash the sync has not sent before is a new password again.
	again := p.hash("the CRM's next passphrase for alice")
	if _, err := p.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", PasswordHash: &again}, crmToken); err != nil {
		t.Fatal(err)
	}
	if live := p.live("after the owner's change"); len(live) != 0 || len(outboxRows(t, p.db, "password_changed")) != 2 {
		t.Error("a hash the sync had not sent before did not end the sessions and tell the owner")
	}

	// A new account's hash is its first password: there is nobody to tell yet.
	other := p.hash("bob's own first passphrase")
	if created, err := p.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "bob", Email: ptr("bob@example.com"), PasswordHash: &other}, crmToken); err != nil || !created {
		t.Fatalf("a new account: %v, %v", created, err)
	}
	if n := len(outboxRows(t, p.db, "password_changed")); n != 2 {
		t.Errorf("%d password_changed notices after creating an account with a hash, want still 2", n)
	}
}

// `unlockd user import` is the same write: a row with a new hash for an existing account ends its
// sessions and tells the owner; the same file again changes nothing.
func TestImportWithANewHashEndsSessionsAndTellsTheOwner(t *testing.T) {
	p := newPasswordSetEnv(t)
	ctx := context.Background()
	p.open("laptop", "stolen")
	p.fail("alice", 1)
	file := "username,email,phone,display_name,role,password_hash\nalice,alice@example.com,,Alice,,\"" + p.hash("imported passphrase for alice") + "\"\n"
	for round := range 2 {
		rows, err := account.ParseImport(strings.NewReader(file), secret.ValidateHash, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, updated, err := p.svc.Accounts.ImportAccounts(ctx, rows, account.Actor{Name: "cli"}); err != nil || updated != 1 {
			t.Fatalf("import %d: %d updated, %v", round+1, updated, err)
		}
		if round == 0 {
			if live := p.live("laptop", "stolen"); len(live) != 0 {
				t.Errorf("sessions %v still load after an import set a new password", live)
			}
			if n := p.rememberedWrong(); n != 0 {
				t.Errorf("%d wrong passwords still remembered after an import set a new password", n)
			}
			p.open("after")
		} else if live := p.live("after"); len(live) != 1 {
			t.Error("importing the same hash again ended the session")
		}
		if n := len(outboxRows(t, p.db, "password_changed")); n != 1 {
			t.Errorf("after import %d: %d password_changed notices, want 1", round+1, n)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// An account whose hash an import or the API set before the digest of that hash was kept: the
// migration marks it (from the audit log), and the next hash a sync sends is taken as the one it
// sent before: its digest kept, the password left as it is (a sign-in may have upgraded the
// stored hash meanwhile, or the owner chosen another), no session ended and nobody told. An
// account no import ever gave a hash is not marked: a hash for it is a new password.
func TestImportedHashMigrationMarksTheAccountsAnImportGaveAHash(t *testing.T) {
	p := newPasswordSetEnv(t)
	ctx := context.Background()
	carol := p.add("carol")
	first := p.hash("the CRM's passphrase for alice")
	if _, err := p.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", PasswordHash: &first}, crmToken); err != nil {
		t.Fatal(err)
	}
	told := len(outboxRows(t, p.db, "password_changed"))

	// The state before the migration: no digest kept; then a sign-in's upgrade of alice's hash.
	m, err := postgres.NewMigrator(p.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Back to before migration 16, whatever came after it.
	for applied := true; applied; {
		if err := m.Down(ctx); err != nil {
			t.Fatal(err)
		}
		status, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		applied = false
		for _, st := range status {
			applied = applied || (st.Version == 16 && st.Applied)
		}
	}
	upgraded := p.hash("the CRM's passphrase for alice")
	if _, err := p.db.Pool.Exec(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, p.a.ID, upgraded); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatal(err)
	}
	digest := func(id int64) []byte {
		var d []byte
		if err := p.db.Pool.QueryRow(ctx, `SELECT imported_hash_sha256 FROM accounts WHERE id = $1`, id).Scan(&d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := digest(p.a.ID); d == nil || len(d) != 0 {
		t.Fatalf("alice's digest after the migration is %x (nil %t), want marked empty", d, d == nil)
	}
	if d := digest(carol.ID); d != nil {
		t.Fatalf("carol's digest after the migration is %x, want none", d)
	}

	p.open("laptop")
	if _, err := p.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", PasswordHash: &first}, crmToken); err != nil {
		t.Fatal(err)
	}
	if live := p.live("laptop"); len(live) != 1 || len(outboxRows(t, p.db, "password_changed")) != told {
		t.Error("the sync's first hash after the migration ended the session or told the owner")
	}
	if d := digest(p.a.ID); len(d) != 32 {
		t.Errorf("the digest after the sync is %x, want the hash's", d)
	}
	var stored string
	if err := p.db.Pool.QueryRow(ctx, `SELECT password_hash FROM accounts WHERE id = $1`, p.a.ID).Scan(&stored); err != nil || stored != upgraded {
		t.Errorf("the sync's first hash after the migration replaced the stored one (%v)", err)
	}
	// Carol's first hash from a sync is a new password.
	other := p.hash("the CRM's passphrase for carol")
	if _, err := p.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "carol", PasswordHash: &other}, crmToken); err != nil {
		t.Fatal(err)
	}
	if n := len(outboxRows(t, p.db, "password_changed")); n != told+1 {
		t.Errorf("%d password_changed notices after carol's first hash, want %d", n, told+1)
	}
}
