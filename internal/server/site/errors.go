package site

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/internal/secret"
)

// HandlerFunc is a handler that returns its error instead of writing it, so that no path can forget
// to stop after a failure: errors are rendered in one place.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle makes h a handler: its error is rendered by RenderError.
func (s *Site) Handle(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.RenderError(w, r, err)
		}
	}
}

// ErrorView is how one kind of failure is answered, on a page and in the API, and logged.
type ErrorView struct {
	Code       string     // the domain's code (account.E*), for the log
	Status     int        // HTTP status, for pages and the API alike
	Level      slog.Level // a designed answer (busy, throttled, bad input) is a warning; a failure an error
	TitleID    string     // the page's title and message
	MessageID  string
	APICode    string // the API's stable code
	APIMessage string // the API's message; empty: the error's own message, which is meant for the caller
	RetryAfter string // seconds, when trying again later will do
}

// errorTable is the one mapping of the domain's error codes to answers: every code of
// internal/account/errors.go has its row.
var errorTable = []ErrorView{
	{account.EINVALID, http.StatusBadRequest, slog.LevelWarn, "error_bad_request_title", "error_bad_request", "invalid", "", ""},
	{account.EUNAUTHORIZED, http.StatusUnauthorized, slog.LevelWarn, "error_unauthorized_title", "error_unauthorized", "unauthorized", "", ""},
	{account.EFORBIDDEN, http.StatusForbidden, slog.LevelWarn, "error_forbidden_title", "error_forbidden", "forbidden", "", ""},
	{account.ENOTFOUND, http.StatusNotFound, slog.LevelWarn, "error_not_found_title", "error_not_found", "not_found", "No such account.", ""},
	{account.ECONFLICT, http.StatusConflict, slog.LevelWarn, "error_conflict_title", "error_conflict", "conflict", "", ""},
	{account.ETHROTTLED, http.StatusTooManyRequests, slog.LevelWarn, "error_throttled_title", "error_throttled", "throttled", "", "900"},
	// The bounded hasher's designed answer (SECURITY.md 15), not a fault.
	{account.EBUSY, http.StatusServiceUnavailable, slog.LevelWarn, "error_busy_title", "error_busy", "unavailable", "Try again shortly.", "2"},
	{account.EUNAVAILABLE, http.StatusServiceUnavailable, slog.LevelError, "error_unavailable_title", "error_unavailable", "unavailable", "Try again shortly.", "5"},
	{account.EDIRECTORY, http.StatusServiceUnavailable, slog.LevelError, "error_directory_title", "error_directory", "directory_unavailable", "The directory cannot be reached. Try again shortly.", "30"},
	{account.EINTERNAL, http.StatusInternalServerError, slog.LevelError, "error_title", "error_internal", "internal", "Internal error.", ""},
}

// errorRow is the table's row for a code; a code without one is answered as internal.
func errorRow(code string) ErrorView {
	for _, v := range errorTable {
		if v.Code == code {
			return v
		}
	}
	return errorRow(account.EINTERNAL)
}

// Classify maps an error to its answer. This is the only such mapping in the server: pages
// (RenderError) and the API (its Fail) both answer by it.
func Classify(err error) ErrorView {
	code := account.ErrorCode(err)
	switch {
	case errors.Is(err, secret.ErrBusy):
		code = account.EBUSY
	case errors.Is(err, context.DeadlineExceeded) && code != account.EBUSY && code != account.ETHROTTLED:
		code = account.EUNAVAILABLE
	}
	return errorRow(code)
}

// statusView is the page of a status that has no error value: a refused route or form.
func statusView(status int) ErrorView {
	switch status {
	case http.StatusMethodNotAllowed:
		return ErrorView{Status: status, TitleID: "error_method_title", MessageID: "error_method"}
	case http.StatusNotFound:
		return errorRow(account.ENOTFOUND)
	case http.StatusForbidden:
		return errorRow(account.EFORBIDDEN)
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		v := errorRow(account.EINVALID)
		v.Status = status
		return v
	}
	v := errorRow(account.EINTERNAL)
	v.Status = status
	return v
}

// LogFailure writes the one log line of a failed request, at the level its kind calls for, and
// counts it when a dependency was unavailable.
func (s *Site) LogFailure(r *http.Request, v ErrorView, err error) {
	if v.Code == account.EUNAVAILABLE && s.unavailable != nil {
		where := "page"
		if strings.HasPrefix(r.URL.Path, "/api/") {
			where = "api"
		}
		s.unavailable(where)
	}
	s.log.Log(r.Context(), v.Level, "request failed", "method", r.Method, "path", LoggedPath(r),
		"status", v.Status, "code", v.Code, "client_ip", s.ClientIP(r), "err", err)
}

// ErrorText is a domain refusal as a page shows it, in the page's language. It is the one way a
// page shows a domain error; the API and the command line keep the error's English Message.
func (s *Site) ErrorText(r *http.Request, err error) string {
	var e *account.Error
	if !errors.As(err, &e) {
		return s.Localizer(r).T("error_internal")
	}
	return localizeError(s.Localizer(r), e)
}

// localizeError translates e by its message id, or each of its problems; an error without an id
// was not meant for a page and keeps its English message.
func localizeError(l *i18n.Localizer, e *account.Error) string {
	if len(e.Problems) > 0 {
		parts := make([]string, len(e.Problems))
		for i, p := range e.Problems {
			parts[i] = localizeError(l, p)
		}
		return l.Sentences(parts)
	}
	if e.MessageID == "" {
		return e.Message
	}
	data := make(map[string]any, len(e.Data))
	for k, v := range e.Data {
		if m, ok := v.(account.Msg); ok {
			v = l.T(string(m))
		}
		data[k] = v
	}
	return l.Message(e.MessageID, data)
}

type errorData struct {
	Message string
	Hint    string
}

// RenderError logs the failure once, with its detail, and shows a translated page without it.
func (s *Site) RenderError(w http.ResponseWriter, r *http.Request, err error) {
	v := Classify(err)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; there is nobody to answer.
		return
	}
	s.LogFailure(r, v, err)
	if v.RetryAfter != "" {
		w.Header().Set("Retry-After", v.RetryAfter)
	}
	w.Header().Set("Cache-Control", "no-store")
	p := s.NewPage(r, v.TitleID, errorData{Message: s.Localizer(r).T(v.MessageID)})
	s.Render(w, r, v.Status, "error", p)
}

// RenderStatus shows a plain error page for a status without an error value (404, 405, 403).
func (s *Site) RenderStatus(w http.ResponseWriter, r *http.Request, status int) {
	v := statusView(status)
	p := s.NewPage(r, v.TitleID, errorData{Message: s.Localizer(r).T(v.MessageID)})
	s.Render(w, r, v.Status, "error", p)
}
