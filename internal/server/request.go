package server

import (
	"net/http"
	"strings"

	"github.com/unlockd/unlockd/internal/account"
)

type requestData struct {
	Reference string
	Username  string
	Contact   string
	Message   string
}

// helpRequestForm shows the form of an unlock request to the administrators.
func (s *Server) helpRequestForm(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "request", s.newPage(r, "request_title", requestData{}))
	return nil
}

// helpRequestSubmit sends an unlock request to the administrators and shows its reference. The
// answer is the same whether or not the account exists.
func (s *Server) helpRequestSubmit(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		s.renderStatus(w, r, formErrorStatus(err))
		return nil
	}
	in := requestData{Username: strings.TrimSpace(r.PostForm.Get("username")), Contact: r.PostForm.Get("contact"),
		Message: r.PostForm.Get("message")}
	ref, err := s.accounts.SelfService.RequestHelp(r.Context(), in.Username, in.Contact, in.Message, s.clientIP(r), s.localizer(r).Lang)
	if account.ErrorCode(err) == account.EINVALID {
		p := s.newPage(r, "request_title", requestData{Contact: clipForm(in.Contact, 200), Message: clipForm(in.Message, 2000)})
		p.Error = p.L.T("flow_username_required")
		s.render(w, r, http.StatusOK, "request", p)
		return nil
	} else if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "requestdone", s.newPage(r, "request_title", requestData{Reference: ref}))
	return nil
}

// clipForm keeps a re-shown field valid and bounded.
func clipForm(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
