package server

import (
	"errors"
	"net/http"

	"github.com/unlockd/unlockd/internal/account"
)

var loginCodeFlow = codeFlow{purpose: account.PurposeSignIn, path: "/login/code", verifyPath: "/login/code/verify",
	titleID: "logincode_title",
	introID: "logincode_intro", startPage: "codestart", withMethod: true}

// loginCodeVerify signs in with a code, under the same lockout rules as a password.
func (s *signInPages) loginCodeVerify(w http.ResponseWriter, r *http.Request) error {
	proof, done, err := s.flows.codeSubmission(w, r, loginCodeFlow)
	if done || err != nil {
		return err
	}
	res, err := s.accounts.Gate.SignInWithCode(r.Context(), account.SignInRequest{Login: proof.Flow.Login, ClientIP: proof.Client,
		UserAgent: r.UserAgent(), DeviceToken: proof.DeviceToken, Flow: proof.Flow.Nonce, Lang: proof.Lang}, proof.Code)
	if isBadCode(err) || errors.Is(err, account.ErrBadCredentials) {
		s.flows.renderCodeForm(w, r, loginCodeFlow, "flow_code_wrong")
		return nil
	} else if err != nil {
		return err
	}
	s.flows.endFlow(r, account.PurposeSignIn)
	if res.NeedsSecondFactor {
		return s.beginSecondStep(w, r, res.Account)
	}
	return s.startSession(w, r, res, res.Account.SessionEpoch)
}
