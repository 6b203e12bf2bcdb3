package server

import (
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
	"github.com/unlockd/unlockd/internal/server/site"
)

// Session keys of the second-factor pages.
const (
	sessMFAAccount   = "mfa_account_id" // password proven, second factor pending
	sessMFAStarted   = "mfa_started"
	sessMFAEpoch     = "mfa_epoch" // the account's session epoch at the first step
	sessTOTPPending  = "totp_pending_secret"
	sessTOTPURL      = "totp_pending_url"
	sessTOTPOwner    = "totp_pending_account" // whose pending secret it is
	sessRecoveryOnce = "recovery_codes_once"
)

// mfaWindow is how long the second step may follow the password.
const mfaWindow = 5 * time.Minute

// beginSecondStep remembers that the password was right and sends the browser to /login/totp.
func (s *signInPages) beginSecondStep(w http.ResponseWriter, r *http.Request, a *account.Account) error {
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
func (s *signInPages) pendingSecondStep(r *http.Request) (id, epoch int64) {
	id = s.sessions.GetInt64(r.Context(), sessMFAAccount)
	started := time.Unix(s.sessions.GetInt64(r.Context(), sessMFAStarted), 0)
	if id == 0 || s.accounts.Now().Sub(started) > mfaWindow {
		return 0, 0
	}
	return id, s.sessions.GetInt64(r.Context(), sessMFAEpoch)
}

// secondStep is the account waiting for its second step in this browser, and its session epoch;
// without one it sends the browser back to sign in and ok is false.
func (s *signInPages) secondStep(w http.ResponseWriter, r *http.Request) (id, epoch int64, ok bool) {
	w.Header().Set("Cache-Control", "no-store")
	id, epoch = s.pendingSecondStep(r)
	if id == 0 {
		s.site.Flashes.Put(r, "info", "login_required")
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return 0, 0, false
	}
	return id, epoch, true
}

// loginTOTPForm asks for the second step of sign-in.
func (s *signInPages) loginTOTPForm(w http.ResponseWriter, r *http.Request) error {
	if _, _, ok := s.secondStep(w, r); !ok {
		return nil
	}
	s.site.Render(w, r, http.StatusOK, "logintotp", s.site.NewPage(r, "logintotp_title", nil))
	return nil
}

// loginTOTPSubmit is the second step of sign-in: an authenticator code or a recovery code.
func (s *signInPages) loginTOTPSubmit(w http.ResponseWriter, r *http.Request) error {
	id, epoch, ok := s.secondStep(w, r)
	if !ok {
		return nil
	}
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	res, err := s.accounts.Gate.SignInSecondFactor(r.Context(), id, account.SignInRequest{ClientIP: s.site.ClientIP(r),
		UserAgent: r.UserAgent(), DeviceToken: deviceCookie(r), Lang: s.site.Localizer(r).Lang}, r.PostForm.Get("code"))
	if errors.Is(err, account.ErrBadCode) || errors.Is(err, account.ErrBadCredentials) {
		p := s.site.NewPage(r, "logintotp_title", nil)
		p.Error = p.L.T("logintotp_wrong")
		s.site.Render(w, r, http.StatusOK, "logintotp", p)
		return nil
	} else if err != nil {
		return err
	}
	s.sessions.Remove(r.Context(), sessMFAAccount)
	s.sessions.Remove(r.Context(), sessMFAStarted)
	s.sessions.Remove(r.Context(), sessMFAEpoch)
	return s.startSession(w, r, res, epoch)
}

type totpData struct {
	Secret   string
	URL      template.URL // the otpauth URL, for an authenticator app on this device
	Enrolled bool
}

// pendingTOTP is the secret waiting in this session to be confirmed by the signed-in account, if any.
func (s *factorPages) pendingTOTP(r *http.Request) (secretText, url string) {
	if s.sessions.GetInt64(r.Context(), sessTOTPOwner) != site.CurrentAccount(r).ID {
		return "", ""
	}
	return s.sessions.GetString(r.Context(), sessTOTPPending), s.sessions.GetString(r.Context(), sessTOTPURL)
}

// dropPendingTOTP forgets the secret waiting to be confirmed.
func (s *factorPages) dropPendingTOTP(r *http.Request) {
	s.sessions.Remove(r.Context(), sessTOTPPending)
	s.sessions.Remove(r.Context(), sessTOTPURL)
	s.sessions.Remove(r.Context(), sessTOTPOwner)
}

// accountTOTPForm shows the authenticator secret to enroll (QR code, link and text). The secret
// waits in the session until it is confirmed or the person asks for a new one, so a reload or a
// second tab shows the key already scanned.
func (s *factorPages) accountTOTPForm(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	secretText, url := s.pendingTOTP(r)
	if secretText == "" || url == "" {
		var err error
		secretText, url, err = s.accounts.SecondFactors.BeginTOTP(site.CurrentAccount(r))
		if err != nil {
			return err
		}
		s.sessions.Put(r.Context(), sessTOTPPending, secretText)
		s.sessions.Put(r.Context(), sessTOTPURL, url)
		s.sessions.Put(r.Context(), sessTOTPOwner, site.CurrentAccount(r).ID)
	}
	// The flash says, for one, why staff were sent here.
	return s.renderTOTP(w, r, secretText, url, s.site.Flashes.Pop(r), "")
}

// accountTOTPNew throws the pending secret away, so that the next page shows a new one.
func (s *factorPages) accountTOTPNew(w http.ResponseWriter, r *http.Request) error {
	s.dropPendingTOTP(r)
	s.site.Flashes.Put(r, "info", "totp_new_key_made")
	http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
	return nil
}

// accountTOTPSubmit enrolls the secret shown with a first code from it. An account without
// recovery codes gets its ten at once, on the page that confirms the app.
func (s *factorPages) accountTOTPSubmit(w http.ResponseWriter, r *http.Request) error {
	a := site.CurrentAccount(r)
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	pending, url := s.pendingTOTP(r)
	if pending == "" {
		http.Redirect(w, r, "/account/totp", http.StatusSeeOther)
		return nil
	}
	lang := s.site.Localizer(r).Lang
	err := s.accounts.SecondFactors.ConfirmTOTP(r.Context(), a, pending, r.PostForm.Get("code"), s.thisSession(r), s.site.ClientIP(r), lang)
	switch {
	case errors.Is(err, account.ErrBadCode):
		return s.renderTOTP(w, r, pending, url, nil, "totp_wrong")
	case errors.Is(err, account.ErrSessionEnded):
		return s.signedOutMeanwhile(w, r)
	case err != nil:
		return err
	}
	s.dropPendingTOTP(r)
	status, err := s.accounts.SecondFactors.SecondFactorStatus(r.Context(), a.ID)
	if err != nil {
		return err
	}
	// The codes are made while the session still has the id they are asked from; then, a
	// privilege change, a new id.
	var codes []string
	if status.RecoveryLeft == 0 {
		codes, err = s.accounts.SecondFactors.NewRecoveryCodes(r.Context(), a, s.thisSession(r), s.site.ClientIP(r), lang)
		if errors.Is(err, account.ErrSessionEnded) {
			return s.signedOutMeanwhile(w, r)
		} else if err != nil {
			return err
		}
	}
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	if codes == nil {
		s.site.Flashes.Put(r, "ok", "totp_enrolled")
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil
	}
	s.showRecoveryCodes(w, r, codes, &site.Flash{Kind: "ok", Text: s.site.Localizer(r).T("totp_enrolled_codes")})
	return nil
}

// renderTOTP shows the enrollment page for a secret.
func (s *factorPages) renderTOTP(w http.ResponseWriter, r *http.Request, secretText, url string, f *site.Flash, errID string) error {
	status, err := s.accounts.SecondFactors.SecondFactorStatus(r.Context(), site.CurrentAccount(r).ID)
	if err != nil {
		return err
	}
	data := totpData{Secret: secretText, Enrolled: status.TOTP}
	if strings.HasPrefix(url, "otpauth://") {
		data.URL = template.URL(url) // made by package secret, not by the visitor
	}
	p := s.site.NewPage(r, "totp_title", data)
	p.Flash = f
	if errID != "" {
		p.Error = p.L.T(errID)
	}
	s.site.Render(w, r, http.StatusOK, "totp", p)
	return nil
}

// accountTOTPQR serves the pending secret's QR code as a PNG, made here: no outside service sees it.
func (s *factorPages) accountTOTPQR(w http.ResponseWriter, r *http.Request) error {
	_, url := s.pendingTOTP(r)
	if url == "" {
		s.site.RenderStatus(w, r, http.StatusNotFound)
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

// accountRecoveryCodes makes ten new recovery codes and shows them once (behind requireFreshAuth).
func (s *factorPages) accountRecoveryCodes(w http.ResponseWriter, r *http.Request) error {
	a := site.CurrentAccount(r)
	codes, err := s.accounts.SecondFactors.NewRecoveryCodes(r.Context(), a, s.thisSession(r), s.site.ClientIP(r), s.site.Localizer(r).Lang)
	if errors.Is(err, account.ErrSessionEnded) {
		return s.signedOutMeanwhile(w, r)
	} else if err != nil {
		return err
	}
	s.showRecoveryCodes(w, r, codes, nil)
	return nil
}

// showRecoveryCodes shows codes just made, once, and keeps them in the session for one download.
func (s *factorPages) showRecoveryCodes(w http.ResponseWriter, r *http.Request, codes []string, f *site.Flash) {
	// Kept in the session only until downloaded once or replaced.
	s.sessions.Put(r.Context(), sessRecoveryOnce, strings.Join(codes, "\n"))
	w.Header().Set("Cache-Control", "no-store")
	p := s.site.NewPage(r, "recovery_title", recoveryData{Codes: codes})
	p.Flash = f
	s.site.Render(w, r, http.StatusOK, "recovery", p)
}

// accountRecoveryDownload hands the codes just made over as a text file, once.
func (s *factorPages) accountRecoveryDownload(w http.ResponseWriter, r *http.Request) error {
	codes := s.sessions.PopString(r.Context(), sessRecoveryOnce)
	if codes == "" {
		s.site.RenderStatus(w, r, http.StatusNotFound)
		return nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="unlockd-recovery-codes.txt"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("unlockd recovery codes for " + site.CurrentAccount(r).Username + "\nEach works once.\n\n" + codes + "\n"))
	return nil
}
