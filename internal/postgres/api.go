package postgres

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// RecordAPIRequest audits one API call.
func (s *API) RecordAPIRequest(ctx context.Context, actor account.Actor, method, path string, status int, now time.Time) error {
	return unavailable("audit api request", s.db.Transact(ctx, func(tx pgx.Tx) error {
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.APIRequest, ClientIP: actor.Client,
			Details: audit.Details("method", method, "path", path, "status", strconv.Itoa(status))})
	}))
}

// AuditEvents reads the audit log for the API.
func (s *API) AuditEvents(ctx context.Context, q account.AuditQuery) ([]*audit.Event, error) {
	return NewAuditStore(s.reads()).Events(ctx, AuditFilter{AccountID: q.AccountID, Action: q.Action, Actor: q.Actor,
		Since: q.Since, BeforeID: q.BeforeID, Limit: q.Limit})
}

// VerifyAudit walks the audit chain.
func (s *API) VerifyAudit(ctx context.Context) (int64, error) {
	return NewAuditStore(s.reads()).Verify(ctx)
}
