package account

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/unlockd/unlockd/internal/notice"
)

// Oversight is what staff read: the overview, the search, the requests, an account's locks, and
// lockout waves.
type Oversight struct {
	*kit
	admin  AdminStore
	states StateStore
	alerts AlertStore
}

// Overview is the dashboard's summary.
type Overview struct {
	LockedNow      int
	Locks24h       int
	SelfUnlocks24h int
	OpenRequests   int
	Hours          []HourCount // the last 7 days, oldest first, one per hour
}

// HourCount is one hour of the lockout chart.
type HourCount struct {
	Hour    time.Time
	Locks   int
	Unlocks int
}

// AccountSearch is a dashboard search: a substring of username, email, phone or name, a state,
// and the keyset position after which to continue (the last username of the previous page).
//
// Matches come in two tiers, usernames that start with the query first, then the others, each in
// username order. A username that starts with the query places After in the first tier; Others
// places it among the other matches whatever it is, as a partial page's SearchedTo needs.
type AccountSearch struct {
	Query  string
	State  State
	After  string
	Others bool
	Limit  int
}

// SearchPage is what a search found for one page.
type SearchPage struct {
	Accounts []*Account
	// SearchedTo is set when the search stopped before the page was full: a query that no index
	// serves (one or two letters few accounts hold) is checked against a bounded number of
	// accounts per page, in username order. Every match up to this username is in Accounts; the
	// search goes on from here with Continue.
	SearchedTo string
}

// Partial reports whether the search stopped short of a full page with accounts left to check.
func (p SearchPage) Partial() bool { return p.SearchedTo != "" }

// Continue is q's next step after a partial page: among the other matches, after SearchedTo
// (which may well start with the query: the first tier is done).
func (p SearchPage) Continue(q AccountSearch) AccountSearch {
	q.After, q.Others = p.SearchedTo, true
	return q
}

// Request is an unlock request as the help desk sees it.
type Request struct {
	ID        int64
	Reference string
	AccountID *int64
	Login     string
	Contact   string
	Message   string
	CreatedAt time.Time
	Status    string
	HandledBy string
	Response  string
	State     State // the account's state now, when there is an account
}

// AdminStore backs the dashboard.
type AdminStore interface {
	Overview(ctx context.Context, now time.Time) (*Overview, error)
	SearchAccounts(ctx context.Context, q AccountSearch) (SearchPage, error)
	Requests(ctx context.Context, status string, limit int) ([]Request, error)
	Request(ctx context.Context, id int64) (*Request, error)
	// CloseRequest marks a request handled (once) with the response, queues msgs, audits.
	CloseRequest(ctx context.Context, id int64, status, response string, actor Actor, now time.Time, msgs []Message) (bool, error)
	// ResetSecondFactors removes an account's authenticator and recovery codes, queues msgs, audits.
	ResetSecondFactors(ctx context.Context, accountID int64, username string, actor Actor, reason string, now time.Time, msgs []Message) error
	// EndAllSessions ends every session of the account and audits it with the reason.
	EndAllSessions(ctx context.Context, accountID int64, username string, actor Actor, reason string, now time.Time) (int, error)
	// LockHistory lists an account's locks, newest first.
	LockHistory(ctx context.Context, accountID int64, limit int) ([]LockRecord, error)
	// RecordRefused audits an action a staff member was not allowed to do.
	RecordRefused(ctx context.Context, actor Actor, action, target string, now time.Time) error
}

// DashboardOverview summarises lockout activity.
func (s *Oversight) DashboardOverview(ctx context.Context) (*Overview, error) {
	return s.admin.Overview(ctx, s.now())
}

// SearchAccounts finds accounts for the dashboard, a page at a time.
func (s *Oversight) SearchAccounts(ctx context.Context, q AccountSearch) (SearchPage, error) {
	q.Query = searchText(q.Query, 100)
	q.After = searchText(q.After, 64)
	if q.State != "" && !q.State.Valid() {
		q.State = ""
	}
	if q.Limit <= 0 || q.Limit > 100 {
		q.Limit = 50
	}
	return s.admin.SearchAccounts(ctx, q)
}

// searchText keeps what a search can compare: valid UTF-8 without control characters, trimmed,
// at most n characters.
func searchText(s string, n int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "")))
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// Requests lists unlock requests ("open", "closed" or all).
func (s *Oversight) Requests(ctx context.Context, status string) ([]Request, error) {
	return s.admin.Requests(ctx, status, 200)
}

