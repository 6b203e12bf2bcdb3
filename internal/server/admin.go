package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/server/site"
)

// The administrators' dashboard. Every handler is reached through requireStaff with the roles that
// may use it (SECURITY.md 20); a refusal is audited.

func (s *Server) staffActor(r *http.Request) account.Actor {
	a := site.CurrentAccount(r)
	return account.Actor{Name: string(a.Role) + ":" + a.Username, Client: s.site.ClientIP(r), Role: a.Role}
}

// requireStaff admits signed-in staff of the given roles who have a second factor.
func (s *Server) requireStaff(roles ...account.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := site.CurrentAccount(r)
			if a == nil {
				s.site.PutFlash(r, "info", "login_required")
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			w.Header().Set("Cache-Control", "no-store")
			if !a.Role.IsStaff() || !slices.Contains(roles, a.Role) {
				if err := s.accounts.RecordRefused(r.Context(), s.staffActor(r), r.Method+" "+r.URL.Path, chi.URLParam(r, "username")); err != nil {
					s.log.Error("audit refused action", "err", err)
				}
				s.site.RenderStatus(w, r, http.StatusForbidden)
				return
			}
			second, err := s.accounts.HasSecondFactor(r.Context(), a.ID)
			if err != nil {
				s.site.RenderError(w, r, err)
				return
			}
			if !second {
				// Staff must have a second factor before they act on anyone's account.
				s.site.PutFlash(r, "info", "staff_need_totp")
				http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// staffForm checks that a dashboard change comes from a recent sign-in and reads its form; when it
// returns false it has answered.
func (s *Server) staffForm(w http.ResponseWriter, r *http.Request) bool {
	if !s.site.RecentlyAuthenticated(r) {
		s.site.NeedFreshAuth(w, r)
		return false
	}
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return false
	}
	return true
}

// actionRoles says who may take each account action.
var actionRoles = map[string][]account.Role{
	"unlock":       site.HelpdeskPlus,
	"send-reset":   site.HelpdeskPlus,
	"freeze":       site.AdminOnly,
	"unfreeze":     site.AdminOnly,
	"disable":      site.AdminOnly,
	"enable":       site.AdminOnly,
	"reset-mfa":    site.AdminOnly,
	"end-sessions": site.AdminOnly,
	"expiry":       site.AdminOnly,
}

// chartDay marks the start of a day on the chart.
type chartDay struct {
	X     int
	Label string
}

// chartBar is one hour of the overview chart, already scaled.
type chartBar struct {
	X, LockY, LockH, UnlockY, UnlockH int
	Label                             string
}

type overviewData struct {
	*account.Overview
	WaveLocks int
	Wave      bool
	Days      []chartDay
	Bars      []chartBar
	Max       int
	Width     int
}

const chartHeight = 120

func (s *Server) adminOverview(w http.ResponseWriter, r *http.Request) error {
	o, err := s.accounts.DashboardOverview(r.Context())
	if err != nil {
		return err
	}
	d := overviewData{Overview: o, Max: 1, Width: len(o.Hours) * 5}
	if d.WaveLocks, d.Wave, err = s.accounts.LockWave(r.Context()); err != nil {
		return err
	}
	for _, h := range o.Hours {
		d.Max = max(d.Max, h.Locks, h.Unlocks)
	}
	for i, h := range o.Hours {
		lh := h.Locks * chartHeight / d.Max
		uh := h.Unlocks * chartHeight / d.Max
		d.Bars = append(d.Bars, chartBar{X: i * 5, LockY: chartHeight - lh, LockH: lh, UnlockY: chartHeight - uh, UnlockH: uh,
			Label: h.Hour.UTC().Format("2006-01-02 15:00")})
		if h.Hour.UTC().Hour() == 0 {
			d.Days = append(d.Days, chartDay{X: i * 5, Label: h.Hour.UTC().Format("01-02")})
		}
	}
	s.site.Render(w, r, http.StatusOK, "admin_overview", s.site.NewPage(r, "admin_title", d))
	return nil
}

type accountsData struct {
	CanUnlock bool
	Query     string
	State     string
	States    []account.State
	Accounts  []*account.Account
	Next      string
	Now       time.Time
}

// accountsPage is how many accounts a page of the dashboard's search shows.
const accountsPage = 50

func (s *Server) adminAccounts(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := accountsData{Query: site.ClipForm(q.Get("q"), 100), State: q.Get("state"), States: account.States, Now: s.accounts.Now(),
		CanUnlock: slices.Contains(site.HelpdeskPlus, site.CurrentAccount(r).Role)}
	list, err := s.accounts.SearchAccounts(r.Context(), account.AccountSearch{Query: d.Query, State: account.State(d.State),
		After: site.ClipForm(q.Get("after"), 64), Limit: accountsPage + 1})
	if err != nil {
		return err
	}
	if len(list) > accountsPage { // one more than a page: there is a next one
		list = list[:accountsPage]
		d.Next = list[accountsPage-1].Username
	}
	d.Accounts = list
	p := s.site.NewPage(r, "admin_accounts_title", d)
	p.Flash = s.site.PopFlash(r)
	s.site.Render(w, r, http.StatusOK, "admin_accounts", p)
	return nil
}

// adminBulkUnlock unlocks the selected accounts with one reason.
func (s *Server) adminBulkUnlock(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	// The reason is checked once: a bad one would otherwise skip every account.
	reason, err := account.CheckReason(r.PostForm.Get("reason"))
	if err != nil {
		s.site.PutFlashText(r, "error", s.site.ErrorText(r, err))
		http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
		return nil
	}
	done, skipped := 0, 0
	actor := s.staffActor(r)
	for _, username := range r.PostForm["account"] {
		_, err := s.accounts.Unlock(r.Context(), username, reason, actor)
		switch {
		case account.ErrorCode(err) == account.EINVALID || account.ErrorCode(err) == account.ENOTFOUND:
			skipped++ // not locked (any more), or gone
		case err != nil:
			return err
		default:
			done++
		}
	}
	s.site.PutFlashText(r, "ok", s.site.Localizer(r).T("admin_bulk_done", "Done", done, "Skipped", skipped))
	http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
	return nil
}

type unlockAllData struct {
	Since   string
	Preview int
	Done    int
}

// adminUnlockAllForm is the emergency's first step: how many accounts an unlock of every automatic
// lock since a time would touch.
func (s *Server) adminUnlockAllForm(w http.ResponseWriter, r *http.Request) error {
	return s.adminUnlockAllStep(w, r, func(since time.Duration, d *unlockAllData, _ *site.Page) (err error) {
		d.Preview, err = s.accounts.CountLockedSince(r.Context(), since)
		return err
	})
}

// adminUnlockAllSubmit is the emergency itself: every automatic lock since a time lifted at once.
func (s *Server) adminUnlockAllSubmit(w http.ResponseWriter, r *http.Request) error {
	return s.adminUnlockAllStep(w, r, func(since time.Duration, d *unlockAllData, p *site.Page) error {
		n, err := s.accounts.UnlockAll(r.Context(), since, r.PostForm.Get("reason"), s.staffActor(r))
		if account.ErrorCode(err) == account.EINVALID {
			p.Error = s.site.ErrorText(r, err)
		} else if err != nil {
			return err
		}
		d.Done = n
		return nil
	})
}

// adminUnlockAllStep reads the page's "since" and, when it is a duration, takes the step with it.
func (s *Server) adminUnlockAllStep(w http.ResponseWriter, r *http.Request, step func(time.Duration, *unlockAllData, *site.Page) error) error {
	if !s.staffForm(w, r) {
		return nil
	}
	d := unlockAllData{Since: site.ClipForm(r.Form.Get("since"), 16), Preview: -1, Done: -1}
	p := s.site.NewPage(r, "admin_unlock_all_title", &d)
	if d.Since != "" {
		since, err := time.ParseDuration(d.Since)
		if err != nil || since <= 0 {
			p.Error = p.L.T("admin_unlock_all_bad")
		} else if err := step(since, &d, p); err != nil {
			return err
		}
	}
	s.site.Render(w, r, http.StatusOK, "admin_unlock_all", p)
	return nil
}

type adminAccountData struct {
	Account *account.Account
	State   account.State
	SignIn  string // account.SignInAccess of State
	Locks   []account.LockRecord
	Events  []*audit.Event
	Status  *account.AccountOverview
	Role    account.Role
	Actions []adminActionView
}

// adminActionView is one action form: its path segment and its message id.
type adminActionView struct {
	Name, Label string
}

func (s *Server) adminAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := s.accounts.AccountByLogin(r.Context(), chi.URLParam(r, "username"))
	if err != nil {
		return err
	}
	d := adminAccountData{Account: a, State: a.EffectiveState(s.accounts.Now()), Role: site.CurrentAccount(r).Role}
	d.SignIn = account.SignInAccess(d.State)
	if d.Locks, err = s.accounts.AccountLocks(r.Context(), a.ID); err != nil {
		return err
	}
	if d.Events, err = s.accounts.AuditEvents(r.Context(), account.AuditQuery{AccountID: &a.ID, Limit: 50}); err != nil {
		return err
	}
	if d.Status, err = s.accounts.Overview(r.Context(), a); err != nil {
		return err
	}
	for _, action := range []string{"unlock", "freeze", "unfreeze", "disable", "enable", "send-reset", "reset-mfa", "end-sessions", "expiry"} {
		if slices.Contains(actionRoles[action], d.Role) {
			d.Actions = append(d.Actions, adminActionView{Name: action, Label: "admin_action_" + strings.ReplaceAll(action, "-", "_")})
		}
	}
	p := s.site.NewPage(r, "admin_account_title", d)
	p.Flash = s.site.PopFlash(r)
	s.site.Render(w, r, http.StatusOK, "admin_account", p)
	return nil
}

// adminAction takes one action on an account, with a reason for the record. Unlocking and freezing
// need a recent sign-in.
func (s *Server) adminAction(w http.ResponseWriter, r *http.Request) error {
	action, username := chi.URLParam(r, "action"), chi.URLParam(r, "username")
	roles, known := actionRoles[action]
	if !known {
		s.site.RenderStatus(w, r, http.StatusNotFound)
		return nil
	}
	actor := s.staffActor(r)
	if !slices.Contains(roles, site.CurrentAccount(r).Role) {
		if err := s.accounts.RecordRefused(r.Context(), actor, action, username); err != nil {
			return err
		}
		s.site.RenderStatus(w, r, http.StatusForbidden)
		return nil
	}
	if !s.staffForm(w, r) {
		return nil
	}
	reason := r.PostForm.Get("reason")
	ctx := r.Context()
	var err error
	switch action {
	case "unlock", "unfreeze":
		_, err = s.accounts.Unlock(ctx, username, reason, actor)
	case "freeze":
		var until *time.Time
		if v := strings.TrimSpace(r.PostForm.Get("until")); v != "" {
			t, perr := time.Parse("2006-01-02T15:04", v)
			if perr != nil {
				if t, perr = time.Parse(time.RFC3339, v); perr != nil {
					err = account.Fail(account.EINVALID, "err_until_format", nil, "until must be a date and time")
				}
			}
			until = &t
		}
		if err == nil {
			_, err = s.accounts.Freeze(ctx, username, reason, r.PostForm.Get("message"), until, actor)
		}
	case "disable":
		_, err = s.accounts.Disable(ctx, username, reason, actor)
	case "enable":
		_, err = s.accounts.Enable(ctx, username, reason, actor)
	case "send-reset":
		err = s.accounts.AdminSendReset(ctx, username, reason, actor)
	case "reset-mfa":
		err = s.accounts.AdminResetSecondFactors(ctx, username, reason, actor)
	case "end-sessions":
		_, err = s.accounts.AdminEndSessions(ctx, username, reason, actor)
	case "expiry":
		var at *time.Time
		if v := strings.TrimSpace(r.PostForm.Get("until")); v != "" {
			t, perr := time.Parse("2006-01-02T15:04", v)
			if perr != nil {
				err = account.Fail(account.EINVALID, "err_expiry_format", nil, "the expiry must be a date and time")
				break
			}
			at = &t
		}
		_, err = s.accounts.SetExpiry(ctx, username, at, reason, actor)
	}
	if account.ErrorCode(err) == account.EINVALID {
		s.site.PutFlashText(r, "error", s.site.ErrorText(r, err))
		http.Redirect(w, r, "/admin/accounts/"+username, http.StatusSeeOther)
		return nil
	} else if err != nil {
		return err
	}
	s.site.PutFlash(r, "ok", "admin_done_"+strings.ReplaceAll(action, "-", "_"))
	http.Redirect(w, r, "/admin/accounts/"+username, http.StatusSeeOther)
	return nil
}

type requestsData struct {
	Open   []account.Request
	Closed []account.Request
	Role   account.Role
}

func (s *Server) adminRequests(w http.ResponseWriter, r *http.Request) error {
	d := requestsData{Role: site.CurrentAccount(r).Role}
	var err error
	if d.Open, err = s.accounts.Requests(r.Context(), "open"); err != nil {
		return err
	}
	if d.Closed, err = s.accounts.Requests(r.Context(), "closed"); err != nil {
		return err
	}
	p := s.site.NewPage(r, "admin_requests_title", d)
	p.Flash = s.site.PopFlash(r)
	s.site.Render(w, r, http.StatusOK, "admin_requests", p)
	return nil
}

func (s *Server) adminDecide(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	decision := chi.URLParam(r, "decision")
	if err != nil || (decision != "approve" && decision != "deny") {
		s.site.RenderStatus(w, r, http.StatusNotFound)
		return nil
	}
	if !s.staffForm(w, r) {
		return nil
	}
	err = s.accounts.HandleRequest(r.Context(), id, decision == "approve", r.PostForm.Get("message"), s.staffActor(r))
	if account.ErrorCode(err) == account.EINVALID {
		s.site.PutFlashText(r, "error", s.site.ErrorText(r, err))
	} else if err != nil {
		return err
	} else {
		s.site.PutFlash(r, "ok", "admin_request_"+decision+"d")
	}
	http.Redirect(w, r, "/admin/requests", http.StatusSeeOther)
	return nil
}

type auditData struct {
	Account, Actor, Action, Since string
	Events                        []*audit.Event
	Checked                       bool
	Verified                      int64
	Broken                        string
	Next                          int64
}

func (s *Server) auditQuery(r *http.Request) (account.AuditQuery, auditData, error) {
	q := r.URL.Query()
	d := auditData{Account: site.ClipForm(q.Get("account"), 254), Actor: site.ClipForm(q.Get("actor"), 100),
		Action: site.ClipForm(q.Get("action"), 64), Since: site.ClipForm(q.Get("since"), 32)}
	aq := account.AuditQuery{Actor: d.Actor, Action: d.Action, Limit: 100}
	if d.Account != "" {
		a, err := s.accounts.AccountByLogin(r.Context(), d.Account)
		if err != nil {
			id := int64(-1)
			aq.AccountID = &id // no such account: no events
		} else {
			aq.AccountID = &a.ID
		}
	}
	if d.Since != "" {
		if t, err := time.Parse("2006-01-02", d.Since); err == nil {
			aq.Since = t
		}
	}
	if v, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && v > 0 {
		aq.BeforeID = v
	}
	return aq, d, nil
}

func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) error {
	aq, d, err := s.auditQuery(r)
	if err != nil {
		return err
	}
	if d.Events, err = s.accounts.AuditEvents(r.Context(), aq); err != nil {
		return err
	}
	if len(d.Events) == aq.Limit {
		d.Next = d.Events[len(d.Events)-1].ID
	}
	// Walking the whole chain reads every event: on request only, not on every look at the log.
	if r.URL.Query().Get("verify") == "1" {
		d.Checked = true
		n, verr := s.accounts.VerifyAudit(r.Context())
		d.Verified = n
		var p *audit.Problem
		if errors.As(verr, &p) {
			d.Broken = p.Error()
		} else if verr != nil {
			return verr
		}
	}
	s.site.Render(w, r, http.StatusOK, "admin_audit", s.site.NewPage(r, "admin_audit_title", d))
	return nil
}

