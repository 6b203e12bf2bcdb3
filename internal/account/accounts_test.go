package account_test

import (
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
)

// AddAccount validates what it is given, writes the role as every role is written and hashes the
// password.
func TestAddAccount(t *testing.T) {
	w := newWorld(t)
	bad := []struct {
		name string
		in   account.NewAccount
		code string
	}{
		{"bad username", account.NewAccount{Username: "-alice", Email: "alice@example.com"}, account.EINVALID},
		{"no email", account.NewAccount{Username: "alice"}, account.EINVALID},
		{"bad phone", account.NewAccount{Username: "alice", Email: "alice@example.com", Phone: "0800"}, account.EINVALID},
		{"bad role", account.NewAccount{Username: "alice", Email: "alice@example.com", Role: "root"}, account.EINVALID},
		{"overlong password", account.NewAccount{Username: "alice", Email: "alice@example.com", Password: strings.Repeat("x", 257)}, account.EINVALID},
		{"staff role by the help desk", account.NewAccount{Username: "alice", Email: "alice@example.com", Role: account.RoleAdmin}, account.EFORBIDDEN},
	}
	for _, tt := range bad {
		_, err := w.svc.Accounts.AddAccount(ctx, tt.in, helpdesk)
		if account.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if len(w.accounts.byID) != 0 || w.hasher.hashed != 0 {
		t.Fatal("a refused account was written or hashed")
	}
	a, err := w.svc.Accounts.AddAccount(ctx, account.NewAccount{Username: " alice ", Email: " alice@example.com ",
		Phone: "+1 (415) 555-0100", Password: "correct horse"}, helpdesk)
	if err != nil {
		t.Fatal(err)
	}
	stored := w.accounts.byID[a.ID]
	if stored.Username != "alice" || stored.Email != "alice@example.com" || stored.Phone != "+14155550100" ||
		stored.Role != account.RoleUser || stored.State != account.StateActive || stored.PasswordHash != "hash:correct horse" {
		t.Errorf("stored %+v", stored)
	}
	if len(w.outbox.msgs) != 0 {
		t.Errorf("an active account was sent %+v", w.outbox.msgs)
	}
	_, err = w.svc.Accounts.AddAccount(ctx, account.NewAccount{Username: "ALICE", Email: "other@example.com"}, admin)
	wantCode(t, err, account.ECONFLICT)
	if a, err := w.svc.Accounts.AddAccount(ctx, account.NewAccount{Username: "root", Email: "root@example.com", Role: account.RoleAdmin}, cli); err != nil || a.Role != account.RoleAdmin {
		t.Errorf("an administrator from the command line: %+v, %v", a, err)
	}
}

// A pending account is sent its first code with it; the code belongs to no flow, so any verify
// flow of the account takes it.
func TestAddAccountPendingSendsAVerifyCode(t *testing.T) {
	w := newWorld(t)
	a, err := w.svc.Accounts.AddAccount(ctx, account.NewAccount{Username: "alice", Email: "alice@example.com", Pending: true}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != account.StatePendingVerification || len(w.codes.codes) != 1 {
		t.Fatalf("state %s, %d codes", a.State, len(w.codes.codes))
	}
	c := w.codes.codes[0]
	if c.Purpose != account.PurposeVerify || c.FlowHash != nil || c.Client != admin.Client {
		t.Errorf("code %+v, want a verify code of no flow", c.Code)
	}
	if w.ledger.counts["client_sends|"+admin.Client] != 0 {
		t.Error("the first code counted against the administrator's send limit")
	}
	flow, _ := account.NewFlow(account.PurposeVerify, "alice", account.ChannelEmail)
	got, err := w.svc.SelfService.VerifyContact(ctx, proof(flow, w.outbox.lastCode("alice@example.com")))
	if err != nil || got != account.VerifyDone || w.accounts.byID[a.ID].State != account.StateActive {
		t.Errorf("VerifyContact = %v, %v", got, err)
	}
}

// Finding and listing accounts.
func TestFindAndListAccounts(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", func(a *account.Account) { a.Phone = "+14155550100" })
	w.add("bob", locked)
	if got, err := w.svc.Accounts.AccountByLogin(ctx, " +1 415 555 0100 "); err != nil || got.ID != a.ID {
		t.Errorf("by phone as typed: %v, %v", got, err)
	}
	for _, login := range []string{"", "  ", "al\x01ice", strings.Repeat("a", 255)} {
		_, err := w.svc.Accounts.AccountByLogin(ctx, login)
		wantCode(t, err, account.ENOTFOUND)
	}
	if w.accounts.lookups != 1 {
		t.Errorf("%d lookups, want only the valid login looked up", w.accounts.lookups)
	}
	if got, err := w.svc.Accounts.AccountByID(ctx, a.ID); err != nil || got.Username != "alice" {
		t.Errorf("AccountByID = %v, %v", got, err)
	}
	_, err := w.svc.Accounts.ListAccounts(ctx, "sleeping", 10)
	wantCode(t, err, account.EINVALID)
	list, err := w.svc.Accounts.ListAccounts(ctx, account.StateLocked, 10)
	if err != nil || len(list) != 1 || list[0].Username != "bob" {
		t.Errorf("locked accounts %+v, %v", list, err)
	}
	if list, _ := w.svc.Accounts.ListAccounts(ctx, "", 10); len(list) != 2 || list[0].Username != "alice" {
		t.Errorf("all accounts %+v", list)
	}
}

// An import is written by the store in one go.
func TestImportAccounts(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	rows, err := account.ParseImport(strings.NewReader("username,email,phone,display_name,role,password_hash\n"+
		"alice,alice@new.example.com,,Alice,,\nbob,bob@example.com,,,,\n"), func(string) error { return nil }, false)
	if err != nil {
		t.Fatal(err)
	}
	created, updated, err := w.svc.Accounts.ImportAccounts(ctx, rows, admin)
	if err != nil || created != 1 || updated != 1 || len(w.accounts.imports) != 1 {
		t.Errorf("ImportAccounts = %d, %d, %v", created, updated, err)
	}
}

func ptr[T any](v T) *T { return &v }

// A hash the API or an import sets for an existing account is a new password: the owner is told
// once, at the address on file (the row may move it), and the account's sessions end; the same
// hash again, or a row without one, tells and ends nothing.
func TestPutAccountWithANewHashTellsTheOwner(t *testing.T) {
	const newHash = "$2y$05$CzLPJMs/vE2WefOWandehekDdmhJJq1KHjmErAVZVqs6.p7m8oqzO"
	crm := account.Actor{Name: "token:crm", Role: account.RoleService}
	w := newWorld(t)
	a := w.add("alice")
	epoch := a.SessionEpoch
	if _, err := w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", Email: ptr("alice@new.example.com"), PasswordHash: ptr(newHash)}, crm); err != nil {
		t.Fatal(err)
	}
	if n := len(w.outbox.to("alice@example.com", "password_changed")); n != 1 || len(w.outbox.msgs) != 1 {
		t.Errorf("%d password_changed notices to the address on file of %d messages, want the one", n, len(w.outbox.msgs))
	}
	if a.PasswordHash != newHash || a.SessionEpoch != epoch+1 {
		t.Errorf("hash %q, session epoch %d; want the new hash and the sessions ended", a.PasswordHash, a.SessionEpoch)
	}
	for _, in := range []account.ImportFields{{Username: "alice", PasswordHash: ptr(newHash)}, {Username: "alice", DisplayName: ptr("Alice")}} {
		if _, err := w.svc.Accounts.PutAccount(ctx, in, crm); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := account.ParseImport(strings.NewReader("username,email,phone,display_name,role,password_hash\n"+
		"alice,alice@new.example.com,,Alice,,"+newHash+"\n"), func(string) error { return nil }, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.svc.Accounts.ImportAccounts(ctx, rows, admin); err != nil {
		t.Fatal(err)
	}
	if len(w.outbox.msgs) != 1 || a.SessionEpoch != epoch+1 {
		t.Errorf("%d messages, session epoch %d after the same hash again; want still 1 and %d", len(w.outbox.msgs), a.SessionEpoch, epoch+1)
	}
}

// PutAccount creates or updates by username, checks the role and hash, and follows Active.
func TestPutAccount(t *testing.T) {
	crm := account.Actor{Name: "token:crm", Role: account.RoleService}
	w := newWorld(t)
	w.add("root", func(a *account.Account) { a.Role = account.RoleAdmin })

	created, err := w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", Email: ptr("alice@example.com")}, crm)
	if err != nil || !created {
		t.Fatalf("a new account: %v, %v", created, err)
	}
	a, _ := w.accounts.AccountByLogin(ctx, "alice")
	if a.Role != account.RoleUser || a.State != account.StateActive {
		t.Errorf("created %+v", a)
	}
	created, err = w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "ALICE", DisplayName: ptr("Alice A."), Active: ptr(false)}, crm)
	if err != nil || created {
		t.Fatalf("an update: %v, %v", created, err)
	}
	a = w.accounts.byID[a.ID]
	if a.Email != "alice@example.com" || a.DisplayName != "Alice A." || a.State != account.StateDisabled {
		t.Errorf("updated %+v, want the email kept, the name set, disabled", a)
	}
	if _, err := w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", Active: ptr(false)}, crm); err != nil || len(w.states.transitions) != 1 {
		t.Errorf("disabling again: %v, %d transitions; want none", err, len(w.states.transitions))
	}
	if _, err := w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "alice", Active: ptr(true)}, crm); err != nil || a.State != account.StateActive {
		t.Errorf("enabling: %v, state %s", err, a.State)
	}

	refused := []struct {
		name string
		in   account.ImportFields
		code string
	}{
		{"a staff account", account.ImportFields{Username: "root", DisplayName: ptr("Root")}, account.EFORBIDDEN},
		{"a staff role", account.ImportFields{Username: "carol", Email: ptr("carol@example.com"), Role: ptr("helpdesk")}, account.EFORBIDDEN},
		{"a bad hash", account.ImportFields{Username: "carol", Email: ptr("carol@example.com"), PasswordHash: ptr("hash:x")}, account.EINVALID},
		{"no email", account.ImportFields{Username: "carol"}, account.EINVALID},
	}
	imports := len(w.accounts.imports)
	for _, tt := range refused {
		_, err := w.svc.Accounts.PutAccount(ctx, tt.in, crm)
		if account.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	if len(w.accounts.imports) != imports {
		t.Error("a refused account was written")
	}
	// A username that is another account's email address names a new account, not that one.
	created, err = w.svc.Accounts.PutAccount(ctx, account.ImportFields{Username: "root@example.com", Email: ptr("x@example.com")}, crm)
	if account.ErrorCode(err) != account.EINVALID || created {
		t.Errorf("an email as username: %v, %v; want the username refused", created, err)
	}
}