// HandleRequest approves (unlocks the account, if locked) or denies a request with a message, and
// tells the requester by email.
func (s *Staff) HandleRequest(ctx context.Context, id int64, approve bool, message string, actor Actor) error {
	message = clip(strings.TrimSpace(message), 2000)
	req, err := s.admin.Request(ctx, id)
	if err != nil {
		return err
	}
	if req.Status != "open" {
		return Fail(EINVALID, "err_request_closed", map[string]any{"Reference": req.Reference}, "request %s is already %s", req.Reference, req.Status)
	}
	status := "denied"
	if approve {
		status = "approved"
	}
	if !approve && message == "" {
		return Fail(EINVALID, "err_deny_reason_required", nil, "say why the request is denied: the requester reads it")
	}
	now := s.now()
	// Approving and what it carries out are one unit: a request closed by someone else meanwhile
	// unlocks nothing, and an unlock that fails leaves the request open.
	return s.work.Atomic(ctx, func(ctx context.Context) error {
		var msgs []Message
		if req.AccountID != nil {
			a, err := s.accounts.AccountByID(ctx, *req.AccountID)
			if err != nil {
				return err
			}
			if approve {
				// The requester is told it was approved only when the approval carried it out.
				effect, err := ApprovalFor(a.EffectiveState(now), actor)
				if err != nil {
					return err
				}
				switch effect {
				case ApprovalUnlocks:
					_, err = s.Unlock(ctx, a.Username, "request "+req.Reference+" approved", actor)
				case ApprovalEnables:
					_, err = s.Enable(ctx, a.Username, "request "+req.Reference+" approved", actor)
				}
				if err != nil {
					return err
				}
			}
			msgs = append(msgs, compose(ChannelEmail, a.Email, s.readerOf(a, ""),
				notice.RequestHandled{Name: a.Name(), Reference: req.Reference, Approved: approve, Message: message}))
		}
		ok, err := s.admin.CloseRequest(ctx, id, status, message, actor, now, msgs)
		if err == nil && !ok {
			return Fail(EINVALID, "err_request_handled_meanwhile", map[string]any{"Reference": req.Reference}, "request %s was handled by someone else meanwhile", req.Reference)
		}
		return err
	})
}

// AdminSendReset sends a reset link to the account's address on file, for the help desk.
func (s *Staff) AdminSendReset(ctx context.Context, login, reason string, actor Actor) error {
	a, reason, err := s.staffTarget(ctx, login, reason)
	if err != nil {
		return err
	}
	if state := a.EffectiveState(s.now()); !slices.Contains(statesFor(ActionSendReset), state) {
		return Fail(EINVALID, "err_state_action", map[string]any{"State": StateName(state)},
			"a reset link does not help an account that is %s", state)
	}
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return err
	}
	_, err = s.book.issueResetLink(ctx, a, actor, reason, "", policy, true)
	return err
}

// AdminResetSecondFactors removes an account's second factors (a lost phone), telling the owner.
func (s *Staff) AdminResetSecondFactors(ctx context.Context, login, reason string, actor Actor) error {
	a, reason, err := s.staffTarget(ctx, login, reason)
	if err != nil {
		return err
	}
	now := s.now()
	return s.admin.ResetSecondFactors(ctx, a.ID, a.Username, actor, reason, now, []Message{s.factorMessage(a, "", notice.FactorsReset, now)})
}

// AdminEndSessions signs the account out everywhere.
func (s *Staff) AdminEndSessions(ctx context.Context, login, reason string, actor Actor) (int, error) {
	a, reason, err := s.staffTarget(ctx, login, reason)
	if err != nil {
		return 0, err
	}
	return s.admin.EndAllSessions(ctx, a.ID, a.Username, actor, reason, s.now())
}

// RecordRefused audits a refused staff action (SECURITY.md 20).
func (s *AuditLog) RecordRefused(ctx context.Context, actor Actor, action, target string) error {
	return s.admin.RecordRefused(ctx, actor, action, target, s.now())
}

// LockRecord is one lock in an account's history: history survives the unlock.
type LockRecord struct {
	Kind        string
	Source      string
	Reason      string
	UserMessage string
	Actor       string
	StartedAt   time.Time
	Until       *time.Time
	LiftedAt    *time.Time
	LiftedBy    string
	LiftReason  string
}

// AccountLocks is an account's lock history for the dashboard.
func (s *Oversight) AccountLocks(ctx context.Context, accountID int64) ([]LockRecord, error) {
	return s.admin.LockHistory(ctx, accountID, 50)
}
