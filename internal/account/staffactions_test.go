package account

import (
	"slices"
	"testing"
)

// TestStaffActionsAreWhatCheckAllows holds the list the dashboard offers to the check that allows
// an action, for every state and role: an action is offered exactly when it is allowed.
func TestStaffActionsAreWhatCheckAllows(t *testing.T) {
	roles := []Role{RoleUser, RoleHelpdesk, RoleAuditor, RoleAdmin, RoleService}
	for _, state := range States {
		for _, role := range roles {
			for _, source := range []Source{SourceLocal, SourceDirectory} {
				offered := StaffActions(state, source, role)
				for _, r := range staffActions {
					err := CheckStaffAction(r.action, state, source, role)
					if allowed := err == nil; allowed != slices.Contains(offered, r.action) {
						t.Errorf("%s on %s %s by %s: offered %v, check %v", r.action, source, state, role, offered, err)
					}
				}
			}
		}
	}
	if err := CheckStaffAction("delete", StateActive, SourceLocal, RoleAdmin); ErrorCode(err) != ENOTFOUND {
		t.Errorf("an unknown action: %v", err)
	}
}

func TestStaffActionsByStateAndRole(t *testing.T) {
	tests := []struct {
		state State
		role  Role
		want  []StaffAction
	}{
		{StateActive, RoleHelpdesk, []StaffAction{ActionSendReset}},
		{StateLocked, RoleHelpdesk, []StaffAction{ActionUnlock, ActionSendReset}},
		{StateFrozen, RoleHelpdesk, nil},
		{StateFrozen, RoleAdmin, []StaffAction{ActionUnfreeze, ActionExpiry, ActionEndSessions, ActionResetMFA, ActionFreeze, ActionDisable}},
		{StateDisabled, RoleAdmin, []StaffAction{ActionEnable, ActionExpiry, ActionEndSessions, ActionResetMFA}},
		{StateActive, RoleAuditor, nil},
		{StateActive, RoleAdmin, []StaffAction{ActionSendReset, ActionExpiry, ActionEndSessions, ActionResetMFA, ActionFreeze, ActionDisable}},
	}
	for _, tt := range tests {
		if got := StaffActions(tt.state, SourceLocal, tt.role); !slices.Equal(got, tt.want) {
			t.Errorf("StaffActions(%s, %s) = %v, want %v", tt.state, tt.role, got, tt.want)
		}
	}
	if err := CheckStaffAction(ActionUnlock, StateActive, SourceLocal, RoleHelpdesk); ErrorCode(err) != EINVALID {
		t.Errorf("unlocking an active account: %v", err)
	}
	if err := CheckStaffAction(ActionUnfreeze, StateFrozen, SourceLocal, RoleHelpdesk); ErrorCode(err) != EFORBIDDEN {
		t.Errorf("a help desk unfreezing: %v", err)
	}
	// A directory account is frozen, disabled and given an expiry in the directory; the rest is here.
	if got, want := StaffActions(StateLocked, SourceDirectory, RoleAdmin), []StaffAction{ActionUnlock, ActionSendReset,
		ActionEndSessions, ActionResetMFA}; !slices.Equal(got, want) {
		t.Errorf("on a locked directory account an administrator is offered %v, want %v", got, want)
	}
	if !ActionDisable.Destructive() || ActionUnlock.Destructive() {
		t.Error("disable is destructive, unlock is not")
	}
}

func TestApprovalCarriesOutWhatItSays(t *testing.T) {
	tests := []struct {
		state State
		role  Role
		want  Approval
		ok    bool
	}{
		{StateActive, RoleHelpdesk, ApprovalChangesNothing, true},
		{StateLockedTemporarily, RoleHelpdesk, ApprovalUnlocks, true},
		{StateLocked, RoleHelpdesk, ApprovalUnlocks, true},
		{StateFrozen, RoleHelpdesk, 0, false},
		{StateFrozen, RoleAdmin, ApprovalUnlocks, true},
		{StateDisabled, RoleHelpdesk, 0, false},
		{StateDisabled, RoleAdmin, ApprovalEnables, true},
		{StateDisabled, "", ApprovalEnables, true},
		{StateExpired, RoleAdmin, 0, false},
		{StatePendingVerification, RoleAdmin, 0, false},
	}
	for _, tt := range tests {
		got, err := ApprovalFor(tt.state, Actor{Name: "staff", Role: tt.role})
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ApprovalFor(%s, %s) = %v, %v", tt.state, tt.role, got, err)
		}
		if e, _ := err.(*Error); err != nil && (e == nil || e.Code != EINVALID || e.MessageID == "") {
			t.Errorf("ApprovalFor(%s, %s): %v is not a refusal the page can say", tt.state, tt.role, err)
		}
	}
}
