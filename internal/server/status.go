package server

import (
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
)

var statusFlow = codeFlow{purpose: account.PurposeStatus, path: "/status", verifyPath: "/status/verify",
	titleID: "status_title",
	introID: "status_intro", startPage: "codestart", withMethod: true}

// statusVerify checks the code and shows the account's status in plain words.
func (s *recoveryPages) statusVerify(w http.ResponseWriter, r *http.Request) error {
	proof, done, err := s.codeSubmission(w, r, statusFlow)
	if done || err != nil {
		return err
	}
	view, err := s.accounts.SelfService.StatusWithCode(r.Context(), proof)
	if isBadCode(err) {
		s.renderCodeForm(w, r, statusFlow, "flow_code_wrong")
		return nil
	} else if err != nil {
		return err
	}
	s.endFlow(r, account.PurposeStatus)
	w.Header().Set("Cache-Control", "no-store")
	s.site.Render(w, r, http.StatusOK, "status", s.site.NewPage(r, "status_title", view))
	return nil
}
