package account_test

import (
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

var (
	admin    = account.Actor{Name: "admin:root", Client: "192.0.2.9", Role: account.RoleAdmin}
	helpdesk = account.Actor{Name: "admin:hd", Client: "192.0.2.9", Role: account.RoleHelpdesk}
	cli      = account.Actor{Name: "cli"}
)

// Every staff action needs a reason, of at most 500 characters, and touches nothing without one.
func TestStaffActionsNeedAReason(t *testing.T) {
	w := newWorld(t)
	w.add("alice", locked)
	actions := map[string]func(reason string) error{
		"Unlock":  func(r string) error { _, err := w.svc.Staff.Unlock(ctx, "alice", r, admin); return err },
		"Freeze":  func(r string) error { _, err := w.svc.Staff.Freeze(ctx, "alice", r, "", nil, admin); return err },
		"Disable": func(r string) error { _, err := w.svc.Staff.Disable(ctx, "alice", r, admin); return err },
		"Enable":  func(r string) error { _, err := w.svc.Staff.Enable(ctx, "alice", r, admin); return err },
		"UnlockAll": func(r string) error {
			_, err := w.svc.Staff.UnlockAll(ctx, time.Hour, r, admin)
			return err
		},
		"SetRole": func(r string) error {
			_, err := w.svc.Staff.SetRole(ctx, "alice", account.RoleHelpdesk, r, admin)
			return err
		},
		"SetExpiry": func(r string) error {
			_, err := w.svc.Staff.SetExpiry(ctx, "alice", nil, r, admin)
			return err
		},
		"AdminSendReset":          func(r string) error { return w.svc.Staff.AdminSendReset(ctx, "alice", r, admin) },
		"AdminResetSecondFactors": func(r string) error { return w.svc.Staff.AdminResetSecondFactors(ctx, "alice", r, admin) },
		"AdminEndSessions": func(r string) error {
			_, err := w.svc.Staff.AdminEndSessions(ctx, "alice", r, admin)
			return err
		},
	}
	for name, do := range actions {
		for reason, id := range map[string]string{"": "err_reason_required", " \t ": "err_reason_required",
			strings.Repeat("x", 501): "err_reason_too_long", "bad \xff text": "err_reason_too_long"} {
			err := do(reason)
			e, _ := err.(*account.Error)
			if account.ErrorCode(err) != account.EINVALID || e == nil || e.MessageID != id {
				t.Errorf("%s with reason %.8q: %v, want %s", name, reason, err, id)
			}
		}
	}
	if w.accounts.lookups != 0 || len(w.states.transitions) != 0 || len(w.outbox.msgs) != 0 || w.states.roles != nil {
		t.Error("an action without a reason reached the stores")
	}
	// 500 characters, trimmed, are a reason.
	if _, err := w.svc.Staff.Unlock(ctx, "alice", " "+strings.Repeat("é", 500)+" ", admin); err != nil {
		t.Errorf("a reason of 500 characters: %v", err)
	}
	if got := w.states.transitions[0].Reason; got != strings.Repeat("é", 500) {
		t.Errorf("recorded reason %.10q, want it trimmed", got)
	}
}

// Who may lift what: the help desk lifts automatic locks, only an administrator (or the command
// line) an administrator's freeze, and Unlock never enables a disabled account.
func TestStaffUnlockByRole(t *testing.T) {
	until := t0.Add(time.Hour)
	tests := []struct {
		state account.State
		actor account.Actor
		want  bool
	}{
		{account.StateLockedTemporarily, helpdesk, true},
		{account.StateLocked, helpdesk, true},
		{account.StateFrozen, helpdesk, false},
		{account.StateFrozen, admin, true},
		{account.StateFrozen, cli, true},
		{account.StateFrozen, account.Actor{Name: "token:crm", Role: account.RoleService}, false},
		{account.StateFrozen, account.Actor{Name: "admin:aud", Role: account.RoleAuditor}, false},
		{account.StateLocked, cli, true},
		{account.StateDisabled, admin, false},
		{account.StateActive, admin, false},
		{account.StatePendingVerification, admin, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.state)+" by "+tt.actor.Name, func(t *testing.T) {
			w := newWorld(t)
			a := w.add("alice", func(a *account.Account) { a.State, a.LockedUntil = tt.state, &until })
			got, err := w.svc.Staff.Unlock(ctx, "alice", "called in", tt.actor)
			if !tt.want {
				wantCode(t, err, account.EINVALID)
				if a.State != tt.state || len(w.outbox.msgs) != 0 {
					t.Errorf("refused, yet the account is %s and %d messages went out", a.State, len(w.outbox.msgs))
				}
				return
			}
			if err != nil || got.State != account.StateActive || a.State != account.StateActive {
				t.Fatalf("Unlock = %+v, %v", got, err)
			}
			tr := w.states.transitions[0]
			if !tr.LiftLocks || tr.Action != audit.AccountUnlocked || tr.Method != "administrator" || tr.Actor != tt.actor.Name {
				t.Errorf("transition %+v", tr)
			}
			if m := w.outbox.to("alice@example.com", "unlocked"); len(m) != 1 || m[0].Data["Method"] != "admin" {
				t.Errorf("unlock messages %+v", m)
			}
		})
	}
}

