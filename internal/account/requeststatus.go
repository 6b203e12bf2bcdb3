package account

import (
	"context"
	"strings"
	"time"
)

// RequestState is what the requester may read of their request for help.
type RequestState struct {
	Reference string
	Status    string // open, approved or denied
	FiledAt   time.Time
	HandledAt *time.Time // when a staff member decided it
	Response  string     // the staff member's message to the requester
}

// A lookup of a request's status is counted per client before anything is read, so that one
// client cannot go through references: RequestLookupLimit in RequestLookupWindow.
const (
	RequestLookupLimit  = 20
	RequestLookupWindow = time.Hour
)

var (
	// ErrNoRequest is the one answer for a reference that does not exist and for a reference
	// filed for another login: a reference alone tells nothing about someone else's request.
	ErrNoRequest = Fail(ENOTFOUND, "request_status_none", nil, "no request matches that reference and login")
	// ErrLookupsThrottled refuses a client past RequestLookupLimit.
	ErrLookupsThrottled = Fail(ETHROTTLED, "request_status_throttled", nil, "too many request lookups from this client; try again later")
)

// NormalizeReference accepts a reference as people type it back (any case, spaces, with or without
// the UR- prefix and the dash) and writes it as newReference does; false when it cannot be one.
func NormalizeReference(s string) (string, bool) {
	s = strings.ToUpper(strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, s))
	if len(s) == 10 && strings.HasPrefix(s, "UR") {
		s = s[2:]
	}
	if len(s) != 8 {
		return "", false
	}
	for _, c := range s {
		if !strings.ContainsRune(referenceAlphabet, c) {
			return "", false
		}
	}
	return "UR-" + s[:4] + "-" + s[4:], true
}

// RequestStatus tells the requester where their request for help stands: the reference they were
// given and the login it was filed for must both match, else ErrNoRequest. Every lookup from the
// client is counted first, whatever it finds.
func (s *SelfService) RequestStatus(ctx context.Context, reference, login, client string) (*RequestState, error) {
	if strings.TrimSpace(reference) == "" || strings.TrimSpace(login) == "" {
		return nil, Fail(EINVALID, "request_status_required", nil, "the reference and the login are both required")
	}
	n, err := s.ledger.Reserve(ctx, scopeRequestLookups, ClientNetwork(client), RequestLookupWindow, s.now())
	if err != nil {
		return nil, err
	}
	if !Within(n, RequestLookupLimit) {
		s.metrics.Throttled("request_status")
		return nil, ErrLookupsThrottled
	}
	ref, ok := NormalizeReference(reference)
	login, okLogin := NormalizeLogin(login)
	if !ok || !okLogin {
		return nil, ErrNoRequest
	}
	st, err := s.selfService.RequestStatus(ctx, ref, login)
	if ErrorCode(err) == ENOTFOUND {
		return nil, ErrNoRequest
	} else if err != nil {
		return nil, err
	}
	return st, nil
}
