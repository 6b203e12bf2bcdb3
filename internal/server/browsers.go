package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

// The owner's browsers: the known devices and the signed-in sessions. The account page lists the
// latest of each; /account/devices lists them all, and signs out every browser but this one.

// browserLists are the devices and sessions ready to print: a long-used account has dozens of
// each, and a template works out each value of each row far more slowly than Go.
type browserLists struct {
	Devices  []deviceRow
	Sessions []sessionRow
	// DeviceCount and SessionCount are how many there are, listed or not.
	DeviceCount, SessionCount int
	// All says this is the page of them all, not the account page's latest few.
	All bool
}

// deviceRow is a known device: what browser on what system, and when it was last seen.
type deviceRow struct {
	ID       int64
	Name     string
	LastSeen shownTime
}

// sessionRow is a signed-in browser; This is the one asking.
type sessionRow struct {
	ID    string
	Since shownTime
	This  bool
}

func (s *accountPages) browserLists(r *http.Request, o *account.AccountOverview, this string, all bool) browserLists {
	l := s.site.Localizer(r)
	b := browserLists{DeviceCount: o.DeviceCount, SessionCount: o.SessionCount, All: all}
	for _, d := range o.Devices {
		name := l.T("account_unknown_device")
		if d.UserAgent != "" {
			name = l.Device(d.UserAgent)
		}
		b.Devices = append(b.Devices, deviceRow{ID: d.ID, Name: name, LastSeen: showTime(l, d.LastSeenAt)})
	}
	for _, x := range o.Sessions {
		b.Sessions = append(b.Sessions, sessionRow{ID: x.ID, Since: showTime(l, x.CreatedAt), This: x.ID == this})
	}
	return b
}

// accountBrowsers lists every known device and signed-in browser of the account.
func (s *accountPages) accountBrowsers(w http.ResponseWriter, r *http.Request) error {
	this := s.thisSession(r)
	o, err := s.accounts.OwnAccount.Browsers(r.Context(), site.CurrentAccount(r), this)
	if err != nil {
		return err
	}
	p := s.site.NewPage(r, "browsers_title", struct{ Browsers browserLists }{s.browserLists(r, o, this, true)})
	p.Flash = s.site.Flashes.Pop(r)
	s.site.Render(w, r, http.StatusOK, "browsers", p)
	return nil
}

// accountForgetDevice removes a known device.
func (s *accountPages) accountForgetDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.site.RenderStatus(w, r, http.StatusNotFound)
		return nil
	}
	if err := s.accounts.OwnAccount.ForgetDevice(r.Context(), site.CurrentAccount(r), id, s.site.ClientIP(r)); err != nil {
		return err
	}
	s.site.Flashes.Put(r, "ok", "account_device_forgotten")
	http.Redirect(w, r, browsersReturn(r), http.StatusSeeOther)
	return nil
}

// accountEndSession signs one browser out.
func (s *accountPages) accountEndSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.accounts.OwnAccount.EndSession(r.Context(), site.CurrentAccount(r), chi.URLParam(r, "id"), s.site.ClientIP(r)); err != nil {
		return err
	}
	s.site.Flashes.Put(r, "ok", "account_session_ended")
	http.Redirect(w, r, browsersReturn(r), http.StatusSeeOther)
	return nil
}

// accountEndOtherSessions signs out every browser of the account but this one.
func (s *accountPages) accountEndOtherSessions(w http.ResponseWriter, r *http.Request) error {
	ended, epoch, err := s.accounts.OwnAccount.EndOtherSessions(r.Context(), site.CurrentAccount(r), s.thisSession(r), s.site.ClientIP(r))
	if errors.Is(err, account.ErrSessionEnded) {
		return s.signedOutMeanwhile(w, r)
	} else if err != nil {
		return err
	}
	// The others ended by a new epoch; this session stays by taking it.
	s.sessions.Put(r.Context(), site.SessEpoch, epoch)
	s.site.Flashes.PutText(r, "ok", s.site.Localizer(r).T("browsers_others_ended", "Count", ended))
	http.Redirect(w, r, browsersReturn(r), http.StatusSeeOther)
	return nil
}

// signedOutMeanwhile answers a change asked from a session that another of the account's browsers
// ended while the request was on its way: nothing was changed, and this browser signs in again.
func (s *pages) signedOutMeanwhile(w http.ResponseWriter, r *http.Request) error {
	return s.signOut(w, r, "error", "login_signed_out_meanwhile")
}

// browsersReturn is the page a change to the browsers goes back to: the page of them all when it
// came from there (its forms say so), else the account page.
func browsersReturn(r *http.Request) string {
	if r.PostFormValue("from") == "devices" {
		return "/account/devices"
	}
	return "/account"
}