// A freeze ends in the future or not at all, ends the sessions and tells the owner the message
// meant for them, not the reason for the record.
func TestStaffFreeze(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	for _, until := range []time.Time{t0.Add(-time.Second), t0} {
		_, err := w.svc.Staff.Freeze(ctx, "alice", "fraud check", "", &until, admin)
		if e, _ := err.(*account.Error); e == nil || e.MessageID != "err_until_past" {
			t.Errorf("until %v: %v, want err_until_past", until, err)
		}
	}
	if a.State != account.StateActive || len(w.states.transitions) != 0 {
		t.Fatal("a refused freeze changed the account")
	}
	until := t0.Add(2 * time.Hour)
	got, err := w.svc.Staff.Freeze(ctx, "alice", "fraud check", "  Please call us.  ", &until, helpdesk)
	if err != nil || got.State != account.StateFrozen || !a.LockedUntil.Equal(until) {
		t.Fatalf("Freeze = %+v, %v", got, err)
	}
	tr := w.states.transitions[0]
	if !tr.EndSessions || tr.LockKind != "freeze" || tr.UserMessage != "Please call us." || tr.Reason != "fraud check" {
		t.Errorf("transition %+v", tr)
	}
	m := w.outbox.to("alice@example.com", "locked")
	if len(m) != 1 || m[0].Data["Message"] != "Please call us." || m[0].Data["Until"] == "" || strings.Contains(m[0].Data["Message"], "fraud") {
		t.Errorf("freeze messages %+v", m)
	}
	// A frozen account may be frozen again (a new end); a disabled one may not.
	if _, err := w.svc.Staff.Freeze(ctx, "alice", "longer", "", nil, admin); err != nil || a.LockedUntil != nil {
		t.Errorf("freezing again without an end: %v, until %v", err, a.LockedUntil)
	}
	w.add("dora", func(a *account.Account) { a.State = account.StateDisabled })
	_, err = w.svc.Staff.Freeze(ctx, "dora", "why not", "", nil, admin)
	wantCode(t, err, account.EINVALID)
	_, err = w.svc.Staff.Freeze(ctx, "nobody", "why not", "", nil, admin)
	wantCode(t, err, account.ENOTFOUND)
}

// Disable switches an account off from any state and ends its sessions; Enable only undoes that.
func TestStaffDisableAndEnable(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", locked)
	if _, err := w.svc.Staff.Enable(ctx, "alice", "back", admin); account.ErrorCode(err) != account.EINVALID {
		t.Errorf("Enable of a locked account: %v, want EINVALID", err)
	}
	got, err := w.svc.Staff.Disable(ctx, "alice", "left the company", admin)
	if err != nil || got.State != account.StateDisabled || !w.states.transitions[0].EndSessions || w.states.transitions[0].LockKind != "disable" {
		t.Fatalf("Disable = %+v, %v, transition %+v", got, err, w.states.transitions)
	}
	if _, err := w.svc.Staff.Disable(ctx, "alice", "again", admin); account.ErrorCode(err) != account.EINVALID {
		t.Errorf("Disable of a disabled account: %v, want EINVALID", err)
	}
	got, err = w.svc.Staff.Enable(ctx, "alice", "came back", admin)
	if err != nil || got.State != account.StateActive || a.State != account.StateActive || w.states.transitions[1].Action != audit.AccountEnabled {
		t.Errorf("Enable = %+v, %v", got, err)
	}
}

