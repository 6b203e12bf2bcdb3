package account

import (
	"context"
	"regexp"
	"time"
)

// APITokens makes, lists, revokes and checks the API's bearer tokens.
type APITokens struct {
	*kit
	tokens TokenStore
}

// APIToken is a bearer token of the JSON API, with a name and a role.
type APIToken struct {
	ID         int64
	Name       string
	Role       Role // helpdesk, auditor, admin or service
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// RoleService is the role of another application (the CRM): it checks passwords and provisions
// accounts, nothing else.
const RoleService Role = "service"

// TokenStore keeps API tokens.
type TokenStore interface {
	CreateToken(ctx context.Context, name string, role Role, hash []byte, actor Actor, now time.Time) (*APIToken, error)
	Tokens(ctx context.Context) ([]APIToken, error)
	RevokeToken(ctx context.Context, name string, actor Actor, now time.Time) error
	// TokenByHash finds a live token and notes its use. ENOTFOUND.
	TokenByHash(ctx context.Context, hash []byte, now time.Time) (*APIToken, error)
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateToken makes a token and returns it, in clear, this once.
func (s *APITokens) CreateToken(ctx context.Context, name string, role Role, actor Actor) (string, *APIToken, error) {
	if !tokenName.MatchString(name) {
		return "", nil, Fail(EINVALID, "err_token_name", map[string]any{"Name": name}, "token name %q must be 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	switch role {
	case RoleHelpdesk, RoleAuditor, RoleAdmin, RoleService:
	default:
		return "", nil, Fail(EINVALID, "err_token_role", map[string]any{"Role": string(role)}, "role %q must be helpdesk, auditor, admin or service", role)
	}
	raw, err := s.opts.NewToken()
	if err != nil {
		return "", nil, err
	}
	token := "ulk_" + raw
	t, err := s.tokens.CreateToken(ctx, name, role, s.opts.HashToken(token), actor, s.now())
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

// Tokens lists every token, revoked ones included.
func (s *APITokens) Tokens(ctx context.Context) ([]APIToken, error) { return s.tokens.Tokens(ctx) }

// RevokeToken stops a token from working.
func (s *APITokens) RevokeToken(ctx context.Context, name string, actor Actor) error {
	return s.tokens.RevokeToken(ctx, name, actor, s.now())
}

// Authenticate finds the live token a bearer presents.
func (s *APITokens) Authenticate(ctx context.Context, bearer string) (*APIToken, error) {
	if len(bearer) < 10 || len(bearer) > 200 {
		return nil, Errorf(ENOTFOUND, "unknown token")
	}
	return s.tokens.TokenByHash(ctx, s.opts.HashToken(bearer), s.now())
}
