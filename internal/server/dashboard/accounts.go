package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/server/site"
)

// chartDay marks the start of a day on the chart.
// chartDay marks where a day begins on the overview chart, as a share of its width, so that the
// label keeps its size whatever the chart's width; the last ones are anchored at their end.
type chartDay struct {
	At    string // "41.667%"
	End   bool
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

func (s *Accounts) Overview(w http.ResponseWriter, r *http.Request) error {
	o, err := s.accounts.Oversight.DashboardOverview(r.Context())
	if err != nil {
		return err
	}
	d := overviewData{Overview: o, Max: 1, Width: len(o.Hours) * 5}
	if d.WaveLocks, d.Wave, err = s.accounts.Oversight.LockWave(r.Context()); err != nil {
		return err
	}
	for _, h := range o.Hours {
		d.Max = max(d.Max, h.Locks, h.Unlocks)
	}
	l := s.site.Localizer(r)
	zone := l.Zone()
	for i, h := range o.Hours {
		lh := h.Locks * chartHeight / d.Max
		uh := h.Unlocks * chartHeight / d.Max
		d.Bars = append(d.Bars, chartBar{X: i * 5, LockY: chartHeight - lh, LockH: lh, UnlockY: chartHeight - uh, UnlockH: uh,
			Label: l.Time(h.Hour)})
		// A day begins in the configured zone at the first hour whose date differs from the one before.
		if local := h.Hour.In(zone); i > 0 && local.Day() != o.Hours[i-1].Hour.In(zone).Day() {
			share := float64(i) / float64(len(o.Hours))
			d.Days = append(d.Days, chartDay{At: fmt.Sprintf("%.3f%%", 100*share), End: share > 0.93, Label: local.Format("01-02")})
		}
	}
	s.site.Render(w, r, http.StatusOK, "admin_overview", s.site.NewPage(r, "admin_title", d))
	return nil
}

type accountsData struct {
	CanUnlock bool
	// Unlockable are the usernames on this page the staff member may unlock now: only they can be
	// selected, and the bulk unlock is offered only when there is one.
	Unlockable map[string]bool
	Query      string
	State      string
	States     []account.State
	Accounts   []*account.Account
	Next       string
	// SearchedTo is set when the search stopped short of a full page: matches up to this
	// username are shown, and SearchOn searches on from it (account.SearchPage).
	SearchedTo string
	SearchOn   string
	Now        time.Time
}

// accountsPage is how many accounts a page of the dashboard's search shows.
const accountsPage = 50

func (s *Accounts) List(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := accountsData{Query: site.ClipForm(q.Get("q"), 100), State: q.Get("state"), States: account.States, Now: s.accounts.Now(),
		CanUnlock: slices.Contains(site.HelpdeskPlus, site.CurrentAccount(r).Role)}
	search := account.AccountSearch{Query: d.Query, State: account.State(d.State),
		After: site.ClipForm(q.Get("after"), 64), Others: q.Get("others") == "true", Limit: accountsPage + 1}
	found, err := s.accounts.Oversight.SearchAccounts(r.Context(), search)
	if err != nil {
		return err
	}
	list := found.Accounts
	if len(list) > accountsPage { // one more than a page: there is a next one
		list = list[:accountsPage]
		d.Next = list[accountsPage-1].Username
	}
	d.Accounts = list
	if found.Partial() {
		on := found.Continue(search)
		d.SearchedTo = found.SearchedTo
		d.SearchOn = "/admin/accounts?" + url.Values{"q": {on.Query}, "state": {string(on.State)}, "after": {on.After},
			"others": {strconv.FormatBool(on.Others)}}.Encode()
	}
	role := site.CurrentAccount(r).Role
	for _, a := range list {
		if account.CheckStaffAction(account.ActionUnlock, a.EffectiveState(d.Now), a.Source, role) == nil {
			if d.Unlockable == nil {
				d.Unlockable = map[string]bool{}
			}
			d.Unlockable[a.Username] = true
		}
	}
	p := s.site.NewPage(r, "admin_accounts_title", d)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "admin_accounts", p)
	return nil
}

// BulkUnlock unlocks the selected accounts with one reason.
func (s *Accounts) BulkUnlock(w http.ResponseWriter, r *http.Request) error {
	if !s.staffForm(w, r) {
		return nil
	}
	// The reason is checked once: a bad one would otherwise skip every account.
	reason, err := account.CheckReason(r.PostForm.Get("reason"))
	if err != nil {
		s.site.Flashes.PutText(r, "error", s.site.ErrorText(r, err))
		http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
		return nil
	}
	done, skipped := 0, 0
	actor := s.staffActor(r)
	for _, username := range r.PostForm["account"] {
		_, err := s.accounts.Staff.Unlock(r.Context(), username, reason, actor)
		switch {
		case account.ErrorCode(err) == account.EINVALID || account.ErrorCode(err) == account.ENOTFOUND:
			skipped++ // not locked (any more), or gone
		case err != nil:
			return err
		default:
			done++
		}
	}
	s.site.Flashes.PutText(r, "ok", s.site.Localizer(r).T("admin_bulk_done", "Done", done, "Skipped", skipped))
	http.Redirect(w, r, "/admin/accounts", http.StatusSeeOther)
	return nil
}

