package account

import (
	"context"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/audit"
)

// AuditLog reads and checks the audit log, and records API calls and refused staff actions.
type AuditLog struct {
	*kit
	api   APIStore
	admin AdminStore
}

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
func (s *AuditLog) AuditAPIRequest(ctx context.Context, actor Actor, method, path string, status int) error {
	return s.api.RecordAPIRequest(ctx, actor, method, path, status, s.now())
}

// AuditEvents reads the audit log.
func (s *AuditLog) AuditEvents(ctx context.Context, q AuditQuery) ([]*audit.Event, error) {
	return s.api.AuditEvents(ctx, q)
}

// ImportFields is one account as another application sends it. A nil field is left as it is (a
// new account is a user, without phone, display name or password hash).
type ImportFields struct {
	Username                                      string
	Email, Phone, DisplayName, Role, PasswordHash *string
	Active                                        *bool // nil: unchanged
	// Language ("en", "zh-CN", or "" to learn it again) and TimeZone (an IANA name, or "" for the
	// organisation's) of the owner's messages and pages; nil: unchanged.
	Language, TimeZone *string
}

// PutAccount creates or updates one account by username, idempotently (the CRM's sync). The hash,
// when given, is checked as an import would be, and a new one ends the account's sessions and tells
// the owner. The role is written as every role is (roles.go): a
// service token manages plain accounts only. It reports whether the account was created.
func (s *Accounts) PutAccount(ctx context.Context, in ImportFields, actor Actor) (bool, error) {
	current, err := s.accountByUsername(ctx, in.Username)
	if err != nil {
		return false, err
	}
	var have Account
	if current != nil {
		have = *current
	}
	// A directory account's contact details, password and state are the directory's; how its
	// owner reads (language, time zone) is unlockd's.
	if have.InDirectory() && (in.Email != nil || in.Phone != nil || in.DisplayName != nil || in.PasswordHash != nil || in.Active != nil) {
		return false, Fail(EINVALID, "err_directory_account", nil,
			"%s lives in the directory: its email, phone, display name, password and state are changed there", have.Username)
	}
	// Refused early and plainly here; the store checks again against the account as it stands.
	role := Role(given(in.Role, ""))
	if _, err := CheckRoleWrite(actor, have.Role, role); err != nil {
		return false, err
	}
	a, err := validateNew(in.Username, given(in.Email, have.Email), given(in.Phone, have.Phone),
		given(in.DisplayName, have.DisplayName), role)
	if err != nil {
		return false, err
	}
	hash := given(in.PasswordHash, "")
	if hash != "" {
		if err := s.opts.ValidHash(hash); err != nil {
			return false, Errorf(EINVALID, "password_hash: %v", err)
		}
	}
	if lang := given(in.Language, ""); lang != "" && !ValidLanguage(lang) {
		return false, Fail(EINVALID, "err_language", nil, "language %q must be en, zh-CN or empty", lang)
	}
	if err := checkTimeZone(given(in.TimeZone, "")); err != nil {
		return false, err
	}
	// The write and the (de)activation it asks for are one unit: both or neither.
	var created int
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		var err error
		created, _, err = s.accounts.ImportAccounts(ctx, []ImportRow{{Line: 1, Account: a, PasswordHash: hash}}, "set through the API", actor, s.passwordSet)
		if err != nil || (in.Active == nil && in.Language == nil && in.TimeZone == nil) {
			return err
		}
		current, err := s.AccountByLogin(ctx, a.Username)
		if err != nil {
			return err
		}
		if in.Language != nil && *in.Language != current.Language {
			if err := s.accounts.SetLanguage(ctx, current.ID, *in.Language); err != nil {
				return err
			}
		}
		if in.TimeZone != nil && *in.TimeZone != current.TimeZone {
			if err := s.accounts.SetTimeZone(ctx, current.ID, *in.TimeZone); err != nil {
				return err
			}
		}
		if in.Active == nil {
			return nil
		}
		// Deactivation follows the source of truth idempotently: already so is not an error.
		switch disabled := current.State == StateDisabled; {
		case !*in.Active && !disabled:
			_, err = s.staff.Disable(ctx, a.Username, "deactivated by "+actor.Name, actor)
		case *in.Active && disabled:
			_, err = s.staff.Enable(ctx, a.Username, "reactivated by "+actor.Name, actor)
		}
		return err
	})
	return created == 1, err
}

// given is *p, or else when p is nil.
func given(p *string, otherwise string) string {
	if p == nil {
		return otherwise
	}
	return *p
}

// accountByUsername finds the account whose username is name (any letter case); nil when none,
// even when name is another account's email address or phone.
func (s *Accounts) accountByUsername(ctx context.Context, name string) (*Account, error) {
	a, err := s.AccountByLogin(ctx, name)
	if ErrorCode(err) == ENOTFOUND || (err == nil && !strings.EqualFold(a.Username, strings.TrimSpace(name))) {
		return nil, nil
	}
	return a, err
}

// VerifyAudit checks the whole audit chain: the number of events verified, and an *audit.Problem
// at the first bad one.
func (s *AuditLog) VerifyAudit(ctx context.Context) (int64, error) { return s.api.VerifyAudit(ctx) }
