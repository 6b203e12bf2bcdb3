package account

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"time"
)

// Flow is one browser's run through a code flow (unlock, status, code sign-in, contact
// confirmation): the login it is for, the method chosen, and a random nonce that binds the codes
// sent in it. Once a proof succeeds the flow is bound to that account, and the methods proven so
// far count only for it (SECURITY.md 25). A start for another login makes a new flow; a start
// over for the same login keeps the nonce but forgets what was proven (RestartFlow). A flow lives
// in the browser's session only.
type Flow struct {
	Purpose   Purpose  `json:"purpose"`
	Login     string   `json:"login"`
	Method    string   `json:"method"`
	Nonce     string   `json:"nonce"`
	AccountID int64    `json:"account_id,omitempty"`
	Verified  []string `json:"verified,omitempty"`
	// AskedAt is when this browser last asked for a code in the flow, and AskedBy by which method,
	// whether or not one was sent: the page cannot know, so that it tells nothing about who exists.
	AskedAt time.Time `json:"asked_at,omitzero"`
	AskedBy string    `json:"asked_by,omitempty"`
	// ProvenAt is when a method was last proven in the flow.
	ProvenAt time.Time `json:"proven_at,omitzero"`
}

// NextAsk is when the browser may ask for another code by method in this flow: at once by a
// method it has not just asked by, else once interval (code.resend_interval) has passed. The
// account's own send limits apply on top, unseen, in SendCode.
func (f *Flow) NextAsk(method string, interval time.Duration) time.Time {
	if f.AskedAt.IsZero() || method != f.AskedBy {
		return time.Time{}
	}
	return f.AskedAt.Add(interval)
}

// RestartFlow starts a flow over for login by method, given the browser's current flow for the
// purpose (nil: none). The same login keeps the flow's nonce and when it last asked, so that the
// code already on its way still works and asking again waits for the resend interval; what was
// proven in it is forgotten all the same. Another login is a new flow.
func RestartFlow(current *Flow, purpose Purpose, login, method string) (*Flow, error) {
	if !current.Valid(purpose) || !strings.EqualFold(strings.TrimSpace(current.Login), strings.TrimSpace(login)) {
		return NewFlow(purpose, login, method)
	}
	f := *current
	f.Login, f.Method, f.AccountID, f.Verified, f.ProvenAt = strings.TrimSpace(login), method, 0, nil, time.Time{}
	return &f, nil
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

// AskCode asks for a code for the browser's flow by the flow's method, unless the flow asked by
// that method less than code.resend_interval ago: then nothing is asked (asked is false). next is
// when the browser may ask by that method again. Only the browser's own flow decides, so the
// answer is the same for every login, whether or not it names an account.
func (s *SelfService) AskCode(ctx context.Context, f *Flow, req CodeRequest) (asked bool, next time.Time, err error) {
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return false, time.Time{}, err
	}
	now := s.now()
	if next := f.NextAsk(f.Method, policy.CodeResendInterval); now.Before(next) {
		return false, next, nil
	}
	req.Login, req.Channel, req.Purpose, req.Flow = f.Login, f.Method, f.Purpose, f.Nonce
	if err := s.SendCode(ctx, req); err != nil {
		return false, time.Time{}, err
	}
	f.AskedAt, f.AskedBy = now, f.Method
	return true, now.Add(policy.CodeResendInterval), nil
}

// NextAsk is when the browser may ask for another code by the flow's method (see Flow.NextAsk).
func (s *SelfService) NextAsk(ctx context.Context, f *Flow) (time.Time, error) {
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return time.Time{}, err
	}
	return f.NextAsk(f.Method, policy.CodeResendInterval), nil
}
