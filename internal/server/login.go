package server

import (
	"errors"
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

// loginForm shows the sign-in form, or sends a signed-in visitor to their account.
func (s *signInPages) loginForm(w http.ResponseWriter, r *http.Request) error {
	if site.CurrentAccount(r) != nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil
	}
	p := s.site.NewPage(r, "login_title", nil)
	p.Flash = s.site.Flashes.Pop(r)
	w.Header().Set("Cache-Control", "no-store")
	s.site.Render(w, r, http.StatusOK, "login", p)
	return nil
}

// loginSubmit checks the password. Every failure shows the same page with the same status, so the
// answer does not tell whether the account exists or is locked.
func (s *signInPages) loginSubmit(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	username := r.PostForm.Get("username")
	res, err := s.accounts.Gate.SignIn(r.Context(), account.SignInRequest{
		Login:       username,
		Password:    r.PostForm.Get("password"),
		ClientIP:    s.site.ClientIP(r),
		UserAgent:   r.UserAgent(),
		DeviceToken: deviceCookie(r),
		Lang:        s.site.Localizer(r).Lang,
	})
	if errors.Is(err, account.ErrBadCredentials) {
		s.log.Info("sign-in failed", "username", username, "client_ip", s.site.ClientIP(r))
		// The username is given back as it was typed, so the person corrects only what was wrong;
		// it is the same page for every account, whether it exists or not.
		p := s.site.NewPage(r, "login_title", loginData{Username: site.ClipForm(username, 254)})
		p.Error = p.L.T("login_failed")
		w.Header().Set("Cache-Control", "no-store")
		s.site.Render(w, r, http.StatusOK, "login", p)
		return nil
	} else if err != nil {
		return err
	}
	if res.NeedsSecondFactor {
		return s.beginSecondStep(w, r, res.Account)
	}
	return s.startSession(w, r, res, res.Account.SessionEpoch)
}

// loginData is what the sign-in form shows again after a failure.
type loginData struct{ Username string }

// signInAgain ends the session and asks for the password again: the button of the page a
// sensitive page shows without a recent sign-in (site.NeedFreshAuth).
func (s *signInPages) signInAgain(w http.ResponseWriter, r *http.Request) error {
	s.site.NeedFreshAuth(w, r)
	return nil
}

// startSession signs the browser in after a successful sign-in, whatever the method. epoch is the
// account's session epoch when the sign-in began: if the account's sessions end meanwhile, this one
// is refused at its first request.
func (s *signInPages) startSession(w http.ResponseWriter, r *http.Request, res *account.SignInResult, epoch int64) error {
	// A new session id at every sign-in: an id planted before sign-in is worthless after it.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	now := s.accounts.Now().Unix()
	s.sessions.Put(r.Context(), site.SessAccountID, res.Account.ID)
	s.sessions.Put(r.Context(), site.SessEpoch, epoch)
	s.sessions.Put(r.Context(), site.SessAuthAt, now)
	s.sessions.Put(r.Context(), site.SessSeenAt, now)
	if res.PreviousSignIn != nil {
		s.sessions.Put(r.Context(), site.SessPreviousSignIn, res.PreviousSignIn.Unix())
	}
	if res.DeviceToken != "" {
		s.setDeviceCookie(w, res.DeviceToken)
	}
	s.log.Info("signed in", "account_id", res.Account.ID, "client_ip", s.site.ClientIP(r))
	// Staff land on the dashboard (which first asks for an authenticator if they have none).
	to := "/account"
	switch {
	case res.DirectoryPasswordExpired:
		// The directory took the password but wants a new one before anything else.
		s.site.Flashes.Put(r, "error", "password_expired_directory")
		to = "/account/password"
	case res.Account.Role.IsStaff():
		to = "/admin"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// logout ends the session on the server, not just in the browser.
func (s *signInPages) logout(w http.ResponseWriter, r *http.Request) error {
	return s.signOut(w, r, "ok", "login_signed_out")
}

// The device cookie marks a browser where the owner signed in before (the OWASP device-cookie
// pattern): failures elsewhere do not lock the owner out of it.
const deviceCookieName = "unlockd_device"

func deviceCookie(r *http.Request) string {
	c, err := r.Cookie(deviceCookieName)
	if err != nil {
		return ""
	}
	return c.Value
}

func (s *signInPages) setDeviceCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: deviceCookieName, Value: token, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: http.SameSiteLaxMode})
}
