package server

import (
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
)

var unlockFlow = codeFlow{purpose: account.PurposeUnlock, path: "/unlock", verifyPath: "/unlock/verify",
	titleID: "unlock_title",
	introID: "unlock_intro", startPage: "codestart", withMethod: true, withFactors: true}

type unlockResultData struct {
	Outcome     account.UnlockOutcome
	State       account.State
	ResetToken  string
	UserMessage string
}

// unlockVerify checks the code and unlocks. A frozen, disabled or expired account is never
// unlocked here: the page says to ask an administrator.
func (s *recoveryPages) unlockVerify(w http.ResponseWriter, r *http.Request) error {
	proof, done, err := s.codeSubmission(w, r, unlockFlow)
	if done || err != nil {
		return err
	}
	unlock := s.accounts.SelfService.UnlockWithCode
	if isFactor(proof.Flow.Method) {
		unlock = s.accounts.SelfService.UnlockWithFactor
	}
	res, err := unlock(r.Context(), proof)
	if err == nil {
		// The flow keeps what was proven in it, and for whom (a wrong code changes neither).
		if err := s.saveFlow(r, proof.Flow); err != nil {
			return err
		}
	}
	if isBadCode(err) {
		s.renderCodeForm(w, r, unlockFlow, "flow_code_wrong")
		return nil
	} else if err != nil {
		return err
	}
	return s.unlockOutcome(w, r, proof.Flow, res)
}

// unlockOutcome shows what an unlock did, or asks for the next method when one more is needed.
func (s *recoveryPages) unlockOutcome(w http.ResponseWriter, r *http.Request, flow *account.Flow, res *account.UnlockResult) error {
	if res.Outcome == account.UnlockNeedsMore {
		if err := s.saveFlow(r, flow); err != nil {
			return err
		}
		// unlock.methods_required: one method is proven; the next code must come another way.
		s.site.Flashes.Put(r, "ok", "unlock_needs_more")
		http.Redirect(w, r, "/unlock/verify", http.StatusSeeOther)
		return nil
	}
	s.endFlow(r, account.PurposeUnlock)
	data := unlockResultData{Outcome: res.Outcome, State: res.Account.EffectiveState(s.accounts.Now()), ResetToken: res.ResetToken}
	if res.Lock != nil {
		data.UserMessage = res.Lock.UserMessage
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.site.Render(w, r, http.StatusOK, "unlocked", s.site.NewPage(r, "unlock_title", data))
	return nil
}
