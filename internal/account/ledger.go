package account

import (
	"context"
	"strconv"
	"time"
)

// LedgerStore is the guess ledger's windowed counters (SECURITY.md 1, 6, 10): a count is reserved in
// one statement before anything is checked, so no number of concurrent requests, in any number of
// processes, is checked beyond a limit. Passwords and codes have counters of their own (the
// account's and each code's); these are for what has no row to count on.
type LedgerStore interface {
	// Reserve counts one more against (scope, subject) in a window that starts at its first count
	// and returns the count including this one.
	Reserve(ctx context.Context, scope, subject string, window time.Duration, now time.Time) (int, error)
	// Release gives one back: a guess that proved right, or one that was never checked.
	Release(ctx context.Context, scope, subject string) error
}

// Ledger scopes.
const (
	// scopeFactorGuess counts authenticator and recovery codes entered on the unlock pages, per
	// account for unknown browsers and per known device of the account, so a stranger spending the
	// account's allowance never spends the owner's device's.
	scopeFactorGuess = "factor_guess"
	// scopeClientSends counts every request for a code, a link or an administrator's help from one
	// client, whether or not the account exists and whether or not anything was sent, so the limit
	// tells nothing about who exists (SECURITY.md 9, 10).
	scopeClientSends = "client_sends"
	// scopeCodeGuess counts codes entered on the self-service pages (/unlock, /status, /verify),
	// per account and client network for unknown browsers, and per known device of the account.
	scopeCodeGuess = "code_guess"
	// scopeRequestLookups counts every lookup of a request's status from one client, found or not,
	// so that one client cannot go through references.
	scopeRequestLookups = "request_lookups"
)

// Within is the ledger's one rule: the n-th reservation in a window is allowed when n <= limit.
func Within(n, limit int) bool { return n <= limit }

// guessSubject names whose allowance a guess spends: the known device's of this account, else
// the account's shared one.
func guessSubject(accountID, deviceID int64) string {
	if deviceID != 0 {
		return "device:" + strconv.FormatInt(deviceID, 10)
	}
	return accountKey(accountID)
}

// reserveClientSend counts one request for a code, link or help from client, and refuses it with
// ErrThrottled past SendLimitClient in SendWindow.
func (s *guard) reserveClientSend(ctx context.Context, client, where string, now time.Time) error {
	n, err := s.ledger.Reserve(ctx, scopeClientSends, ClientNetwork(client), SendWindow, now)
	if err != nil {
		return err
	}
	if !Within(n, SendLimitClient) {
		s.metrics.Throttled(where)
		return ErrThrottled
	}
	return nil
}

// knownDevice returns the id of the browser's known device when its cookie is valid and belongs to
// the account, else 0.
func (s *guard) knownDevice(ctx context.Context, accountID int64, token string) (int64, error) {
	hash, ok := s.deviceNonceHash(token)
	if !ok || accountID == 0 {
		return 0, nil
	}
	id, owner, err := s.lockout.DeviceAccount(ctx, hash)
	if ErrorCode(err) == ENOTFOUND || (err == nil && owner != accountID) {
		return 0, nil
	}
	return id, err
}