// UnlockAll lifts the recent automatic locks, skipping accounts unlocked meanwhile, and needs a
// positive window.
func TestStaffUnlockAll(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", locked)
	b := w.add("bob")
	c := w.add("carol", func(a *account.Account) { a.State = account.StateLockedTemporarily })
	w.states.lockedSince = []int64{a.ID, b.ID, c.ID}
	for _, since := range []time.Duration{0, -time.Hour} {
		if _, err := w.svc.Staff.UnlockAll(ctx, since, "wave", admin); account.ErrorCode(err) != account.EINVALID {
			t.Errorf("since %v: %v, want EINVALID", since, err)
		}
	}
	if n, err := w.svc.Oversight.CountLockedSince(ctx, time.Hour); err != nil || n != 3 {
		t.Errorf("CountLockedSince = %d, %v", n, err)
	}
	n, err := w.svc.Staff.UnlockAll(ctx, 2*time.Hour, "credential stuffing", admin)
	if err != nil || n != 2 {
		t.Fatalf("UnlockAll = %d, %v; want 2", n, err)
	}
	if a.State != account.StateActive || c.State != account.StateActive {
		t.Errorf("states %s, %s", a.State, c.State)
	}
	for _, tr := range w.states.transitions {
		if tr.Method != "bulk" || tr.Reason != "credential stuffing" || len(tr.Notify) != 1 || tr.Notify[0].Template != "unlocked" {
			t.Errorf("transition %+v", tr)
		}
	}
}

// The policy changes all together or not at all, each value checked and stored in its normal form.
func TestStaffSetPolicy(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name    string
		changes map[string]string
	}{
		{"nothing", nil},
		{"one unknown key", map[string]string{"code.ttl": "5m", "code.colour": "red"}},
		{"one bad number", map[string]string{"code.ttl": "5m", "code.length": "six"}},
		{"one out of range", map[string]string{"code.ttl": "5m", "password.min_length": "4"}},
		{"keys that disagree", map[string]string{"lockout.duration": "2h", "lockout.max_duration": "1h"}},
	}
	for _, tt := range tests {
		_, err := w.svc.Staff.SetPolicy(ctx, tt.changes, admin)
		if account.ErrorCode(err) != account.EINVALID || w.lockout.setPolicy != nil {
			t.Errorf("%s: %v, stored %v; want EINVALID and nothing stored", tt.name, err, w.lockout.setPolicy)
		}
	}
	p, err := w.svc.Staff.SetPolicy(ctx, map[string]string{"code.ttl": " 300s ", "unlock.methods_required": "2"}, admin)
	if err != nil {
		t.Fatal(err)
	}
	if p.CodeTTL != 5*time.Minute || p.UnlockMethodsRequired != 2 || p.CodeLength != 6 {
		t.Errorf("policy %+v", p)
	}
	if got := w.lockout.setPolicy; len(got) != 2 || got["code.ttl"] != "5m0s" || got["unlock.methods_required"] != "2" {
		t.Errorf("stored %v, want the two keys normalised", got)
	}
	if got, err := w.svc.Staff.Policy(ctx); err != nil || got.CodeTTL != 10*time.Minute {
		t.Errorf("Policy = %+v, %v; want what the store holds", got, err)
	}
}

// Only an administrator grants a staff role; the role must be one.
func TestStaffSetRole(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	_, err := w.svc.Staff.SetRole(ctx, "alice", "root", "promotion", admin)
	wantCode(t, err, account.EINVALID)
	_, err = w.svc.Staff.SetRole(ctx, "alice", account.RoleAdmin, "promotion", helpdesk)
	wantCode(t, err, account.EFORBIDDEN)
	if a.Role != account.RoleUser || len(w.states.roles) != 0 {
		t.Fatal("a refused role change was written")
	}
	got, err := w.svc.Staff.SetRole(ctx, "alice", account.RoleHelpdesk, "joined the help desk", admin)
	if err != nil || got.Role != account.RoleHelpdesk {
		t.Errorf("SetRole = %+v, %v", got, err)
	}
	_, err = w.svc.Staff.SetRole(ctx, "alice", account.RoleUser, "left", helpdesk)
	wantCode(t, err, account.EFORBIDDEN)
}

