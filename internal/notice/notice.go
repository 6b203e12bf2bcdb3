// Package notice is every message unlockd sends, as typed values. A notice names its template and
// fills the template's data from its fields, so that no other code writes a template name or a data
// key by hand; notify renders the templates (web/email) and checks every notice against them at
// start-up and in its tests.
//
// Times are sent in RFC 1123 form in UTC; notify writes them the reader's way.
package notice

import (
	"strconv"
	"time"
)

// A Notice is the content of one message: which template, with which data.
type Notice interface {
	Template() string
	Data() map[string]string
}

// Template names: one template set per notice type, in every language (web/email/LANG).
const (
	TemplateCode            = "code"
	TemplateResetLink       = "reset_link"
	TemplateLocked          = "locked"
	TemplateUnlocked        = "unlocked"
	TemplatePasswordChanged = "password_changed"
	TemplateFactorChanged   = "factor_changed"
	TemplateRequestReceived = "request_received"
	TemplateRequestHandled  = "request_handled"
	TemplateStaffAlert      = "staff_alert"
	TemplateNeedsAdmin      = "needs_admin"
	TemplatePasswordExpiry  = "password_expiry"
	TemplateEvent           = "event" // webhooks: JSON, no template file
)

// Code carries a one-time code. Purpose is signin, unlock, status or verify.
type Code struct {
	Name    string
	Code    string
	Purpose string
	TTL     time.Duration
}

func (Code) Template() string { return TemplateCode }
func (n Code) Data() map[string]string {
	return data("Name", n.Name, "Code", n.Code, "Purpose", n.Purpose, "Minutes", minutes(n.TTL))
}

// ResetLink carries a link to choose a new password.
type ResetLink struct {
	Name string
	Link string
	TTL  time.Duration
}

func (ResetLink) Template() string { return TemplateResetLink }
func (n ResetLink) Data() map[string]string {
	return data("Name", n.Name, "Link", n.Link, "Minutes", minutes(n.TTL))
}

// Locked tells the owner failed sign-ins locked the account: when, from where, until when (zero:
// until unlocked) and how to unlock it.
type Locked struct {
	Name       string
	At         time.Time
	Place      string
	Until      time.Time
	UnlockLink string
}

func (Locked) Template() string { return TemplateLocked }
func (n Locked) Data() map[string]string {
	return data("Name", n.Name, "Time", stamp(n.At), "Place", n.Place, "Until", stamp(n.Until), "UnlockLink", n.UnlockLink)
}

// Frozen tells the owner an administrator locked the account, with the administrator's message
// for them (not the reason kept for the record) and the end, if any (zero: none).
type Frozen struct {
	Name    string
	At      time.Time
	Message string
	Until   time.Time
}

func (Frozen) Template() string { return TemplateLocked }
func (n Frozen) Data() map[string]string {
	return data("Name", n.Name, "Time", stamp(n.At), "Administrator", "yes", "Message", n.Message, "Until", stamp(n.Until))
}

// Unlocked tells the owner the account works again, and how it was unlocked (email, sms, totp,
// recovery, admin, reset, or several joined with "+").
type Unlocked struct {
	Name   string
	At     time.Time
	Method string
}

func (Unlocked) Template() string { return TemplateUnlocked }
func (n Unlocked) Data() map[string]string {
	return data("Name", n.Name, "Time", stamp(n.At), "Method", n.Method)
}

// NeedsAdmin answers the owner who asked for an unlock code for an account a code cannot unlock
// (State: frozen, disabled or expired): only an administrator can, and Link is where to ask. Message
// is the administrator's message for the owner, if any.
type NeedsAdmin struct {
	Name    string
	State   string
	Message string
	Link    string
}

func (NeedsAdmin) Template() string { return TemplateNeedsAdmin }
func (n NeedsAdmin) Data() map[string]string {
	return data("Name", n.Name, "State", n.State, "Message", n.Message, "Link", n.Link)
}

