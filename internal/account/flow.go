package account

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
)

// Flow is one browser's run through a code flow (unlock, status, code sign-in, contact
// confirmation): the login it is for, the method chosen, and a random nonce that binds the codes
// sent in it. Once a proof succeeds the flow is bound to that account, and the methods proven so
// far count only for it (SECURITY.md 25). A flow is made anew at every start and lives in the
// browser's session only.
type Flow struct {
	Purpose   Purpose  `json:"purpose"`
	Login     string   `json:"login"`
	Method    string   `json:"method"`
	Nonce     string   `json:"nonce"`
	AccountID int64    `json:"account_id,omitempty"`
	Verified  []string `json:"verified,omitempty"`
}

// NewFlow starts a flow for login with a fresh 128-bit nonce.
func NewFlow(purpose Purpose, login, method string) (*Flow, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &Flow{Purpose: purpose, Login: login, Method: method, Nonce: base64.RawURLEncoding.EncodeToString(b)}, nil
}

// Valid reports whether a flow read back from a session is whole: a flow without a nonce or a
// login is no flow, and the visitor starts again.
func (f *Flow) Valid(purpose Purpose) bool {
	return f != nil && f.Purpose == purpose && f.Login != "" && len(f.Nonce) >= 22
}

// provenFor returns the methods proven earlier in this flow for the account with id, and binds the
// flow to that account. Proofs made for another account never count (a flow restarted for someone
// else, or a login that now names another account).
func (f *Flow) provenFor(id int64) []string {
	if f.AccountID != id {
		f.AccountID, f.Verified = id, nil
	}
	return slices.Clone(f.Verified)
}

// flowMAC is what the database keeps of a flow's nonce: codes are found by it, and a copy of the
// table does not let anyone into the flow.
func (s *kit) flowMAC(nonce string) []byte {
	if nonce == "" {
		return nil
	}
	return s.keyed("flow", nonce)
}