type unlockAllData struct {
	Since   string
	Preview int
	Done    int
}

// UnlockAllForm is the emergency's first step: how many accounts an unlock of every automatic
// lock since a time would touch.
func (s *Accounts) UnlockAllForm(w http.ResponseWriter, r *http.Request) error {
	return s.unlockAllStep(w, r, func(since time.Duration, d *unlockAllData, _ *site.Page) (err error) {
		d.Preview, err = s.accounts.Oversight.CountLockedSince(r.Context(), since)
		return err
	})
}

// UnlockAllSubmit is the emergency itself: every automatic lock since a time lifted at once.
func (s *Accounts) UnlockAllSubmit(w http.ResponseWriter, r *http.Request) error {
	return s.unlockAllStep(w, r, func(since time.Duration, d *unlockAllData, p *site.Page) error {
		n, err := s.accounts.Staff.UnlockAll(r.Context(), since, r.PostForm.Get("reason"), s.staffActor(r))
		if account.ErrorCode(err) == account.EINVALID {
			p.Error = s.site.ErrorText(r, err)
		} else if err != nil {
			return err
		}
		d.Done = n
		return nil
	})
}

// unlockAllStep reads the page's "since" and, when it is a duration, takes the step with it.
func (s *Accounts) unlockAllStep(w http.ResponseWriter, r *http.Request, step func(time.Duration, *unlockAllData, *site.Page) error) error {
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

// adminActionView is one action form: its path segment and its message id, and whether it takes
// something away from the owner.
type adminActionView struct {
	Name, Label string
	Destructive bool
}

func (s *Accounts) Account(w http.ResponseWriter, r *http.Request) error {
	a, err := s.accounts.Accounts.AccountByLogin(r.Context(), chi.URLParam(r, "username"))
	if err != nil {
		return err
	}
	d := adminAccountData{Account: a, State: a.EffectiveState(s.accounts.Now()), Role: site.CurrentAccount(r).Role}
	d.SignIn = account.SignInAccess(d.State)
	if d.Locks, err = s.accounts.Oversight.AccountLocks(r.Context(), a.ID); err != nil {
		return err
	}
	if d.Events, err = s.accounts.Audit.AuditEvents(r.Context(), account.AuditQuery{AccountID: &a.ID, Limit: 50}); err != nil {
		return err
	}
	if d.Status, err = s.accounts.OwnAccount.Browsers(r.Context(), a, ""); err != nil {
		return err
	}
	for _, action := range account.StaffActions(d.State, a.Source, d.Role) {
		d.Actions = append(d.Actions, adminActionView{Name: string(action),
			Label: "admin_action_" + strings.ReplaceAll(string(action), "-", "_"), Destructive: action.Destructive()})
	}
	p := s.site.NewPage(r, "admin_account_title", d)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "admin_account", p)
	return nil
}

