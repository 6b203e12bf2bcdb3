package account

import (
	"context"
	"time"

	"github.com/unlockd/unlockd/internal/audit"
)

// APIStore keeps what the JSON API needs beyond the other stores.
type APIStore interface {
	// RecordAPIRequest audits one API call.
	RecordAPIRequest(ctx context.Context, actor Actor, method, path string, status int, now time.Time) error
	// AuditEvents reads the audit log, newest first.
	AuditEvents(ctx context.Context, q AuditQuery) ([]*audit.Event, error)
	// VerifyAudit walks the chain.
	VerifyAudit(ctx context.Context) (int64, error)
}

// AuditQuery selects audit events; zero fields do not filter.
type AuditQuery struct {
	AccountID *int64
	Action    string
	Actor     string
	Since     time.Time
	BeforeID  int64
	Limit     int
}

// AuditAPIRequest records that a token called the API, whatever the outcome.
func (s *Service) AuditAPIRequest(ctx context.Context, actor Actor, method, path string, status int) error {
	return s.store.RecordAPIRequest(ctx, actor, method, path, status, s.now())
}

// AuditEvents reads the audit log.
func (s *Service) AuditEvents(ctx context.Context, q AuditQuery) ([]*audit.Event, error) {
	return s.store.AuditEvents(ctx, q)
}

// ImportFields is one account as another application sends it.
type ImportFields struct {
	Username, Email, Phone, DisplayName, Role, PasswordHash string
	Active                                                  *bool // nil: unchanged
}

// PutAccount creates or updates one account by username, idempotently (the CRM's sync). The hash,
// when given, is checked as an import would be. It reports whether the account was created.
func (s *Service) PutAccount(ctx context.Context, in ImportFields, actor Actor) (bool, error) {
	a, err := validateNew(in.Username, in.Email, in.Phone, in.DisplayName, Role(in.Role))
	if err != nil {
		return false, err
	}
	if in.PasswordHash != "" && s.opts.ValidHash != nil {
		if err := s.opts.ValidHash(in.PasswordHash); err != nil {
			return false, Errorf(EINVALID, "password_hash: %v", err)
		}
	}
	created, _, err := s.store.ImportAccounts(ctx, []ImportRow{{Line: 1, Account: a, PasswordHash: in.PasswordHash}}, actor)
	if err != nil || in.Active == nil {
		return created == 1, err
	}
	// Deactivation follows the source of truth idempotently: already so is not an error.
	current, err := s.AccountByLogin(ctx, a.Username)
	if err != nil {
		return created == 1, err
	}
	switch disabled := current.State == StateDisabled; {
	case !*in.Active && !disabled:
		_, err = s.Disable(ctx, a.Username, "deactivated by "+actor.Name, actor)
	case *in.Active && disabled:
		_, err = s.Enable(ctx, a.Username, "reactivated by "+actor.Name, actor)
	}
	return created == 1, err
}

// VerifyAudit checks the whole audit chain: the number of events verified, and an *audit.Problem
// at the first bad one.
func (s *Service) VerifyAudit(ctx context.Context) (int64, error) { return s.store.VerifyAudit(ctx) }
