package account

import (
	"testing"
	"time"
)

var nowForTest = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func TestCheckRoleWrite(t *testing.T) {
	cli := Actor{Name: "cli"}
	admin := Actor{Name: "token:root", Role: RoleAdmin}
	service := Actor{Name: "token:crm", Role: RoleService}
	helpdesk := Actor{Name: "helpdesk:hd", Role: RoleHelpdesk}
	for _, c := range []struct {
		actor          Actor
		current, asked Role
		want           Role
		wantCode       string
	}{
		// A field left out keeps the role; a new account is a user.
		{service, "", "", RoleUser, ""},
		{service, RoleUser, "", RoleUser, ""},
		{admin, RoleAdmin, "", RoleAdmin, ""},
		{cli, RoleAuditor, "", RoleAuditor, ""},
		// A service token manages plain accounts only.
		{service, "", RoleUser, RoleUser, ""},
		{service, RoleUser, RoleUser, RoleUser, ""},
		{service, "", RoleAdmin, "", EFORBIDDEN},
		{service, "", RoleHelpdesk, "", EFORBIDDEN},
		{service, RoleUser, RoleAuditor, "", EFORBIDDEN},
		{service, RoleAdmin, "", "", EFORBIDDEN},
		{service, RoleAdmin, RoleAdmin, "", EFORBIDDEN},
		{service, RoleHelpdesk, RoleUser, "", EFORBIDDEN},
		// Only an administrator grants or removes a staff role.
		{admin, RoleUser, RoleAdmin, RoleAdmin, ""},
		{admin, RoleAdmin, RoleUser, RoleUser, ""},
		{admin, "", RoleHelpdesk, RoleHelpdesk, ""},
		{cli, "", RoleAdmin, RoleAdmin, ""},
		{cli, RoleHelpdesk, RoleUser, RoleUser, ""},
		{helpdesk, RoleUser, RoleHelpdesk, "", EFORBIDDEN},
		{helpdesk, RoleAdmin, RoleUser, "", EFORBIDDEN},
		{helpdesk, "", RoleAuditor, "", EFORBIDDEN},
		{helpdesk, RoleUser, RoleUser, RoleUser, ""},
		// Unknown roles are bad input, whoever asks.
		{admin, RoleUser, "root", "", EINVALID},
		{service, "", RoleService, "", EINVALID},
	} {
		got, err := CheckRoleWrite(c.actor, c.current, c.asked)
		if got != c.want || ErrorCode(err) != c.wantCode {
			t.Errorf("%s: %q -> %q: got %q, %v; want %q, %s", c.actor.Name, c.current, c.asked, got, err, c.want, c.wantCode)
		}
	}
}

func TestPlanRoleChange(t *testing.T) {
	admin := Actor{Name: "token:root", Role: RoleAdmin}
	if to, rc, err := PlanRoleChange(admin, 7, "alice", RoleUser, "", "api", nowForTest); err != nil || to != RoleUser || rc != nil {
		t.Fatalf("no role asked: %q %v %v", to, rc, err)
	}
	if to, rc, err := PlanRoleChange(admin, 0, "bob", "", RoleUser, "api", nowForTest); err != nil || to != RoleUser || rc != nil {
		t.Fatalf("a new user: %q %v %v", to, rc, err)
	}
	to, rc, err := PlanRoleChange(admin, 7, "alice", RoleUser, RoleHelpdesk, "joined the desk", nowForTest)
	if err != nil || to != RoleHelpdesk || rc == nil || *rc != (RoleChange{AccountID: 7, Username: "alice", From: RoleUser, To: RoleHelpdesk,
		Reason: "joined the desk", Actor: admin, Now: nowForTest}) {
		t.Fatalf("a promotion: %q %+v %v", to, rc, err)
	}
	if _, rc, _ := PlanRoleChange(admin, 0, "carol", "", RoleAdmin, "import", nowForTest); rc == nil || rc.From != "" || rc.To != RoleAdmin {
		t.Fatalf("a new administrator is a recorded grant: %+v", rc)
	}
}
