// Package api is unlockd's JSON API (/api/v1): bearer tokens with a role, errors as
// {"error":{"code","message"}} answered by the one error table of package site, and every call
// audited with the token's name. Its routes are registered in package server's routes.go.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/config"
	"github.com/unlockd/unlockd/internal/server/site"
)

//go:embed openapi.json
var openAPI []byte

// API answers the routes under /api/v1.
type API struct {
	cfg      *config.Config
	accounts *account.Services
	site     *site.Site
	log      *slog.Logger
}

// New makes the API's handlers over the shared site.
func New(cfg *config.Config, accounts *account.Services, st *site.Site, log *slog.Logger) *API {
	return &API{cfg: cfg, accounts: accounts, site: st, log: log}
}

type ctxKey int

const ctxToken ctxKey = 100

// OpenAPI serves the API's description (OpenAPI 3.1).
func OpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

func apiToken(r *http.Request) *account.APIToken {
	t, _ := r.Context().Value(ctxToken).(*account.APIToken)
	return t
}

// apiActor names the caller in the audit log: the token's name.
func (s *API) apiActor(r *http.Request) account.Actor {
	return account.Actor{Name: "token:" + apiToken(r).Name, Client: s.site.ClientIP(r), Role: apiToken(r).Role}
}

// Error writes the contract's error shape.
func Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func apiJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Fail answers a domain error in the API's shape, by the same table as the pages. What the
// server could not do (busy, down, a fault) is logged as the pages log it; refusals of the caller's
// input are the caller's to read.
func (s *API) Fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the caller went away; there is nobody to answer
	}
	v := site.Classify(err)
	if v.Status >= http.StatusInternalServerError {
		s.site.LogFailure(r, v, err)
	}
	if v.RetryAfter != "" {
		w.Header().Set("Retry-After", v.RetryAfter)
	}
	message := v.APIMessage
	if message == "" {
		message = account.ErrorMessage(err)
	}
	Error(w, v.Status, v.APICode, message)
}

// Auth admits a request with a live bearer token and audits the call once it is answered.
func (s *API) Auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			Error(w, http.StatusUnauthorized, "unauthorized", "A bearer token is required.")
			return
		}
		t, err := s.accounts.Tokens.Authenticate(r.Context(), strings.TrimSpace(bearer))
		if account.ErrorCode(err) == account.ENOTFOUND {
			Error(w, http.StatusUnauthorized, "unauthorized", "The token is not valid.")
			return
		} else if err != nil {
			s.Fail(w, r, err)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxToken, t))
		rec := &site.StatusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if err := s.accounts.Audit.AuditAPIRequest(context.WithoutCancel(r.Context()), s.apiActor(r), r.Method, r.URL.Path, rec.Status); err != nil {
			s.log.Error("audit api request", "err", err)
		}
	})
}

// Roles refuses tokens whose role may not call the route (403); refusals are audited by Auth.
func Roles(roles ...account.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !slices.Contains(roles, apiToken(r).Role) {
				Error(w, http.StatusForbidden, "forbidden", "This token's role may not do that.")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// DuringMaintenance pauses the API's password checks as package server's duringMaintenance pauses the pages':
// 503 with Retry-After, in the API's error shape, with the window's English message.
func (s *API) DuringMaintenance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m, retryAfter := s.site.Maintenance.Active(r)
		if m == nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", retryAfter)
		Error(w, http.StatusServiceUnavailable, "maintenance", m.Message("en"))
	})
}

// apiAccount is an account as the API shows it.
type apiAccount struct {
	Username       string     `json:"username"`
	Email          string     `json:"email"`
	Phone          string     `json:"phone"`
	DisplayName    string     `json:"display_name"`
	Role           string     `json:"role"`
	State          string     `json:"state"`
	Reason         string     `json:"reason"`
	LockedUntil    *time.Time `json:"locked_until"`
	FailedAttempts int        `json:"failed_attempts"`
	Methods        []string   `json:"methods"`
	Language       string     `json:"language"`  // "" until learned or set
	TimeZone       string     `json:"time_zone"` // "" for the organisation's
	Source         string     `json:"source"`    // "local", or "directory": its password and lock are the directory's
}