// An expiry is set and cleared through the state store.
func TestStaffSetExpiry(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	at := t0.Add(30 * 24 * time.Hour)
	if got, err := w.svc.Staff.SetExpiry(ctx, "alice", &at, "contract ends", admin); err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(at) {
		t.Fatalf("SetExpiry = %+v, %v", got, err)
	}
	if _, err := w.svc.Staff.SetExpiry(ctx, "alice", nil, "extended", admin); err != nil || a.ExpiresAt != nil {
		t.Errorf("clearing: %v, expiry %v", err, a.ExpiresAt)
	}
	_, err := w.svc.Staff.SetExpiry(ctx, "nobody", nil, "x", admin)
	wantCode(t, err, account.ENOTFOUND)
}

// openRequest files a request for help about login (nil: no account).
func openRequest(w *world, id int64, accountID *int64) {
	w.admin.requests[id] = &account.Request{ID: id, Reference: "UR-AAAA-BBBB", AccountID: accountID, Login: "alice", Status: "open"}
}

// Handling a request: a closed one is refused, a denial needs a message the requester reads, an
// approval lifts the lock the help desk may lift, and the requester hears the outcome.
func TestStaffHandleRequest(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		w := newWorld(t)
		openRequest(w, 1, nil)
		w.admin.requests[1].Status = "approved"
		err := w.svc.Staff.HandleRequest(ctx, 1, true, "", helpdesk)
		if e, _ := err.(*account.Error); e == nil || e.MessageID != "err_request_closed" {
			t.Errorf("HandleRequest of a closed request: %v", err)
		}
		wantCode(t, w.svc.Staff.HandleRequest(ctx, 2, true, "", helpdesk), account.ENOTFOUND)
	})
	t.Run("deny without a message", func(t *testing.T) {
		w := newWorld(t)
		openRequest(w, 1, nil)
		err := w.svc.Staff.HandleRequest(ctx, 1, false, "   ", helpdesk)
		if e, _ := err.(*account.Error); e == nil || e.MessageID != "err_deny_reason_required" || w.admin.requests[1].Status != "open" {
			t.Errorf("a denial without a message: %v, status %s", err, w.admin.requests[1].Status)
		}
	})
	t.Run("deny", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice", locked)
		openRequest(w, 1, &a.ID)
		if err := w.svc.Staff.HandleRequest(ctx, 1, false, " Not you. ", helpdesk); err != nil {
			t.Fatal(err)
		}
		r := w.admin.requests[1]
		m := w.outbox.to("alice@example.com", "request_handled")
		if r.Status != "denied" || r.Response != "Not you." || a.State != account.StateLocked || len(m) != 1 || m[0].Data["Message"] != "Not you." || m[0].Data["Outcome"] != "denied" {
			t.Errorf("request %+v, state %s, messages %+v", r, a.State, m)
		}
	})
	t.Run("approve unlocks", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice", locked)
		openRequest(w, 1, &a.ID)
		if err := w.svc.Staff.HandleRequest(ctx, 1, true, "", helpdesk); err != nil {
			t.Fatal(err)
		}
		if a.State != account.StateActive || w.admin.requests[1].Status != "approved" || w.states.transitions[0].Reason != "request UR-AAAA-BBBB approved" {
			t.Errorf("state %s, request %+v, transitions %+v", a.State, w.admin.requests[1], w.states.transitions)
		}
		if m := w.outbox.to("alice@example.com", "request_handled"); len(m) != 1 || m[0].Data["Outcome"] != "approved" {
			t.Errorf("messages %+v", m)
		}
	})
	t.Run("approve enables", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice", func(a *account.Account) { a.State = account.StateDisabled })
		openRequest(w, 1, &a.ID)
		if err := w.svc.Staff.HandleRequest(ctx, 1, true, "", admin); err != nil || a.State != account.StateActive {
			t.Errorf("HandleRequest = %v, state %s", err, a.State)
		}
	})
	t.Run("a freeze the help desk may not lift", func(t *testing.T) {
		w := newWorld(t)
		a := w.add("alice", func(a *account.Account) { a.State = account.StateFrozen })
		openRequest(w, 1, &a.ID)
		err := w.svc.Staff.HandleRequest(ctx, 1, true, "", helpdesk)
		wantCode(t, err, account.EINVALID)
		if a.State != account.StateFrozen || w.admin.requests[1].Status != "open" || len(w.outbox.msgs) != 0 {
			t.Errorf("state %s, request %s, %d messages; want nothing changed", a.State, w.admin.requests[1].Status, len(w.outbox.msgs))
		}
	})
	for _, state := range []account.State{account.StateExpired, account.StatePendingVerification, account.StateDisabled} {
		t.Run("approving cannot help "+string(state), func(t *testing.T) {
			w := newWorld(t)
			a := w.add("alice", func(a *account.Account) { a.State = state })
			openRequest(w, 1, &a.ID)
			err := w.svc.Staff.HandleRequest(ctx, 1, true, "", helpdesk)
			if e, _ := err.(*account.Error); e == nil || e.Code != account.EINVALID || e.MessageID == "" {
				t.Errorf("HandleRequest = %v; want a refusal the page can say", err)
			}
			if a.State != state || w.admin.requests[1].Status != "open" || len(w.outbox.msgs) != 0 {
				t.Errorf("state %s, request %s, %d messages; want nothing changed and nobody told", a.State, w.admin.requests[1].Status, len(w.outbox.msgs))
			}
		})
	}
	t.Run("no account", func(t *testing.T) {
		w := newWorld(t)
		openRequest(w, 1, nil)
		if err := w.svc.Staff.HandleRequest(ctx, 1, true, "", helpdesk); err != nil || w.admin.requests[1].Status != "approved" || len(w.outbox.msgs) != 0 {
			t.Errorf("HandleRequest = %v, request %+v, %d messages", err, w.admin.requests[1], len(w.outbox.msgs))
		}
	})
}

