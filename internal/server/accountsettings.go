package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/server/site"
)

// thisSession is the handle of the request's own session.
func (s *pages) thisSession(r *http.Request) string {
	return secret.SessionHandle(s.sessions.Token(r.Context()))
}

// accountLanguage sets the language of the owner's messages.
func (s *accountPages) accountLanguage(w http.ResponseWriter, r *http.Request) error {
	return s.setPreference(w, r, "language", "account_language_saved", s.accounts.OwnAccount.SetLanguage)
}

// accountTimeZone sets the zone the owner reads times in, on pages and in messages.
func (s *accountPages) accountTimeZone(w http.ResponseWriter, r *http.Request) error {
	return s.setPreference(w, r, "time_zone", "account_time_zone_saved", s.accounts.OwnAccount.SetTimeZone)
}

// setPreference stores one field of the account page's preferences with set, and goes back to the
// page saying so, or saying what is wrong with the value.
func (s *accountPages) setPreference(w http.ResponseWriter, r *http.Request, field, savedID string,
	set func(context.Context, *account.Account, string) error) error {
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	err := set(r.Context(), site.CurrentAccount(r), r.PostForm.Get(field))
	if account.ErrorCode(err) == account.EINVALID {
		s.site.Flashes.PutText(r, "error", s.site.ErrorText(r, err))
	} else if err != nil {
		return err
	} else {
		s.site.Flashes.Put(r, "ok", savedID)
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

type passwordData struct {
	MinLength    int
	CurrentWrong bool // the error is about the current password, not the new one
}

// accountPasswordForm asks for the current password and a new one.
func (s *accountPages) accountPasswordForm(w http.ResponseWriter, r *http.Request) error {
	return s.renderPassword(w, r, "", false)
}

// accountPasswordSubmit changes the password; the current one is the fresh proof.
func (s *accountPages) accountPasswordSubmit(w http.ResponseWriter, r *http.Request) error {
	a := site.CurrentAccount(r)
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	l := s.site.Localizer(r)
	epoch, err := s.accounts.OwnAccount.ChangePassword(r.Context(), a, r.PostForm.Get("current_password"), r.PostForm.Get("password"),
		r.PostForm.Get("password_confirm"), s.thisSession(r), s.site.ClientIP(r), l.Lang)
	var problem *account.PasswordProblem
	switch {
	case errors.Is(err, account.ErrSessionEnded):
		return s.signedOutMeanwhile(w, r)
	case errors.Is(err, account.ErrWrongPassword):
		return s.renderPassword(w, r, l.T("password_wrong_current"), true)
	case errors.As(err, &problem):
		return s.renderPassword(w, r, l.T(problem.ID, "Min", strconv.Itoa(problem.Min)), false)
	case account.ErrorCode(err) == account.EINVALID:
		// The directory's own password policy refused it, saying why.
		return s.renderPassword(w, r, s.site.ErrorText(r, err), false)
	case err != nil:
		return err
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	// The change ended every other session by a new epoch; this one stays by taking it.
	s.sessions.Put(r.Context(), site.SessEpoch, epoch)
	s.sessions.Put(r.Context(), site.SessAuthAt, s.accounts.Now().Unix())
	s.site.Flashes.Put(r, "ok", "password_changed_ok")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// renderPassword shows the password form; currentWrong says the error is about the current password.
func (s *accountPages) renderPassword(w http.ResponseWriter, r *http.Request, errText string, currentWrong bool) error {
	minLen, err := s.accounts.SelfService.MinPasswordLength(r.Context(), site.CurrentAccount(r).ID)
	if err != nil {
		return err
	}
	p := s.site.NewPage(r, "password_title", passwordData{MinLength: minLen, CurrentWrong: currentWrong})
	p.Error = errText
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "password", p)
	return nil
}