func (s *API) toAPIAccount(ctx context.Context, a *account.Account) (apiAccount, error) {
	now := s.accounts.Now()
	out := apiAccount{Username: a.Username, Email: a.Email, Phone: a.Phone, DisplayName: a.DisplayName, Role: string(a.Role),
		State: string(a.EffectiveState(now)), Reason: a.Reason, FailedAttempts: a.FailedAttempts, Methods: []string{"email"},
		Language: a.Language, TimeZone: a.TimeZone, Source: string(a.Source)}
	if st := a.EffectiveState(now); (st == account.StateLockedTemporarily || st == account.StateFrozen) && a.LockedUntil != nil {
		t := a.LockedUntil.UTC()
		out.LockedUntil = &t
	}
	if a.Phone != "" && s.accounts.SelfService.SMSAvailable() {
		out.Methods = append(out.Methods, "sms")
	}
	f, err := s.accounts.SecondFactors.SecondFactorStatus(ctx, a.ID)
	if err != nil {
		return out, err
	}
	if f.TOTP {
		out.Methods = append(out.Methods, "totp")
	}
	if f.RecoveryLeft > 0 {
		out.Methods = append(out.Methods, "recovery")
	}
	return out, nil
}

// apiAccountAnswer answers with an account as the API shows it.
func (s *API) apiAccountAnswer(w http.ResponseWriter, r *http.Request, status int, a *account.Account) {
	out, err := s.toAPIAccount(r.Context(), a)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	apiJSON(w, status, out)
}

// GetAccount answers with an account.
func (s *API) GetAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.accounts.Accounts.AccountByLogin(r.Context(), chi.URLParam(r, "username"))
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.apiAccountAnswer(w, r, http.StatusOK, a)
}

// decodeBody reads a JSON object strictly: unknown fields and trailing data are errors.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		Error(w, http.StatusBadRequest, "invalid", "The body must be a JSON object with the documented fields: "+err.Error())
		return false
	}
	if dec.More() {
		Error(w, http.StatusBadRequest, "invalid", "The body must hold one JSON object.")
		return false
	}
	return true
}

// apiPutAccount is the body of a PUT: a field left out is left as it is.
type apiPutAccount struct {
	Email        *string `json:"email"`
	Phone        *string `json:"phone"`
	DisplayName  *string `json:"display_name"`
	Role         *string `json:"role"`
	PasswordHash *string `json:"password_hash"`
	// Active false deactivates (disables) the account; true enables a disabled one. Absent: no change.
	Active *bool `json:"active"`
	// Language ("en", "zh-CN", "" to learn it from the next sign-in) and TimeZone (IANA, "" for the
	// organisation's) of the person's messages and pages. Absent: no change.
	Language *string `json:"language"`
	TimeZone *string `json:"time_zone"`
}

// PutAccount creates or updates an account by username (idempotent), for the CRM's sync. A
// service token manages plain accounts only (403 otherwise); a role change ends the account's
// sessions.
func (s *API) PutAccount(w http.ResponseWriter, r *http.Request) {
	var in apiPutAccount
	if !decodeBody(w, r, &in) {
		return
	}
	created, err := s.accounts.Accounts.PutAccount(r.Context(), account.ImportFields{Username: chi.URLParam(r, "username"), Email: in.Email,
		Phone: in.Phone, DisplayName: in.DisplayName, Role: in.Role, PasswordHash: in.PasswordHash, Active: in.Active,
		Language: in.Language, TimeZone: in.TimeZone}, s.apiActor(r))
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	a, err := s.accounts.Accounts.AccountByLogin(r.Context(), chi.URLParam(r, "username"))
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	s.apiAccountAnswer(w, r, status, a)
}