// The help desk's other actions: a reset link to the address on file, removing second factors,
// ending sessions.
func TestStaffAccountActions(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	if err := w.svc.Staff.AdminSendReset(ctx, "alice", "asked by phone", helpdesk); err != nil {
		t.Fatal(err)
	}
	l := w.selfService.links[0]
	if l.AccountID != a.ID || l.Actor.Name != helpdesk.Name || l.Reason != "asked by phone" || l.Message == nil || l.Message.To != "alice@example.com" {
		t.Errorf("reset link %+v", l)
	}
	if err := w.svc.Staff.AdminResetSecondFactors(ctx, "alice", "lost phone", helpdesk); err != nil {
		t.Fatal(err)
	}
	if m := w.outbox.to("alice@example.com", "factor_changed"); len(w.admin.factorReset) != 1 || len(m) != 1 || m[0].Data["Change"] != "mfa_reset" {
		t.Errorf("factor resets %v, messages %+v", w.admin.factorReset, m)
	}
	if n, err := w.svc.Staff.AdminEndSessions(ctx, "alice", "stolen laptop", helpdesk); err != nil || n != 2 || w.admin.endSessions[0] != a.ID {
		t.Errorf("AdminEndSessions = %d, %v", n, err)
	}
	wantCode(t, w.svc.Staff.AdminSendReset(ctx, "nobody", "x", helpdesk), account.ENOTFOUND)

	// A reset link is no help to an account that is frozen, disabled or expired: refused as the
	// dashboard's table says, and nothing is sent.
	for _, state := range []account.State{account.StateFrozen, account.StateDisabled, account.StateExpired} {
		b := w.add("bob-" + string(state))
		b.State = state
		wantCode(t, w.svc.Staff.AdminSendReset(ctx, b.Username, "asked by phone", helpdesk), account.EINVALID)
	}
	if len(w.selfService.links) != 1 {
		t.Errorf("%d reset links, want only alice's", len(w.selfService.links))
	}
}
