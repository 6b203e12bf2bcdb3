package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
)

// resetHeaders keep the token out of Referer headers and caches (SECURITY.md 11).
func resetHeaders(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

// resetStartForm asks for the username to send a reset link to.
func (s *Server) resetStartForm(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	p := s.newPage(r, "reset_title", nil)
	p.Flash = s.popFlash(r)
	s.render(w, r, http.StatusOK, "reset", p)
	return nil
}

// resetStartSubmit sends a reset link. The link goes only to the address on file; the page reads
// the same whether or not the account exists.
func (s *Server) resetStartSubmit(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, r, formErrorStatus(err))
		return nil
	}
	login := r.PostForm.Get("username")
	if _, ok := account.NormalizeLogin(login); !ok {
		p := s.newPage(r, "reset_title", nil)
		p.Error = p.L.T("flow_username_required")
		s.render(w, r, http.StatusOK, "reset", p)
		return nil
	}
	if err := s.accounts.SelfService.StartReset(r.Context(), login, s.clientIP(r), s.localizer(r).Lang); err != nil {
		return err
	}
	s.putFlash(r, "ok", "reset_sent")
	http.Redirect(w, r, "/reset", http.StatusSeeOther)
	return nil
}

type resetFormData struct {
	MinLength    int
	CurrentWrong bool // always false: a reset has no current password
}

// resetForm shows the new-password form for a working link.
func (s *Server) resetForm(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	token := chi.URLParam(r, "token")
	a, err := s.accounts.SelfService.ResetAccount(r.Context(), token)
	if errors.Is(err, account.ErrBadResetLink) {
		s.render(w, r, http.StatusNotFound, "resetinvalid", s.newPage(r, "reset_title", nil))
		return nil
	} else if err != nil {
		return err
	}
	return s.renderResetForm(w, r, a, http.StatusOK, "")
}

func (s *Server) renderResetForm(w http.ResponseWriter, r *http.Request, a *account.Account, status int, problem string) error {
	minLen, err := s.accounts.SelfService.MinPasswordLength(r.Context(), a.ID)
	if err != nil {
		return err
	}
	p := s.newPage(r, "reset_title", resetFormData{MinLength: minLen})
	p.Error = problem
	s.render(w, r, status, "resetform", p)
	return nil
}

// resetSubmit sets the new password. It never signs the user in.
func (s *Server) resetSubmit(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, r, formErrorStatus(err))
		return nil
	}
	token := chi.URLParam(r, "token")
	a, err := s.accounts.SelfService.CompleteReset(r.Context(), token, r.PostForm.Get("password"), r.PostForm.Get("password_confirm"),
		s.clientIP(r), s.localizer(r).Lang)
	var problem *account.PasswordProblem
	switch {
	case errors.As(err, &problem):
		l := s.localizer(r)
		return s.renderResetForm(w, r, a, http.StatusOK, l.T(problem.ID, "Min", strconv.Itoa(problem.Min)))
	case errors.Is(err, account.ErrBadResetLink):
		s.render(w, r, http.StatusNotFound, "resetinvalid", s.newPage(r, "reset_title", nil))
		return nil
	case err != nil:
		return err
	}
	// The reset ended all of the account's sessions, this browser's too if it was signed in as it: a
	// reset never signs anyone in (SECURITY.md 12).
	if cur := currentAccount(r); cur != nil && cur.ID == a.ID {
		s.endSession(w, r)
		r = r.WithContext(context.WithValue(r.Context(), ctxAccount, (*account.Account)(nil)))
	}
	s.render(w, r, http.StatusOK, "resetdone", s.newPage(r, "reset_title", nil))
	return nil
}
