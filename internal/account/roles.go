package account

import "time"

// Roles change in one way (SECURITY.md 28). Whatever asks for a role (the staff page, an import, the
// API's PUT, the command line), the store checks the request with PlanRoleChange against the account
// as it stands inside its transaction, and applies the RoleChange it returns in that same
// transaction: the role, the end of every session of the account, and one audit event saying who
// changed whose role from what to what, and why.

// administers reports whether the actor may grant and remove staff roles: an administrator on the
// dashboard or with an admin token, or the command line (which has the database's own authority).
func (a Actor) administers() bool { return a.Role == "" || a.Role == RoleAdmin }

// CheckRoleWrite is the rule for writing an account's role. current is the role the account has
// ("" when it does not exist yet); asked is the role asked for ("" keeps the current one, and makes
// a new account a user). It returns the role the account has after the write.
//
//   - A service token manages plain accounts only: it may not touch a staff account in any way, and
//     may create and update only user accounts.
//   - Only an administrator (or the command line) grants or removes a staff role.
func CheckRoleWrite(actor Actor, current, asked Role) (Role, error) {
	if asked != "" && !asked.Valid() {
		return "", Fail(EINVALID, "err_role_invalid", map[string]any{"Role": string(asked)}, "role %q must be user, helpdesk, auditor or admin", asked)
	}
	to := asked
	if to == "" {
		to = current
	}
	if to == "" {
		to = RoleUser
	}
	switch {
	case actor.Role == RoleService && current.IsStaff():
		return "", Fail(EFORBIDDEN, "err_role_token_staff", nil, "a service token may not change a staff account")
	case actor.Role == RoleService && to != RoleUser:
		return "", Fail(EFORBIDDEN, "err_role_token_users_only", nil, "a service token may only create and update user accounts")
	case to != current && (current != "" || to.IsStaff()) && !actor.administers():
		return "", Fail(EFORBIDDEN, "err_role_admin_only", nil, "only an administrator grants or removes a staff role")
	}
	return to, nil
}

// RoleChange is one change of an account's role as it is applied and recorded. From is "" when the
// account is created with a staff role.
type RoleChange struct {
	AccountID int64
	Username  string
	From, To  Role
	Reason    string
	Actor     Actor
	Now       time.Time
}

// PlanRoleChange applies CheckRoleWrite to one account (current is "" for a new one) and returns the
// role to write, and the change to apply with the write: nil when the role stays, or when a new
// account is a plain user (its creation event records that).
func PlanRoleChange(actor Actor, accountID int64, username string, current, asked Role, reason string, now time.Time) (Role, *RoleChange, error) {
	to, err := CheckRoleWrite(actor, current, asked)
	if err != nil || to == current || (current == "" && to == RoleUser) {
		return to, nil, err
	}
	return to, &RoleChange{AccountID: accountID, Username: username, From: current, To: to, Reason: reason, Actor: actor, Now: now}, nil
}
