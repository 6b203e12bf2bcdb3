package account_test

import (
	"strings"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// A token needs a plain name and a token role; the token is returned once, and only its hash is
// stored.
func TestCreateToken(t *testing.T) {
	w := newWorld(t)
	bad := []struct {
		name string
		role account.Role
		id   string
	}{
		{"", account.RoleAdmin, "err_token_name"},
		{"-crm", account.RoleAdmin, "err_token_name"},
		{"my crm", account.RoleAdmin, "err_token_name"},
		{"crmé", account.RoleAdmin, "err_token_name"},
		{strings.Repeat("a", 65), account.RoleAdmin, "err_token_name"},
		{"crm", account.RoleUser, "err_token_role"},
		{"crm", "", "err_token_role"},
		{"crm", "root", "err_token_role"},
	}
	for _, tt := range bad {
		token, got, err := w.svc.Tokens.CreateToken(ctx, tt.name, tt.role, admin)
		e, _ := err.(*account.Error)
		if token != "" || got != nil || e == nil || e.Code != account.EINVALID || e.MessageID != tt.id {
			t.Errorf("CreateToken(%.10q, %q) = %q, %v; want %s", tt.name, tt.role, token, err, tt.id)
		}
	}
	if len(w.tokens.byHash) != 0 {
		t.Fatal("a refused token was stored")
	}
	for _, role := range []account.Role{account.RoleHelpdesk, account.RoleAuditor, account.RoleAdmin, account.RoleService} {
		name := "crm." + string(role)
		token, got, err := w.svc.Tokens.CreateToken(ctx, name, role, admin)
		if err != nil || got.Name != name || got.Role != role || !got.CreatedAt.Equal(t0) {
			t.Fatalf("CreateToken(%s) = %+v, %v", role, got, err)
		}
		if !strings.HasPrefix(token, "ulk_") || len(token) < 40 {
			t.Errorf("token %q, want ulk_ and 32 random bytes", token)
		}
		if w.tokens.byHash[string(secret.HashToken(token))] != got {
			t.Errorf("the stored hash is not the token's")
		}
	}
	if _, _, err := w.svc.Tokens.CreateToken(ctx, strings.Repeat("a", 64), account.RoleAdmin, admin); err != nil {
		t.Errorf("a name of 64 characters: %v", err)
	}
}

// A bearer too short or too long is refused without a lookup; a live token authenticates; a revoked
// one does not.
func TestAuthenticate(t *testing.T) {
	w := newWorld(t)
	token, created, err := w.svc.Tokens.CreateToken(ctx, "crm", account.RoleService, admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, bearer := range []string{"", "ulk_12345", strings.Repeat("a", 201)} {
		if got, err := w.svc.Tokens.Authenticate(ctx, bearer); got != nil || account.ErrorCode(err) != account.ENOTFOUND {
			t.Errorf("Authenticate(%d bytes) = %v, %v; want ENOTFOUND", len(bearer), got, err)
		}
	}
	if w.tokens.lookups != 0 {
		t.Fatalf("%d lookups for bearers of impossible length", w.tokens.lookups)
	}
	if got, err := w.svc.Tokens.Authenticate(ctx, token); err != nil || got.ID != created.ID {
		t.Fatalf("Authenticate(token) = %v, %v", got, err)
	}
	if _, err := w.svc.Tokens.Authenticate(ctx, token+"x"); account.ErrorCode(err) != account.ENOTFOUND {
		t.Errorf("another bearer: %v", err)
	}
	list, err := w.svc.Tokens.Tokens(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "crm" {
		t.Errorf("Tokens = %+v, %v", list, err)
	}
	if err := w.svc.Tokens.RevokeToken(ctx, "crm", admin); err != nil || w.tokens.revoked[0] != "crm" {
		t.Fatalf("RevokeToken = %v", err)
	}
	if _, err := w.svc.Tokens.Authenticate(ctx, token); account.ErrorCode(err) != account.ENOTFOUND {
		t.Errorf("a revoked token: %v, want ENOTFOUND", err)
	}
	wantCode(t, w.svc.Tokens.RevokeToken(ctx, "nope", admin), account.ENOTFOUND)
}
