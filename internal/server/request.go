package server

import (
	"net/http"
	"strings"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/server/site"
)

type requestData struct {
	Reference string
	Username  string
	Contact   string
	Message   string
}

// helpRequestForm shows the form of an unlock request to the administrators.
func (s *helpRequestPages) helpRequestForm(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	s.site.Render(w, r, http.StatusOK, "request", s.site.NewPage(r, "request_title", requestData{}))
	return nil
}

// helpRequestSubmit sends an unlock request to the administrators and shows its reference. The
// answer is the same whether or not the account exists.
func (s *helpRequestPages) helpRequestSubmit(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	in := requestData{Username: strings.TrimSpace(r.PostForm.Get("username")), Contact: r.PostForm.Get("contact"),
		Message: r.PostForm.Get("message")}
	ref, err := s.accounts.SelfService.RequestHelp(r.Context(), in.Username, in.Contact, in.Message, s.site.ClientIP(r), s.site.Localizer(r).Lang)
	if account.ErrorCode(err) == account.EINVALID {
		p := s.site.NewPage(r, "request_title", requestData{Contact: site.ClipForm(in.Contact, 200), Message: site.ClipForm(in.Message, 2000)})
		p.Error = p.L.T("flow_username_required")
		s.site.Render(w, r, http.StatusOK, "request", p)
		return nil
	} else if err != nil {
		return err
	}
	s.site.Render(w, r, http.StatusOK, "requestdone", s.site.NewPage(r, "request_title", requestData{Reference: ref}))
	return nil
}

type requestStatusData struct {
	Reference string
	Username  string
	Request   *account.RequestState // the request found, if any
}

// helpRequestStatusForm asks for a request's reference and the username it was filed for.
func (s *helpRequestPages) helpRequestStatusForm(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	s.site.Render(w, r, http.StatusOK, "requeststatus", s.site.NewPage(r, "request_status_title", requestStatusData{}))
	return nil
}

// helpRequestStatusSubmit shows where a request stands. A wrong reference and a reference filed
// for another username get the same answer; every lookup counts against the client.
func (s *helpRequestPages) helpRequestStatusSubmit(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		s.site.RenderStatus(w, r, site.FormErrorStatus(err))
		return nil
	}
	in := requestStatusData{Reference: site.ClipForm(strings.TrimSpace(r.PostForm.Get("reference")), 40),
		Username: site.ClipForm(strings.TrimSpace(r.PostForm.Get("username")), 254)}
	st, err := s.accounts.SelfService.RequestStatus(r.Context(), in.Reference, in.Username, s.site.ClientIP(r))
	status := http.StatusOK
	switch code := account.ErrorCode(err); {
	case err == nil:
		in.Request = st
	case code == account.ETHROTTLED:
		status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "3600")
		s.site.LogFailure(r, site.Classify(err), err)
	case code != account.ENOTFOUND && code != account.EINVALID:
		return err
	}
	p := s.site.NewPage(r, "request_status_title", in)
	if err != nil {
		p.Error = s.site.ErrorText(r, err)
	}
	s.site.Render(w, r, status, "requeststatus", p)
	return nil
}