// Unlock unlocks an account, with a reason for the record.
func (s *API) Unlock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason string `json:"reason"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	a, err := s.accounts.Staff.Unlock(r.Context(), chi.URLParam(r, "username"), in.Reason, s.apiActor(r))
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.apiAccountAnswer(w, r, http.StatusOK, a)
}

// Lock freezes an account, until a time or until unfrozen.
func (s *API) Lock(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Reason  string  `json:"reason"`
		Until   *string `json:"until"`
		Message string  `json:"message"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	var until *time.Time
	if in.Until != nil {
		t, err := time.Parse(time.RFC3339, *in.Until)
		if err != nil {
			Error(w, http.StatusBadRequest, "invalid", "until must be an RFC 3339 time or null")
			return
		}
		until = &t
	}
	a, err := s.accounts.Staff.Freeze(r.Context(), chi.URLParam(r, "username"), in.Reason, in.Message, until, s.apiActor(r))
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	s.apiAccountAnswer(w, r, http.StatusOK, a)
}

// Authenticate lets another application check a password under the same lockout policy as the
// sign-in page. Its answer says no more than the page does.
func (s *API) Authenticate(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
		ClientIP string `json:"client_ip"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	client := s.site.ClientIP(r)
	if in.ClientIP != "" {
		// Only a service token reaches here (Roles): the end user's address is the CRM's to tell,
		// and it must be an address.
		ip, err := account.ParseClientIP(in.ClientIP)
		if err != nil {
			s.Fail(w, r, err)
			return
		}
		client = ip
	}
	res, err := s.accounts.Gate.SignIn(r.Context(), account.SignInRequest{Login: in.Username, Password: in.Password, ClientIP: client,
		UserAgent: "api:" + apiToken(r).Name})
	switch {
	case errors.Is(err, account.ErrBadCredentials):
		apiJSON(w, http.StatusOK, map[string]string{"result": "denied",
			"message":    "The username or password is not correct, or the account cannot sign in right now.",
			"unlock_url": strings.TrimRight(s.cfg.BaseURL.String(), "/") + "/"})
	case err != nil:
		s.Fail(w, r, err)
	case res.NeedsSecondFactor:
		apiJSON(w, http.StatusOK, map[string]string{"result": "second_factor_required", "username": res.Account.Username})
	default:
		apiJSON(w, http.StatusOK, map[string]string{"result": "allowed", "username": res.Account.Username})
	}
}

// Audit answers with audit events, newest first, by account, action and time.
func (s *API) Audit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := account.AuditQuery{Action: q.Get("action"), Limit: 100}
	if v := q.Get("account"); v != "" {
		a, err := s.accounts.Accounts.AccountByLogin(r.Context(), v)
		if err != nil {
			s.Fail(w, r, err)
			return
		}
		f.AccountID = &a.ID
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			Error(w, http.StatusBadRequest, "invalid", "since must be an RFC 3339 time")
			return
		}
		f.Since = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			Error(w, http.StatusBadRequest, "invalid", "limit must be 1 to 1000")
			return
		}
		f.Limit = n
	}
	events, err := s.accounts.Audit.AuditEvents(r.Context(), f)
	if err != nil {
		s.Fail(w, r, err)
		return
	}
	type ev struct {
		ID        int64           `json:"id"`
		At        time.Time       `json:"at"`
		Actor     string          `json:"actor"`
		Action    string          `json:"action"`
		AccountID *int64          `json:"account_id"`
		Username  string          `json:"username"`
		ClientIP  string          `json:"client_ip"`
		Details   json.RawMessage `json:"details"`
	}
	out := make([]ev, 0, len(events))
	for _, e := range events {
		out = append(out, ev{e.ID, e.At.UTC(), e.Actor, e.Action, e.AccountID, e.Username, e.ClientIP, json.RawMessage(e.Details)})
	}
	apiJSON(w, http.StatusOK, map[string]any{"events": out})
}
