package server

import (
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
)

var unlockFlow = codeFlow{purpose: account.PurposeUnlock, path: "/unlock", titleID: "unlock_title",
	introID: "unlock_intro", startPage: "codestart", withMethod: true}

type unlockResultData struct {
	Outcome    account.UnlockOutcome
	State      account.State
	ResetToken string
}

// unlockVerify checks the code and unlocks. A frozen, disabled or expired account is never
// unlocked here: the page says to ask an administrator.
func (s *Server) unlockVerify(w http.ResponseWriter, r *http.Request) error {
	login, code, method, done, err := s.codeSubmission(w, r, unlockFlow)
	if done || err != nil {
		return err
	}
	res, err := s.accounts.UnlockWithCode(r.Context(), login, method, code, s.clientIP(r), s.localizer(r).Lang)
	if isBadCode(err) {
		s.renderCodeForm(w, r, unlockFlow, "flow_code_wrong")
		return nil
	} else if err != nil {
		return err
	}
	s.sessions.Remove(r.Context(), flowKey(account.PurposeUnlock))
	data := unlockResultData{Outcome: res.Outcome, State: res.Account.EffectiveState(s.accounts.Now()), ResetToken: res.ResetToken}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, http.StatusOK, "unlocked", s.newPage(r, "unlock_title", data))
	return nil
}
