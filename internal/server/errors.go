package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
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

// errorView is how one kind of failure looks to people, and to the log.
type errorView struct {
	status     int
	titleID    string
	messageID  string
	retryAfter string
	code       string     // stable, for the log (and the API's error code where it has none of its own)
	level      slog.Level // a designed answer (busy, throttled, bad input) is a warning; a failure an error
}

// classify maps an error to its status and page. This is the only such mapping in the server.
func classify(err error) errorView {
	switch {
	case errors.Is(err, secret.ErrBusy) || account.ErrorCode(err) == account.EBUSY:
		// The bounded hasher's designed answer (SECURITY.md 15), not a fault.
		return errorView{http.StatusServiceUnavailable, "error_busy_title", "error_busy", "2", account.EBUSY, slog.LevelWarn}
	case account.ErrorCode(err) == account.ETHROTTLED:
		return errorView{http.StatusTooManyRequests, "error_throttled_title", "error_throttled", "900", account.ETHROTTLED, slog.LevelWarn}
	case account.ErrorCode(err) == account.EUNAVAILABLE:
		return errorView{http.StatusServiceUnavailable, "error_unavailable_title", "error_unavailable", "30", account.EUNAVAILABLE, slog.LevelError}
	case errors.Is(err, context.DeadlineExceeded):
		return errorView{http.StatusServiceUnavailable, "error_unavailable_title", "error_unavailable", "30", account.EUNAVAILABLE, slog.LevelError}
	case account.ErrorCode(err) == account.ENOTFOUND:
		return errorView{http.StatusNotFound, "error_not_found_title", "error_not_found", "", account.ENOTFOUND, slog.LevelWarn}
	case account.ErrorCode(err) == account.EFORBIDDEN:
		return errorView{http.StatusForbidden, "error_forbidden_title", "error_forbidden", "", account.EFORBIDDEN, slog.LevelWarn}
	case account.ErrorCode(err) == account.EINVALID:
		return errorView{http.StatusBadRequest, "error_bad_request_title", "error_bad_request", "", account.EINVALID, slog.LevelWarn}
	}
	return errorView{http.StatusInternalServerError, "error_title", "error_internal", "", account.EINTERNAL, slog.LevelError}
}

// logFailure writes the one log line of a failed request, at the level its kind calls for.
func (s *Server) logFailure(r *http.Request, v errorView, err error) {
	s.log.Log(r.Context(), v.level, "request failed", "method", r.Method, "path", loggedPath(r),
		"status", v.status, "code", v.code, "client_ip", s.clientIP(r), "err", err)
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
	var title, msg string
	switch status {
	case http.StatusNotFound:
		title, msg = "error_not_found_title", "error_not_found"
	case http.StatusMethodNotAllowed:
		title, msg = "error_method_title", "error_method"
	case http.StatusForbidden:
		title, msg = "error_forbidden_title", "error_forbidden"
	case http.StatusRequestEntityTooLarge, http.StatusBadRequest:
		title, msg = "error_bad_request_title", "error_bad_request"
	default:
		title, msg = "error_title", "error_internal"
	}
	p := s.newPage(r, title, errorData{Message: s.localizer(r).T(msg)})
	s.render(w, r, status, "error", p)
}
