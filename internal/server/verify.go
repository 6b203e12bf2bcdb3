package server

import (
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
)

var verifyFlow = codeFlow{purpose: account.PurposeVerify, path: "/verify", verifyPath: "/verify/verify",
	titleID: "verify_title",
	introID: "verify_intro", startPage: "codestart", withMethod: true}

// verifyVerify confirms a new account's email address: pending_verification becomes active.
func (s *recoveryPages) verifyVerify(w http.ResponseWriter, r *http.Request) error {
	proof, done, err := s.codeSubmission(w, r, verifyFlow)
	if done || err != nil {
		return err
	}
	outcome, err := s.accounts.SelfService.VerifyContact(r.Context(), proof)
	if isBadCode(err) {
		s.renderCodeForm(w, r, verifyFlow, "flow_code_wrong")
		return nil
	} else if err != nil {
		return err
	}
	if outcome == account.VerifyNeedsSMS || outcome == account.VerifyNeedsMail {
		// One contact is confirmed; the other one on file needs its own code.
		s.site.Flashes.Put(r, "ok", "verify_"+string(outcome))
		http.Redirect(w, r, "/verify/verify", http.StatusSeeOther)
		return nil
	}
	s.endFlow(r, account.PurposeVerify)
	s.site.Render(w, r, http.StatusOK, "verified", s.site.NewPage(r, "verify_title", outcome))
	return nil
}