// adminAuditCSV exports the filtered audit log (up to 1,000 events) as CSV.
func (s *Server) adminAuditCSV(w http.ResponseWriter, r *http.Request) error {
	aq, _, err := s.auditQuery(r)
	if err != nil {
		return err
	}
	aq.Limit = 1000
	events, err := s.accounts.AuditEvents(r.Context(), aq)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	x, _ := audit.NewExporter(&buf, "csv")
	for i := len(events) - 1; i >= 0; i-- {
		if err := x.Write(events[i]); err != nil {
			return err
		}
	}
	if err := x.Flush(); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="unlockd-audit-%s.csv"`, s.accounts.Now().UTC().Format("20060102-1504")))
	_, _ = buf.WriteTo(w)
	return nil
}

type policyRow struct {
	Key, Value, Help string
}

type policyData struct {
	Rows    []policyRow
	CanEdit bool
}

// adminPolicyForm shows the policy; administrators may change it.
func (s *Server) adminPolicyForm(w http.ResponseWriter, r *http.Request) error {
	return s.renderPolicy(w, r, "", nil)
}

// adminPolicySubmit changes the keys whose values differ from the policy in force.
func (s *Server) adminPolicySubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	current, err := s.accounts.Policy(r.Context())
	if err != nil {
		return err
	}
	changes := map[string]string{}
	submitted := current.Values()
	for _, k := range account.PolicyKeys() {
		if v, ok := r.PostForm[k]; ok && len(v) > 0 {
			submitted[k] = strings.TrimSpace(v[0])
			if submitted[k] != current.Values()[k] {
				changes[k] = submitted[k]
			}
		}
	}
	if len(changes) == 0 {
		s.site.PutFlash(r, "info", "admin_policy_unchanged")
		http.Redirect(w, r, "/admin/policy", http.StatusSeeOther)
		return nil
	}
	if _, err := s.accounts.SetPolicy(r.Context(), changes, s.staffActor(r)); account.ErrorCode(err) == account.EINVALID {
		return s.renderPolicy(w, r, s.site.ErrorText(r, err), submitted)
	} else if err != nil {
		return err
	}
	s.site.PutFlash(r, "ok", "admin_policy_saved")
	http.Redirect(w, r, "/admin/policy", http.StatusSeeOther)
	return nil
}

// renderPolicy shows the policy page with values, or the policy in force when values is nil.
func (s *Server) renderPolicy(w http.ResponseWriter, r *http.Request, errText string, values map[string]string) error {
	if values == nil {
		p, err := s.accounts.Policy(r.Context())
		if err != nil {
			return err
		}
		values = p.Values()
	}
	d := policyData{CanEdit: site.CurrentAccount(r).Role == account.RoleAdmin}
	for _, k := range account.PolicyKeys() {
		d.Rows = append(d.Rows, policyRow{Key: k, Value: values[k], Help: account.PolicyHelp[k]})
	}
	p := s.site.NewPage(r, "admin_policy_title", d)
	p.Flash = s.site.PopFlash(r)
	p.Error = errText
	s.site.Render(w, r, http.StatusOK, "admin_policy", p)
	return nil
}

type staffData struct {
	Staff []*account.Account
	Roles []account.Role
}

// adminStaffList lists staff, with the form that changes roles.
func (s *Server) adminStaffList(w http.ResponseWriter, r *http.Request) error {
	d := staffData{Roles: []account.Role{account.RoleUser, account.RoleHelpdesk, account.RoleAuditor, account.RoleAdmin}}
	for _, role := range []account.Role{account.RoleAdmin, account.RoleHelpdesk, account.RoleAuditor} {
		list, err := s.accounts.AccountsWithRole(r.Context(), role)
		if err != nil {
			return err
		}
		d.Staff = append(d.Staff, list...)
	}
	p := s.site.NewPage(r, "admin_staff_title", d)
	p.Flash = s.site.PopFlash(r)
	s.site.Render(w, r, http.StatusOK, "admin_staff", p)
	return nil
}

// adminStaffSubmit changes a role: an existing account becomes staff, or goes back to user. Role
// changes end the account's sessions (a privilege change).
func (s *Server) adminStaffSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	username := r.PostForm.Get("username")
	// By account, not by what was typed: an email address or another letter case names the same
	// staff member.
	if target, err := s.accounts.AccountByLogin(r.Context(), username); err == nil && target.ID == site.CurrentAccount(r).ID {
		s.site.PutFlashText(r, "error", s.site.Localizer(r).T("admin_staff_not_self"))
	} else if _, err := s.accounts.SetRole(r.Context(), username, account.Role(r.PostForm.Get("role")), r.PostForm.Get("reason"), s.staffActor(r)); account.ErrorCode(err) == account.EINVALID || account.ErrorCode(err) == account.ENOTFOUND {
		s.site.PutFlashText(r, "error", s.site.ErrorText(r, err))
	} else if err != nil {
		return err
	} else {
		s.site.PutFlash(r, "ok", "admin_staff_saved")
	}
	http.Redirect(w, r, "/admin/staff", http.StatusSeeOther)
	return nil
}

type tokensData struct {
	Tokens  []account.APIToken
	Created string // the new token, shown this once
}

// adminTokensList lists API tokens, with the forms that create and revoke them.
func (s *Server) adminTokensList(w http.ResponseWriter, r *http.Request) error {
	return s.renderTokens(w, r, &tokensData{}, "")
}

// adminTokensSubmit creates a token, shown this once, or revokes one.
func (s *Server) adminTokensSubmit(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	d := &tokensData{}
	var err error
	if name := r.PostForm.Get("revoke"); name != "" {
		err = s.accounts.RevokeToken(r.Context(), name, s.staffActor(r))
	} else {
		d.Created, _, err = s.accounts.CreateToken(r.Context(), r.PostForm.Get("name"), account.Role(r.PostForm.Get("role")), s.staffActor(r))
	}
	switch code := account.ErrorCode(err); {
	case code == account.EINVALID || code == account.ECONFLICT || code == account.ENOTFOUND:
		return s.renderTokens(w, r, d, s.site.ErrorText(r, err))
	case err != nil:
		return err
	}
	return s.renderTokens(w, r, d, "")
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, d *tokensData, errText string) error {
	var err error
	if d.Tokens, err = s.accounts.Tokens(r.Context()); err != nil {
		return err
	}
	p := s.site.NewPage(r, "admin_tokens_title", d)
	p.Error = errText
	s.site.Render(w, r, http.StatusOK, "admin_tokens", p)
	return nil
}
