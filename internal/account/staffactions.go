package account

import "slices"

// StaffAction is one action staff take on an account from the dashboard (the last part of
// POST /admin/accounts/{username}/{action}).
type StaffAction string

const (
	ActionUnlock      StaffAction = "unlock"
	ActionUnfreeze    StaffAction = "unfreeze"
	ActionFreeze      StaffAction = "freeze"
	ActionDisable     StaffAction = "disable"
	ActionEnable      StaffAction = "enable"
	ActionSendReset   StaffAction = "send-reset"
	ActionResetMFA    StaffAction = "reset-mfa"
	ActionEndSessions StaffAction = "end-sessions"
	ActionExpiry      StaffAction = "expiry"
)

// staffActionRule says who may take an action, on accounts in which states (nil: every state),
// and whether only on accounts that live here: a directory account is frozen, disabled, enabled
// or given an expiry in the directory itself.
type staffActionRule struct {
	action    StaffAction
	roles     []Role
	states    []State
	localOnly bool
}

// staffActions is every action in the order the dashboard shows them.
var staffActions = []staffActionRule{
	{ActionUnlock, []Role{RoleHelpdesk, RoleAdmin}, []State{StateLockedTemporarily, StateLocked}, false},
	{ActionUnfreeze, []Role{RoleAdmin}, []State{StateFrozen}, false},
	{ActionEnable, []Role{RoleAdmin}, []State{StateDisabled}, true},
	{ActionSendReset, []Role{RoleHelpdesk, RoleAdmin}, []State{StateActive, StateLockedTemporarily, StateLocked}, false},
	{ActionExpiry, []Role{RoleAdmin}, nil, true},
	{ActionEndSessions, []Role{RoleAdmin}, nil, false},
	{ActionResetMFA, []Role{RoleAdmin}, nil, false},
	// Freezing a frozen account again changes its reason, message and end.
	{ActionFreeze, []Role{RoleAdmin}, []State{StateActive, StateLockedTemporarily, StateLocked, StateFrozen, StatePendingVerification}, true},
	{ActionDisable, []Role{RoleAdmin}, []State{StateActive, StateLockedTemporarily, StateLocked, StateFrozen,
		StatePendingVerification, StateExpired}, true},
}

// StaffActions lists the actions a staff member of role may take on an account in state that
// lives in source, in the order the dashboard shows them. It is the one rule for both offering an
// action and allowing it (CheckStaffAction).
func StaffActions(state State, source Source, role Role) []StaffAction {
	var out []StaffAction
	for _, a := range staffActions {
		if CheckStaffAction(a.action, state, source, role) == nil {
			out = append(out, a.action)
		}
	}
	return out
}

// CheckStaffAction says whether a staff member of role may take action on an account in state
// that lives in source: ENOTFOUND for no such action, EFORBIDDEN for a role that may not take it,
// EINVALID (with a message for the page) for a state or a directory account it does not apply to.
func CheckStaffAction(action StaffAction, state State, source Source, role Role) error {
	i := slices.IndexFunc(staffActions, func(r staffActionRule) bool { return r.action == action })
	switch {
	case i < 0:
		return Errorf(ENOTFOUND, "no action %q", action)
	case !slices.Contains(staffActions[i].roles, role):
		return Errorf(EFORBIDDEN, "a %s may not %s an account", role, action)
	case staffActions[i].states != nil && !slices.Contains(staffActions[i].states, state):
		return Fail(EINVALID, "err_state_action", map[string]any{"State": StateName(state)},
			"%s does not apply to an account that is %s", action, state)
	case staffActions[i].localOnly && source == SourceDirectory:
		return Fail(EINVALID, "err_directory_account", nil, "%s is done in the directory for a directory account", action)
	}
	return nil
}

// statesFor are the states action applies to (nil: any), as the table says: the domain's staff
// methods take their transitions' starting states from it, so what the dashboard offers and what
// the command line, the API and the dashboard may do are one rule.
func statesFor(action StaffAction) []State {
	i := slices.IndexFunc(staffActions, func(r staffActionRule) bool { return r.action == action })
	return slices.Clone(staffActions[i].states)
}

// Destructive reports whether the action takes something away from the owner (access, sessions,
// second factors): the dashboard shows it apart, and as such.
func (a StaffAction) Destructive() bool {
	switch a {
	case ActionFreeze, ActionDisable, ActionResetMFA, ActionEndSessions:
		return true
	}
	return false
}

// Approval is what approving an unlock request does to its account.
type Approval int

const (
	ApprovalChangesNothing Approval = iota // the account works already
	ApprovalUnlocks                        // an automatic lock, or (by an administrator) a freeze, is lifted
	ApprovalEnables                        // a disabled account is switched back on (by an administrator)
)

// ApprovalFor says what approving a request does to an account in state when actor approves it,
// or why approving cannot help: an approval always carries out what it tells the requester. Who
// may lift a freeze is the one rule of Actor.liftsFreezes; enabling takes the same authority.
func ApprovalFor(state State, actor Actor) (Approval, error) {
	admin := actor.liftsFreezes()
	switch state {
	case StateActive:
		return ApprovalChangesNothing, nil
	case StateLockedTemporarily, StateLocked:
		return ApprovalUnlocks, nil
	case StateFrozen:
		if admin {
			return ApprovalUnlocks, nil
		}
		return 0, Fail(EINVALID, "err_request_needs_admin", map[string]any{"State": StateName(state)},
			"the account is frozen: only an administrator can approve this request")
	case StateDisabled:
		if admin {
			return ApprovalEnables, nil
		}
		return 0, Fail(EINVALID, "err_request_needs_admin", map[string]any{"State": StateName(state)},
			"the account is disabled: only an administrator can approve this request")
	case StateExpired:
		return 0, Fail(EINVALID, "err_request_account_expired", nil,
			"approving cannot help: the account has expired; set a new expiry date first")
	default:
		return 0, Fail(EINVALID, "err_request_account_pending", nil,
			"approving cannot help: the account waits for its owner to confirm the email address")
	}
}
