package dashboard

import (
	"net/http"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

// policyRow is one policy key: its name and help are the messages policy_KEY and policy_KEY_help
// (dots as underscores); durations are shown short (15m, not 15m0s).
type policyRow struct {
	Key, Value, NameID, HelpID string
}

type policyData struct {
	Rows    []policyRow
	CanEdit bool
}

// PolicyForm shows the policy; administrators may change it.
func (s *Settings) PolicyForm(w http.ResponseWriter, r *http.Request) error {
	return s.renderPolicy(w, r, "", nil)
}

// PolicySubmit changes the keys whose values differ from the policy in force.
func (s *Settings) PolicySubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	current, err := s.accounts.Staff.Policy(r.Context())
	if err != nil {
		return err
	}
	changes := map[string]string{}
	submitted := current.Values()
	for _, k := range account.PolicyKeys() {
		if v, ok := r.PostForm[k]; ok && len(v) > 0 {
			submitted[k] = strings.TrimSpace(v[0])
			if submitted[k] != current.Values()[k] && submitted[k] != shortDuration(current.Values()[k]) {
				changes[k] = submitted[k]
			}
		}
	}
	if len(changes) == 0 {
		s.site.Flashes.Put(r, "info", "admin_policy_unchanged")
		http.Redirect(w, r, "/admin/policy", http.StatusSeeOther)
		return nil
	}
	if _, err := s.accounts.Staff.SetPolicy(r.Context(), changes, s.staffActor(r)); account.ErrorCode(err) == account.EINVALID {
		return s.renderPolicy(w, r, s.site.ErrorText(r, err), submitted)
	} else if err != nil {
		return err
	}
	s.site.Flashes.Put(r, "ok", "admin_policy_saved")
	http.Redirect(w, r, "/admin/policy", http.StatusSeeOther)
	return nil
}

// renderPolicy shows the policy page with values, or the policy in force when values is nil.
func (s *Settings) renderPolicy(w http.ResponseWriter, r *http.Request, errText string, values map[string]string) error {
	if values == nil {
		p, err := s.accounts.Staff.Policy(r.Context())
		if err != nil {
			return err
		}
		values = p.Values()
	}
	d := policyData{CanEdit: site.CurrentAccount(r).Role == account.RoleAdmin}
	for _, k := range account.PolicyKeys() {
		id := "policy_" + strings.ReplaceAll(k, ".", "_")
		d.Rows = append(d.Rows, policyRow{Key: k, Value: shortDuration(values[k]), NameID: id, HelpID: id + "_help"})
	}
	p := s.site.NewPage(r, "admin_policy_title", d)
	p.Flash = s.site.Flashes.Pop(r)
	p.Error = errText
	s.site.Render(w, r, http.StatusOK, "admin_policy", p)
	return nil
}

type staffData struct {
	Staff []*account.Account
	Roles []account.Role
}

// StaffList lists staff, with the form that changes roles.
func (s *Settings) StaffList(w http.ResponseWriter, r *http.Request) error {
	d := staffData{Roles: []account.Role{account.RoleUser, account.RoleHelpdesk, account.RoleAuditor, account.RoleAdmin}}
	for _, role := range []account.Role{account.RoleAdmin, account.RoleHelpdesk, account.RoleAuditor} {
		list, err := s.accounts.Oversight.AccountsWithRole(r.Context(), role)
		if err != nil {
			return err
		}
		d.Staff = append(d.Staff, list...)
	}
	p := s.site.NewPage(r, "admin_staff_title", d)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "admin_staff", p)
	return nil
}

// StaffSubmit changes a role: an existing account becomes staff, or goes back to user. Role
// changes end the account's sessions (a privilege change).
func (s *Settings) StaffSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	username := r.PostForm.Get("username")
	// By account, not by what was typed: an email address or another letter case names the same
	// staff member.
	if target, err := s.accounts.Accounts.AccountByLogin(r.Context(), username); err == nil && target.ID == site.CurrentAccount(r).ID {
		s.site.Flashes.PutText(r, "error", s.site.Localizer(r).T("admin_staff_not_self"))
	} else if _, err := s.accounts.Staff.SetRole(r.Context(), username, account.Role(r.PostForm.Get("role")), r.PostForm.Get("reason"), s.staffActor(r)); account.ErrorCode(err) == account.EINVALID || account.ErrorCode(err) == account.ENOTFOUND {
		s.site.Flashes.PutText(r, "error", s.site.ErrorText(r, err))
	} else if err != nil {
		return err
	} else {
		s.site.Flashes.Put(r, "ok", "admin_staff_saved")
	}
	http.Redirect(w, r, "/admin/staff", http.StatusSeeOther)
	return nil
}

type tokensData struct {
	Tokens  []account.APIToken
	Created string // the new token, shown this once
}

// TokensList lists API tokens, with the forms that create and revoke them.
func (s *Settings) TokensList(w http.ResponseWriter, r *http.Request) error {
	return s.renderTokens(w, r, &tokensData{}, "")
}

// TokensSubmit creates a token, shown this once, or revokes one.
func (s *Settings) TokensSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	d := &tokensData{}
	var err error
	if name := r.PostForm.Get("revoke"); name != "" {
		err = s.accounts.Tokens.RevokeToken(r.Context(), name, s.staffActor(r))
	} else {
		d.Created, _, err = s.accounts.Tokens.CreateToken(r.Context(), r.PostForm.Get("name"), account.Role(r.PostForm.Get("role")), s.staffActor(r))
	}
	switch code := account.ErrorCode(err); {
	case code == account.EINVALID || code == account.ECONFLICT || code == account.ENOTFOUND:
		return s.renderTokens(w, r, d, s.site.ErrorText(r, err))
	case err != nil:
		return err
	}
	return s.renderTokens(w, r, d, "")
}

func (s *Settings) renderTokens(w http.ResponseWriter, r *http.Request, d *tokensData, errText string) error {
	var err error
	if d.Tokens, err = s.accounts.Tokens.Tokens(r.Context()); err != nil {
		return err
	}
	p := s.site.NewPage(r, "admin_tokens_title", d)
	p.Error = errText
	s.site.Render(w, r, http.StatusOK, "admin_tokens", p)
	return nil
}

// shortDuration writes a duration the way a person types it (15m, 1h, 1h30m) rather than Go's
// 15m0s; any other value is returned as it is.
func shortDuration(v string) string {
	if _, err := time.ParseDuration(v); err != nil || !strings.HasSuffix(v, "s") {
		return v
	}
	if s, ok := strings.CutSuffix(v, "m0s"); ok {
		v = s + "m"
	}
	if s, ok := strings.CutSuffix(v, "h0m"); ok {
		v = s + "h"
	}
	return v
}
