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
	// The flow stays, with what it proved: "Unlock my account" on the page goes on without a second code.
	if err := s.saveFlow(r, proof.Flow); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	s.site.Render(w, r, http.StatusOK, "status", s.site.NewPage(r, "status_title", view))
	return nil
}

// statusUnlock unlocks the account the browser has just proven itself the owner of at /status.
// Without a fresh proof it starts the unlock flow as usual.
func (s *recoveryPages) statusUnlock(w http.ResponseWriter, r *http.Request) error {
	status := s.loadFlow(r, account.PurposeStatus)
	if status == nil {
		http.Redirect(w, r, "/unlock", http.StatusSeeOther)
		return nil
	}
	flow, err := account.NewFlow(account.PurposeUnlock, status.Login, status.Method)
	if err != nil {
		return err
	}
	res, err := s.accounts.SelfService.UnlockAfterStatus(r.Context(), status, account.Proof{Flow: flow,
		Client: s.site.ClientIP(r), Lang: s.site.Localizer(r).Lang, DeviceToken: deviceCookie(r)})
	if isBadCode(err) {
		s.endFlow(r, account.PurposeStatus)
		s.site.Flashes.Put(r, "info", "status_proof_expired")
		http.Redirect(w, r, "/unlock", http.StatusSeeOther)
		return nil
	} else if err != nil {
		return err
	}
	s.endFlow(r, account.PurposeStatus)
	return s.unlockOutcome(w, r, flow, res)
}