// Action takes one action on an account, with a reason for the record. Unlocking and freezing
// need a recent sign-in.
func (s *Accounts) Action(w http.ResponseWriter, r *http.Request) error {
	action, username := account.StaffAction(chi.URLParam(r, "action")), chi.URLParam(r, "username")
	a, err := s.accounts.Accounts.AccountByLogin(r.Context(), username)
	if err != nil {
		return err
	}
	actor := s.staffActor(r)
	// The one rule for which actions the page offers is the rule for which it allows.
	switch err := account.CheckStaffAction(action, a.EffectiveState(s.accounts.Now()), a.Source, site.CurrentAccount(r).Role); account.ErrorCode(err) {
	case "":
	case account.ENOTFOUND:
		s.site.RenderStatus(w, r, http.StatusNotFound)
		return nil
	case account.EFORBIDDEN:
		if err := s.accounts.Audit.RecordRefused(r.Context(), actor, string(action), username); err != nil {
			return err
		}
		s.site.RenderStatus(w, r, http.StatusForbidden)
		return nil
	default:
		s.site.Flashes.PutText(r, "error", s.site.ErrorText(r, err))
		http.Redirect(w, r, "/admin/accounts/"+username, http.StatusSeeOther)
		return nil
	}
	if !s.staffForm(w, r) {
		return nil
	}
	reason := r.PostForm.Get("reason")
	ctx := r.Context()
	switch action {
	case account.ActionUnlock, account.ActionUnfreeze:
		_, err = s.accounts.Staff.Unlock(ctx, username, reason, actor)
	case account.ActionFreeze:
		var until *time.Time
		if v := strings.TrimSpace(r.PostForm.Get("until")); v != "" {
			t, perr := s.site.ParseLocalTime(r, v)
			if perr != nil {
				err = account.Fail(account.EINVALID, "err_until_format", nil, "until must be a date and time")
			}
			until = &t
		}
		if err == nil {
			_, err = s.accounts.Staff.Freeze(ctx, username, reason, r.PostForm.Get("message"), until, actor)
		}
	case account.ActionDisable:
		_, err = s.accounts.Staff.Disable(ctx, username, reason, actor)
	case account.ActionEnable:
		_, err = s.accounts.Staff.Enable(ctx, username, reason, actor)
	case account.ActionSendReset:
		err = s.accounts.Staff.AdminSendReset(ctx, username, reason, actor)
	case account.ActionResetMFA:
		err = s.accounts.Staff.AdminResetSecondFactors(ctx, username, reason, actor)
	case account.ActionEndSessions:
		_, err = s.accounts.Staff.AdminEndSessions(ctx, username, reason, actor)
	case account.ActionExpiry:
		var at *time.Time
		if v := strings.TrimSpace(r.PostForm.Get("until")); v != "" {
			t, perr := s.site.ParseLocalTime(r, v)
			if perr != nil {
				err = account.Fail(account.EINVALID, "err_expiry_format", nil, "the expiry must be a date and time")
				break
			}
			at = &t
		}
		_, err = s.accounts.Staff.SetExpiry(ctx, username, at, reason, actor)
	}
	if account.ErrorCode(err) == account.EINVALID {
		s.site.Flashes.PutText(r, "error", s.site.ErrorText(r, err))
		http.Redirect(w, r, "/admin/accounts/"+username, http.StatusSeeOther)
		return nil
	} else if err != nil {
		return err
	}
	s.site.Flashes.Put(r, "ok", "admin_done_"+strings.ReplaceAll(string(action), "-", "_"))
	http.Redirect(w, r, "/admin/accounts/"+username, http.StatusSeeOther)
	return nil
}

type requestsData struct {
	Open   []account.Request
	Closed []account.Request
	Role   account.Role
}

func (s *Accounts) Requests(w http.ResponseWriter, r *http.Request) error {
	d := requestsData{Role: site.CurrentAccount(r).Role}
	var err error
	if d.Open, err = s.accounts.Oversight.Requests(r.Context(), "open"); err != nil {
		return err
	}
	if d.Closed, err = s.accounts.Oversight.Requests(r.Context(), "closed"); err != nil {
		return err
	}
	p := s.site.NewPage(r, "admin_requests_title", d)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "admin_requests", p)
	return nil
}

func (s *Accounts) Decide(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	decision := chi.URLParam(r, "decision")
	if err != nil || (decision != "approve" && decision != "deny") {
		s.site.RenderStatus(w, r, http.StatusNotFound)
		return nil
	}
	if !s.staffForm(w, r) {
		return nil
	}
	err = s.accounts.Staff.HandleRequest(r.Context(), id, decision == "approve", r.PostForm.Get("message"), s.staffActor(r))
	if account.ErrorCode(err) == account.EINVALID {
		s.site.Flashes.PutText(r, "error", s.site.ErrorText(r, err))
	} else if err != nil {
		return err
	} else {
		s.site.Flashes.Put(r, "ok", "admin_request_"+decision+"d")
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

func (s *Accounts) auditQuery(r *http.Request) (account.AuditQuery, auditData, error) {
	q := r.URL.Query()
	d := auditData{Account: site.ClipForm(q.Get("account"), 254), Actor: site.ClipForm(q.Get("actor"), 100),
		Action: site.ClipForm(q.Get("action"), 64), Since: site.ClipForm(q.Get("since"), 32)}
	aq := account.AuditQuery{Actor: d.Actor, Action: d.Action, Limit: 100}
	if d.Account != "" {
		a, err := s.accounts.Accounts.AccountByLogin(r.Context(), d.Account)
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

func (s *Accounts) Audit(w http.ResponseWriter, r *http.Request) error {
	aq, d, err := s.auditQuery(r)
	if err != nil {
		return err
	}
	if d.Events, err = s.accounts.Audit.AuditEvents(r.Context(), aq); err != nil {
		return err
	}
	if len(d.Events) == aq.Limit {
		d.Next = d.Events[len(d.Events)-1].ID
	}
	// Walking the whole chain reads every event: on request only, not on every look at the log.
	if r.URL.Query().Get("verify") == "1" {
		d.Checked = true
		n, verr := s.accounts.Audit.VerifyAudit(r.Context())
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

// AuditCSV exports the filtered audit log (up to 1,000 events) as CSV.
func (s *Accounts) AuditCSV(w http.ResponseWriter, r *http.Request) error {
	aq, _, err := s.auditQuery(r)
	if err != nil {
		return err
	}
	aq.Limit = 1000
	events, err := s.accounts.Audit.AuditEvents(r.Context(), aq)
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
