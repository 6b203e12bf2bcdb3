package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/i18n"
	"github.com/unlockd/unlockd/internal/secret"
)

// handlerFunc is a handler that returns its error instead of writing it, so that no path can forget
// to stop after a failure: errors are rendered in one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.renderError(w, r, err)
		}
	}
}

// errorView is how one kind of failure is answered, on a page and in the API, and logged.
type errorView struct {
	code       string     // the domain's code (account.E*), for the log
	status     int        // HTTP status, for pages and the API alike
	level      slog.Level // a designed answer (busy, throttled, bad input) is a warning; a failure an error
	titleID    string     // the page's title and message
	messageID  string
	apiCode    string // the API's stable code
	apiMessage string // the API's message; empty: the error's own message, which is meant for the caller
	retryAfter string // seconds, when trying again later will do
}

// errorTable is the one mapping of the domain's error codes to answers: every code of
// internal/account/errors.go has its row.
var errorTable = []errorView{
	{account.EINVALID, http.StatusBadRequest, slog.LevelWarn, "error_bad_request_title", "error_bad_request", "invalid", "", ""},
	{account.EUNAUTHORIZED, http.StatusUnauthorized, slog.LevelWarn, "error_unauthorized_title", "error_unauthorized", "unauthorized", "", ""},
	{account.EFORBIDDEN, http.StatusForbidden, slog.LevelWarn, "error_forbidden_title", "error_forbidden", "forbidden", "", ""},
	{account.ENOTFOUND, http.StatusNotFound, slog.LevelWarn, "error_not_found_title", "error_not_found", "not_found", "No such account.", ""},
	{account.ECONFLICT, http.StatusConflict, slog.LevelWarn, "error_conflict_title", "error_conflict", "conflict", "", ""},
	{account.ETHROTTLED, http.StatusTooManyRequests, slog.LevelWarn, "error_throttled_title", "error_throttled", "throttled", "", "900"},
	// The bounded hasher's designed answer (SECURITY.md 15), not a fault.
	{account.EBUSY, http.StatusServiceUnavailable, slog.LevelWarn, "error_busy_title", "error_busy", "unavailable", "Try again shortly.", "2"},
	{account.EUNAVAILABLE, http.StatusServiceUnavailable, slog.LevelError, "error_unavailable_title", "error_unavailable", "unavailable", "Try again shortly.", "30"},
	{account.EINTERNAL, http.StatusInternalServerError, slog.LevelError, "error_title", "error_internal", "internal", "Internal error.", ""},
}

// errorRow is the table's row for a code; a code without one is answered as internal.
func errorRow(code string) errorView {
	for _, v := range errorTable {
		if v.code == code {
			return v
		}
	}
	return errorRow(account.EINTERNAL)
}

// classify maps an error to its answer. This is the only such mapping in the server: pages
// (renderError) and the API (apiFail) both answer by it.
func classify(err error) errorView {
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
func statusView(status int) errorView {
	switch status {
	case http.StatusMethodNotAllowed:
		return errorView{status: status, titleID: "error_method_title", messageID: "error_method"}
	case http.StatusNotFound:
		return errorRow(account.ENOTFOUND)
	case http.StatusForbidden:
		return errorRow(account.EFORBIDDEN)
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		v := errorRow(account.EINVALID)
		v.status = status
		return v
	}
	v := errorRow(account.EINTERNAL)
	v.status = status
	return v
}

// logFailure writes the one log line of a failed request, at the level its kind calls for.
func (s *Server) logFailure(r *http.Request, v errorView, err error) {
	s.log.Log(r.Context(), v.level, "request failed", "method", r.Method, "path", loggedPath(r),
		"status", v.status, "code", v.code, "client_ip", s.clientIP(r), "err", err)
}

// errorText is a domain refusal as a page shows it, in the page's language. It is the one way a
// page shows a domain error; the API and the command line keep the error's English Message.
func (s *Server) errorText(r *http.Request, err error) string {
	var e *account.Error
	if !errors.As(err, &e) {
		return s.localizer(r).T("error_internal")
	}
	return localizeError(s.localizer(r), e)
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

// renderError logs the failure once, with its detail, and shows a translated page without it.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	v := classify(err)
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; there is nobody to answer.
		return
	}
	s.logFailure(r, v, err)
	if v.retryAfter != "" {
		w.Header().Set("Retry-After", v.retryAfter)
	}
	w.Header().Set("Cache-Control", "no-store")
	p := s.newPage(r, v.titleID, errorData{Message: s.localizer(r).T(v.messageID)})
	s.render(w, r, v.status, "error", p)
}

// renderStatus shows a plain error page for a status without an error value (404, 405, 403).
func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int) {
	v := statusView(status)
	p := s.newPage(r, v.titleID, errorData{Message: s.localizer(r).T(v.messageID)})
	s.render(w, r, v.status, "error", p)
}
