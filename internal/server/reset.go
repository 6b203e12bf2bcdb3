package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

// resetHeaders keep the token out of Referer headers and caches (SECURITY.md 11).
func resetHeaders(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

// resetStartForm asks for the username to send a reset link to.
func (s *resetPages) resetStartForm(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	p := s.site.NewPage(r, "reset_title", nil)
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "reset", p)
	return nil
}

// resetStartSubmit sends a reset link. The link goes only to the address on file; the page reads
// the same whether or not the account exists.
func (s *resetPages) resetStartSubmit(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	login := r.PostForm.Get("username")
	if _, ok := account.NormalizeLogin(login); !ok {
		p := s.site.NewPage(r, "reset_title", nil)
		p.Error = p.L.T("flow_username_required")
		s.site.Render(w, r, http.StatusOK, "reset", p)
		return nil
	}
	if err := s.accounts.SelfService.StartReset(r.Context(), login, s.site.ClientIP(r), s.site.Localizer(r).Lang); err != nil {
		return err
	}
	s.site.Flashes.Put(r, "ok", "reset_sent")
	http.Redirect(w, r, "/reset", http.StatusSeeOther)
	return nil
}

type resetFormData struct {
	MinLength    int
	CurrentWrong bool // always false: a reset has no current password
}

// resetForm shows the new-password form for a working link.
func (s *resetPages) resetForm(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	token := chi.URLParam(r, "token")
	a, err := s.accounts.SelfService.ResetAccount(r.Context(), token)
	if errors.Is(err, account.ErrBadResetLink) {
		s.site.Render(w, r, http.StatusNotFound, "resetinvalid", s.site.NewPage(r, "reset_title", nil))
		return nil
	} else if err != nil {
		return err
	}
	return s.renderResetForm(w, r, a, http.StatusOK, "")
}

func (s *resetPages) renderResetForm(w http.ResponseWriter, r *http.Request, a *account.Account, status int, problem string) error {
	minLen, err := s.accounts.SelfService.MinPasswordLength(r.Context(), a.ID)
	if err != nil {
		return err
	}
	p := s.site.NewPage(r, "reset_title", resetFormData{MinLength: minLen})
	p.Error = problem
	s.site.Render(w, r, status, "resetform", p)
	return nil
}

// resetSubmit sets the new password. It never signs the user in.
func (s *resetPages) resetSubmit(w http.ResponseWriter, r *http.Request) error {
	resetHeaders(w)
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	token := chi.URLParam(r, "token")
	a, err := s.accounts.SelfService.CompleteReset(r.Context(), token, r.PostForm.Get("password"), r.PostForm.Get("password_confirm"),
		s.site.ClientIP(r), s.site.Localizer(r).Lang)
	var problem *account.PasswordProblem
	switch {
	case errors.As(err, &problem):
		l := s.site.Localizer(r)
		return s.renderResetForm(w, r, a, http.StatusOK, l.T(problem.ID, "Min", strconv.Itoa(problem.Min)))
	case errors.Is(err, account.ErrBadResetLink):
		s.site.Render(w, r, http.StatusNotFound, "resetinvalid", s.site.NewPage(r, "reset_title", nil))
		return nil
	case a != nil && account.ErrorCode(err) == account.EINVALID:
		// The directory's own password policy refused it: the form again, saying why.
		return s.renderResetForm(w, r, a, http.StatusOK, s.site.ErrorText(r, err))
	case err != nil:
		return err
	}
	// The reset ended all of the account's sessions, this browser's too if it was signed in as it: a
	// reset never signs anyone in (SECURITY.md 12).
	if cur := site.CurrentAccount(r); cur != nil && cur.ID == a.ID {
		s.site.EndSession(w, r)
		r = r.WithContext(site.WithAccount(r.Context(), nil))
	}
	s.site.Render(w, r, http.StatusOK, "resetdone", s.site.NewPage(r, "reset_title", nil))
	return nil
}
