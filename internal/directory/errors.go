package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

var (
	// ErrUnavailable: the directory did not answer in time, or not at all. Pages answer 503.
	ErrUnavailable = errors.New("directory unreachable or too slow")
	// ErrNotFound: nobody matches the username.
	ErrNotFound = errors.New("no such person in the directory")
	// ErrAmbiguous: the user filter matches more than one person, so none is chosen.
	ErrAmbiguous = errors.New("several people in the directory match")
	// ErrInvalidCredentials: the directory refused the person's password (also when it is locked:
	// directories answer the same then).
	ErrInvalidCredentials = errors.New("the directory refused the password")
	// ErrPasswordExpired: the password was right, but it has expired or must be changed before
	// anything else (ppolicy's passwordExpired and changeAfterReset, AD's 532 and 773). The person
	// should set a new one; the directory counted no failure.
	ErrPasswordExpired = errors.New("the directory password is right but expired")
	// ErrFrozen: an administrator's lock is in the way of an unlock that may not lift it.
	ErrFrozen = errors.New("the directory account is locked by an administrator")
	// ErrNeedsTLS: Active Directory only sets passwords over an encrypted connection.
	ErrNeedsTLS = errors.New("setting an Active Directory password needs ldaps:// or StartTLS")
)

// Refusal names the rule of the directory's password policy that refused a new password, when the
// directory's answer says which.
type Refusal string

const (
	RefusedQuality  Refusal = "quality"   // too short, too simple
	RefusedHistory  Refusal = "history"   // used before, or the same as now
	RefusedTooYoung Refusal = "too_young" // changed too recently
	RefusedOther    Refusal = "other"
)

// RefusedError is the directory's own password policy refusing a change; Reason is its words.
type RefusedError struct {
	Rule   Refusal
	Reason string
}

func (e *RefusedError) Error() string {
	return "the directory's password policy refused the password: " + e.Reason
}

func refusal(diagnostic string) *RefusedError {
	d := strings.ToLower(diagnostic)
	rule := RefusedOther
	switch {
	case strings.Contains(d, "history"), strings.Contains(d, "not being changed"):
		rule = RefusedHistory
	case strings.Contains(d, "too young"), strings.Contains(d, "minimum password age"), strings.Contains(d, "too soon"):
		rule = RefusedTooYoung
	case strings.Contains(d, "quality"), strings.Contains(d, "too short"), strings.Contains(d, "complexity"),
		strings.Contains(d, "check_password_restrictions"):
		rule = RefusedQuality
	}
	return &RefusedError{Rule: rule, Reason: strings.TrimSpace(diagnostic)}
}

// classify turns what the LDAP library or the network reported into the package's errors: a dead,
// slow or busy server is ErrUnavailable, whatever layer noticed it. connLost says the connection
// closed or its deadline passed during the request: the library reports some of those as plain
// text, so the session tells.
func classify(ctx context.Context, op string, err error, connLost bool) error {
	if err == nil {
		return nil
	}
	var answered *ldap.Error
	if errors.As(err, &answered) && answered.ResultCode < ldap.ErrorNetwork {
		connLost = false // the server answered: its result code says what happened
	}
	if ctx.Err() != nil || connLost {
		return fmt.Errorf("directory %s: %w: %w", op, ErrUnavailable, err)
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuthority x509.UnknownAuthorityError
	var hostnameErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuthority) || errors.As(err, &hostnameErr) {
		// Not an outage: the certificate is not trusted, which retrying will not change.
		return fmt.Errorf("directory %s: TLS: %w", op, err)
	}
	var netErr net.Error
	var le *ldap.Error
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &netErr):
		return fmt.Errorf("directory %s: %w: %w", op, ErrUnavailable, err)
	case errors.As(err, &le):
		switch le.ResultCode {
		case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultTimeLimitExceeded,
			ldap.LDAPResultServerDown, ldap.LDAPResultTimeout, ldap.LDAPResultConnectError, ldap.LDAPResultAdminLimitExceeded:
			return fmt.Errorf("directory %s: %w: %w", op, ErrUnavailable, err)
		}
	}
	return fmt.Errorf("directory %s: %w", op, err)
}