// PasswordChanged tells the owner the password changed.
type PasswordChanged struct {
	Name string
	At   time.Time
}

func (PasswordChanged) Template() string          { return TemplatePasswordChanged }
func (n PasswordChanged) Data() map[string]string { return data("Name", n.Name, "Time", stamp(n.At)) }

// PasswordExpiry warns the owner of a directory account that the directory will expire the
// password at ExpiresAt, and gives the link (the /reset page) to choose a new one before then.
type PasswordExpiry struct {
	Name      string
	ExpiresAt time.Time
	ResetLink string
}

func (PasswordExpiry) Template() string { return TemplatePasswordExpiry }
func (n PasswordExpiry) Data() map[string]string {
	return data("Name", n.Name, "Until", stamp(n.ExpiresAt), "Link", n.ResetLink)
}

// The changes a FactorChanged notice reports.
const (
	TOTPAdded            = "totp_added"
	RecoveryCodesCreated = "recovery_codes_created"
	RecoveryCodeUsed     = "recovery_code_used"
	FactorsReset         = "mfa_reset"
	EmailChanged         = "email_changed"
	PhoneChanged         = "phone_changed"
)

// FactorChanged tells the owner a second factor or a contact changed. The store that burns a
// recovery code adds how many remain (RemainingKey).
type FactorChanged struct {
	Name   string
	At     time.Time
	Change string
}

// RemainingKey is the datum a used recovery code's notice gets from the store: the codes left.
const RemainingKey = "Remaining"

func (FactorChanged) Template() string { return TemplateFactorChanged }
func (n FactorChanged) Data() map[string]string {
	return data("Name", n.Name, "Time", stamp(n.At), "Change", n.Change)
}

// RequestReceived tells the requester their request for help was filed, with its reference.
type RequestReceived struct {
	Name      string
	Reference string
}

func (RequestReceived) Template() string { return TemplateRequestReceived }
func (n RequestReceived) Data() map[string]string {
	return data("Name", n.Name, "Reference", n.Reference)
}

// RequestHandled tells the requester what staff decided, with their message.
type RequestHandled struct {
	Name      string
	Reference string
	Approved  bool
	Message   string
}

func (RequestHandled) Template() string { return TemplateRequestHandled }
func (n RequestHandled) Data() map[string]string {
	outcome := "denied"
	if n.Approved {
		outcome = "approved"
	}
	return data("Name", n.Name, "Reference", n.Reference, "Outcome", outcome, "Message", n.Message)
}

// StaffAlert tells an administrator of a lockout wave: Count automatic locks within Window.
type StaffAlert struct {
	Count  int
	Window time.Duration
	Link   string
}

func (StaffAlert) Template() string { return TemplateStaffAlert }
func (n StaffAlert) Data() map[string]string {
	return data("Count", strconv.Itoa(n.Count), "Window", minutes(n.Window), "Link", n.Link)
}

// Event is a webhook's JSON: an event about an account (Username empty when there is none) with
// its attributes.
type Event struct {
	Name     string
	At       time.Time
	Username string
	Attrs    map[string]string
}

func (Event) Template() string { return TemplateEvent }
func (n Event) Data() map[string]string {
	d := map[string]string{"event": n.Name, "at": n.At.UTC().Format(time.RFC3339)}
	if n.Username != "" {
		d["username"] = n.Username
	}
	for k, v := range n.Attrs {
		if _, taken := d[k]; !taken {
			d[k] = v
		}
	}
	return d
}

// data builds a template's data from key, value pairs, leaving out empty values: a template leaves
// out what it would have said about them.
func data(kv ...string) map[string]string {
	d := make(map[string]string, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			d[kv[i]] = kv[i+1]
		}
	}
	return d
}

// stamp writes a time for a template; the zero time is no time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC1123)
}

// minutes writes a lifetime in whole minutes; zero is none.
func minutes(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.Itoa(int(d.Round(time.Minute) / time.Minute))
}
