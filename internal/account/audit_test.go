package account_test

import (
	"testing"

	"github.com/unlockd/unlockd/internal/account"
)

// Refused staff actions and API calls are recorded; the audit log reads and verifies through the
// store.
func TestAuditLog(t *testing.T) {
	w := newWorld(t)
	if err := w.svc.Audit.RecordRefused(ctx, helpdesk, "freeze", "alice"); err != nil || len(w.admin.refused) != 1 || w.admin.refused[0] != "admin:hd freeze alice" {
		t.Errorf("RecordRefused = %v, %q", err, w.admin.refused)
	}
	token := account.Actor{Name: "token:crm", Role: account.RoleService}
	if err := w.svc.Audit.AuditAPIRequest(ctx, token, "PUT", "/api/v1/accounts/alice", 403); err != nil || w.api.calls[0] != "token:crm PUT /api/v1/accounts/alice 403" {
		t.Errorf("AuditAPIRequest = %v, %q", err, w.api.calls)
	}
	id := int64(7)
	q := account.AuditQuery{AccountID: &id, Action: "account.locked", Limit: 10}
	if evs, err := w.svc.Audit.AuditEvents(ctx, q); err != nil || len(evs) != 1 || w.api.queries[0].AccountID != &id || w.api.queries[0].Limit != 10 {
		t.Errorf("AuditEvents = %v, %v, asked %+v", evs, err, w.api.queries)
	}
	w.api.chain = 42
	if n, err := w.svc.Audit.VerifyAudit(ctx); err != nil || n != 42 {
		t.Errorf("VerifyAudit = %d, %v", n, err)
	}
}
