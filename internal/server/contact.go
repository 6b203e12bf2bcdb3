package server

import (
	"errors"
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

const (
	sessContactKind  = "contact_kind"
	sessContactValue = "contact_value"
	sessContactFlow  = "contact_flow" // the nonce the change's code is bound to
)

type contactData struct {
	Kind    string // email or sms
	Pending string // the new contact a code went to
}

// accountContactForm asks for a new email address or phone number (behind requireFreshAuth).
func (s *accountPages) accountContactForm(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	s.site.Render(w, r, http.StatusOK, "contact", s.site.NewPage(r, "contact_title", contactData{}))
	return nil
}

// accountContactSubmit starts changing the email address or phone number: a code goes to the new
// contact first (behind requireFreshAuth).
func (s *accountPages) accountContactSubmit(w http.ResponseWriter, r *http.Request) error {
	a := site.CurrentAccount(r)
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	kind := channelOf(r.PostForm.Get("kind"))
	// The code belongs to this browser's change alone: a new flow, and its nonce, at every start.
	flow, err := account.NewFlow(account.PurposeContact, a.Username, kind)
	if err != nil {
		return err
	}
	value, err := s.accounts.OwnAccount.StartContactChange(r.Context(), a, kind, r.PostForm.Get("value"), s.site.ClientIP(r), s.site.Localizer(r).Lang, flow.Nonce)
	if account.ErrorCode(err) == account.EINVALID {
		p := s.site.NewPage(r, "contact_title", contactData{})
		p.Error = s.site.ErrorText(r, err)
		s.site.Render(w, r, http.StatusOK, "contact", p)
		return nil
	} else if err != nil {
		return err
	}
	s.sessions.Put(r.Context(), sessContactKind, kind)
	s.sessions.Put(r.Context(), sessContactValue, value)
	s.sessions.Put(r.Context(), sessContactFlow, flow.Nonce)
	s.site.Render(w, r, http.StatusOK, "contact", s.site.NewPage(r, "contact_title", contactData{Kind: kind, Pending: maskContact(kind, value)}))
	return nil
}

func maskContact(kind, value string) string {
	if kind == account.ChannelSMS {
		return account.MaskPhone(value)
	}
	return account.MaskEmail(value)
}

// accountContactVerify takes the code sent to the new contact and makes the change.
func (s *accountPages) accountContactVerify(w http.ResponseWriter, r *http.Request) error {
	a := site.CurrentAccount(r)
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	kind, value := s.sessions.GetString(r.Context(), sessContactKind), s.sessions.GetString(r.Context(), sessContactValue)
	if value == "" {
		http.Redirect(w, r, "/account/contact", http.StatusSeeOther)
		return nil
	}
	err := s.accounts.OwnAccount.ConfirmContactChange(r.Context(), a, kind, value, r.PostForm.Get("code"), s.thisSession(r), s.site.ClientIP(r),
		s.site.Localizer(r).Lang, s.sessions.GetString(r.Context(), sessContactFlow))
	switch {
	case errors.Is(err, account.ErrSessionEnded):
		return s.signedOutMeanwhile(w, r)
	case errors.Is(err, account.ErrBadCode):
		p := s.site.NewPage(r, "contact_title", contactData{Kind: kind, Pending: maskContact(kind, value)})
		p.Error = p.L.T("flow_code_wrong")
		s.site.Render(w, r, http.StatusOK, "contact", p)
		return nil
	case account.ErrorCode(err) == account.ECONFLICT:
		p := s.site.NewPage(r, "contact_title", contactData{})
		p.Error = p.L.T("contact_taken")
		s.site.Render(w, r, http.StatusOK, "contact", p)
		return nil
	case err != nil:
		return err
	}
	s.sessions.Remove(r.Context(), sessContactKind)
	s.sessions.Remove(r.Context(), sessContactValue)
	s.sessions.Remove(r.Context(), sessContactFlow)
	s.site.Flashes.Put(r, "ok", "contact_changed")
	http.Redirect(w, r, "/account", http.StatusSeeOther)
	return nil
}
