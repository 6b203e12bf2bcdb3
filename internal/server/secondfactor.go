package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// Session keys of the second-factor pages.
const (
	sessMFAAccount   = "mfa_account_id" // password proven, second factor pending
	sessMFAStarted   = "mfa_started"
	sessMFAEpoch     = "mfa_epoch" // the account's session epoch at the first step
	sessTOTPPending  = "totp_pending_secret"
	sessTOTPURL      = "totp_pending_url"
	sessRecoveryOnce = "recovery_codes_once"
)

// mfaWindow is how long the second step may follow the password.
const mfaWindow = 5 * time.Minute

// freshAuth is how recent the last proof must be for a sensitive change (SECURITY.md 14).
const freshAuth = 10 * time.Minute

// beginSecondStep remembers that the password was right and sends the browser to /login/totp.
func (s *Server) beginSecondStep(w http.ResponseWriter, r *http.Request, a *account.Account) error {
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	s.sessions.Put(r.Context(), sessMFAAccount, a.ID)
	s.sessions.Put(r.Context(), sessMFAStarted, s.accounts.Now().Unix())
	s.sessions.Put(r.Context(), sessMFAEpoch, a.SessionEpoch)
	http.Redirect(w, r, "/login/totp", http.StatusSeeOther)
	return nil
}

// pendingSecondStep is the account whose password was proven in this browser lately, and its session
// epoch then: the sign-in dates from the first step, so sessions ended between the steps end it too.
func (s *Server) pendingSecondStep(r *http.Request) (id, epoch int64) {
	id = s.sessions.GetInt64(r.Context(), sessMFAAccount)
	started := time.Unix(s.sessions.GetInt64(r.Context(), sessMFAStarted), 0)
	if id == 0 || s.accounts.Now().Sub(started) > mfaWindow {
		return 0, 0
	}
	return id, s.sessions.GetInt64(r.Context(), sessMFAEpoch)
}

// loginTOTP is the second step of sign-in: an authenticator code or a recovery code.
func (s *Server) loginTOTP(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	id, epoch := s.pendingSecondStep(r)
	if id == 0 {
		s.putFlash(r, "info", "login_required")
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil
	}
	if r.Method == http.MethodGet {
		s.render(w, r, http.StatusOK, "logintotp", s.newPage(r, "logintotp_title", nil))
		return nil
	}
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, r, formErrorStatus(err))
		return nil
	}
	res, err := s.accounts.SignInSecondFactor(r.Context(), id, account.SignInRequest{ClientIP: s.clientIP(r),
		UserAgent: r.UserAgent(), DeviceToken: deviceCookie(r)}, r.PostForm.Get("code"))
	if errors.Is(err, account.ErrBadCode) || errors.Is(err, account.ErrBadCredentials) {
		p := s.newPage(r, "logintotp_title", nil)
		p.Error = p.L.T("logintotp_wrong")
		s.render(w, r, http.StatusOK, "logintotp", p)
		return nil
	} else if err != nil {
		return err
	}
	s.sessions.Remove(r.Context(), sessMFAAccount)
	s.sessions.Remove(r.Context(), sessMFAStarted)
	s.sessions.Remove(r.Context(), sessMFAEpoch)
	return s.startSession(w, r, res, epoch)
}

// recentlyAuthenticated reports whether the session proved the password (or a code) lately.
func (s *Server) recentlyAuthenticated(r *http.Request) bool {
	at := time.Unix(s.sessions.GetInt64(r.Context(), sessAuthAt), 0)
	return s.accounts.Now().Sub(at) <= freshAuth
}

// needFreshAuth ends the session and asks for the password again before a sensitive change.
func (s *Server) needFreshAuth(w http.ResponseWriter, r *http.Request) {
	s.endSession(w, r)
	s.putFlash(r, "info", "reauth_needed")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type totpData struct {
	Secret   string
	Enrolled bool
}

// accountTOTP shows a new authenticator secret (QR code and text) and enrolls it with a first code.
func (s *Server) accountTOTP(w http.ResponseWriter, r *http.Request) error {
	a := currentAccount(r)
	if !s.recentlyAuthenticated(r) {
		s.needFreshAuth(w, r)
		return nil
	}
	status, err := s.accounts.SecondFactorStatus(r.Context(), a.ID)
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		secretText, url, err := s.accounts.BeginTOTP(a)
		if err != nil {
			return err
		}
		s.sessions.Put(r.Context(), sessTOTPPending, secretText)
		s.sessions.Put(r.Context(), sessTOTPURL, url)
		p := s.newPage(r, "totp_title", totpData{Secret: secretText, Enrolled: status.TOTP})
		p.Flash = s.popFlash(r) // e.g. why staff were sent here
		s.render(w, r, http.StatusOK, "totp", p)
		return nil
	}
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, r, formErrorStatus(err))
		return nil
	}
	pending := s.sessions.GetString(r.Context(), sessTOTPPending)
	if pending == "" {
		http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
		return nil
	}
	err = s.accounts.ConfirmTOTP(r.Context(), a, pending, r.PostForm.Get("code"), s.clientIP(r), s.localizer(r).Lang)
	if errors.Is(err, account.ErrBadCode) {
		p := s.newPage(r, "totp_title", totpData{Secret: pending, Enrolled: status.TOTP})
		p.Error = p.L.T("totp_wrong")
		s.render(w, r, http.StatusOK, "totp", p)
		return nil
	} else if err != nil {
		return err
	}
	s.sessions.Remove(r.Context(), sessTOTPPending)
	s.sessions.Remove(r.Context(), sessTOTPURL)
	// A privilege change: a new session id.
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	s.putFlash(r, "ok", "totp_enrolled")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}

// accountTOTPQR serves the pending secret's QR code as a PNG, made here: no outside service sees it.
func (s *Server) accountTOTPQR(w http.ResponseWriter, r *http.Request) error {
	url := s.sessions.GetString(r.Context(), sessTOTPURL)
	if url == "" {
		s.renderStatus(w, r, http.StatusNotFound)
		return nil
	}
	png, err := secret.TOTPQRCode(url, 240)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(png)
	return nil
}

type recoveryData struct {
	Codes []string
}

// accountRecoveryCodes makes ten new recovery codes and shows them once.
func (s *Server) accountRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	a := currentAccount(r)
	if !s.recentlyAuthenticated(r) {
		s.needFreshAuth(w, r)
		return nil
	}
	codes, err := s.accounts.NewRecoveryCodes(r.Context(), a, s.clientIP(r), s.localizer(r).Lang)
	if err != nil {
		return err
	}
	// Kept in the session only until downloaded once or replaced.
	s.sessions.Put(r.Context(), sessRecoveryOnce, strings.Join(codes, "\n"))
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "recovery", s.newPage(r, "recovery_title", recoveryData{Codes: codes}))
	return nil
}

// accountRecoveryDownload hands the codes just made over as a text file, once.
func (s *Server) accountRecoveryDownload(w http.ResponseWriter, r *http.Request) error {
	codes := s.sessions.PopString(r.Context(), sessRecoveryOnce)
	if codes == "" {
		s.renderStatus(w, r, http.StatusNotFound)
		return nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="unlockd-recovery-codes.txt"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("unlockd recovery codes for " + currentAccount(r).Username + "\nEach works once.\n\n" + codes + "\n"))
	return nil
}
