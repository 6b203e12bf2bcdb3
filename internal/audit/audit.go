// Package audit defines the security events unlockd records, the hash chain that makes tampering
// visible, and the verification and export of the log. Storage lives in package postgres; this
// package is pure and imports only the standard library.
package audit

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"time"
)

// Actions. Names are stable: exports and filters use them.
const (
	SignInSucceeded      = "sign_in.succeeded"
	SignInFailed         = "sign_in.failed"
	SignInThrottled      = "sign_in.throttled"
	AccountLocked        = "account.locked"
	AccountUnlocked      = "account.unlocked"
	AccountFrozen        = "account.frozen"
	AccountDisabled      = "account.disabled"
	AccountEnabled       = "account.enabled"
	AccountVerified      = "account.verified"
	AccountCreated       = "account.created"
	AccountImported      = "account.imported"
	DeviceLocked         = "device.locked"
	SessionsEnded        = "sessions.ended"
	PolicyChanged        = "policy.changed"
	PasswordRehashed     = "password.rehashed"
	PasswordReset        = "password.reset"
	ResetRequested       = "reset.requested"
	CodeSent             = "code.sent"
	CodeUsed             = "code.used"
	CodeNotSent          = "code.not_sent"
	FactorAdded          = "factor.added"
	FactorFailed         = "factor.failed"
	RecoveryCodeUsed     = "factor.recovery_code_used"
	DeviceForgotten      = "device.forgotten"
	SessionEnded         = "session.ended"
	PasswordChanged      = "password.changed"
	ContactChanged       = "contact.changed"
	TokenCreated         = "token.created"
	TokenRevoked         = "token.revoked"
	APIRequest           = "api.request"
	RequestHandled       = "request.handled"
	FactorsReset         = "factor.reset"
	ActionRefused        = "admin.refused"
	RoleChanged          = "account.role_changed"
	AlertRaised          = "alert.raised"
	MaintenanceScheduled = "maintenance.scheduled"
	MaintenanceCancelled = "maintenance.cancelled"
	ExpirySet            = "account.expiry_set"
	RequestFiled         = "request.filed"
	DirectorySynced      = "directory.synced"
	DirectoryWritten     = "directory.written"
	DirectoryWriteFailed = "directory.write_failed"
	PasswordExpiryWarned = "password.expiry_warned"
)

// Event is one row of the audit log.
type Event struct {
	ID        int64
	At        time.Time
	Actor     string // who did it: "user:alice", "admin:bob", "cli", "system"
	Action    string
	AccountID *int64 // whom, when an account is concerned
	Username  string // the account's username, or what was typed for an unknown one
	ClientIP  string
	Details   string // a JSON object
	PrevHash  []byte
	Hash      []byte
}

// Details builds the JSON object of an event from key/value pairs. Keys are sorted by the encoder,
// so the same details always give the same text.
func Details(kv ...string) string {
	m := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Precision is how finely times are kept: PostgreSQL stores microseconds, and the hash must cover
// exactly what is stored.
const Precision = time.Microsecond

// GenesisHash is the PrevHash of the first event.
var GenesisHash = make([]byte, sha256.Size)

// ComputeHash is the chain link: SHA-256 over the previous hash and every field of the event, each
// length-prefixed so that no two different events can encode the same way.
func ComputeHash(prev []byte, e *Event) []byte {
	h := sha256.New()
	write := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	write(prev)
	write([]byte(strconv.FormatInt(e.ID, 10)))
	write([]byte(e.At.UTC().Truncate(Precision).Format(time.RFC3339Nano)))
	write([]byte(e.Actor))
	write([]byte(e.Action))
	if e.AccountID != nil {
		write([]byte(strconv.FormatInt(*e.AccountID, 10)))
	} else {
		write(nil)
	}
	write([]byte(e.Username))
	write([]byte(e.ClientIP))
	write([]byte(e.Details))
	return h.Sum(nil)
}

// Seal links e after the event whose hash is prev.
func (e *Event) Seal(id int64, prev []byte) {
	e.ID = id
	e.At = e.At.UTC().Truncate(Precision)
	e.PrevHash = prev
	e.Hash = ComputeHash(prev, e)
}

// Verifier checks events one by one, in id order.
type Verifier struct {
	prev   []byte
	lastID int64
	count  int64
}

// NewVerifier starts a verification at the beginning of the log.
func NewVerifier() *Verifier { return &Verifier{prev: GenesisHash} }

// Problem describes the first event that breaks the chain.
type Problem struct {
	ID     int64
	Reason string
}

func (p *Problem) Error() string {
	return "audit event " + strconv.FormatInt(p.ID, 10) + ": " + p.Reason
}

// Check verifies the next event. It returns a *Problem for the first event that was changed, inserted,
// or that follows a removed one.
func (v *Verifier) Check(e *Event) error {
	if e.ID != v.lastID+1 {
		return &Problem{ID: e.ID, Reason: "ids jump from " + strconv.FormatInt(v.lastID, 10) + ": events were removed or inserted"}
	}
	if subtle.ConstantTimeCompare(e.PrevHash, v.prev) != 1 {
		return &Problem{ID: e.ID, Reason: "previous hash does not match the event before it"}
	}
	if subtle.ConstantTimeCompare(ComputeHash(e.PrevHash, e), e.Hash) != 1 {
		return &Problem{ID: e.ID, Reason: "contents do not match its hash: the event was changed"}
	}
	v.prev, v.lastID = e.Hash, e.ID
	v.count++
	return nil
}

// Count is how many events verified.
func (v *Verifier) Count() int64 { return v.count }

// DetailValue reads one string value from an event's details, or "".
func DetailValue(details, key string) string {
	var m map[string]string
	if json.Unmarshal([]byte(details), &m) != nil {
		return ""
	}
	return m[key]
}
