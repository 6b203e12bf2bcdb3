// Package notify renders and delivers unlockd's outgoing messages: email (SMTP) and SMS (an HTTP
// webhook). Messages are queued in PostgreSQL by the change that causes them (postgres.Enqueue, in the
// same transaction) and a Worker delivers them from that queue, retrying with backoff, so a message
// survives a restart and an outage of the mail server. Templates live in web/email and are all parsed
// at start-up; a missing one stops start-up.
//
// This package imports nothing of unlockd's storage or server (only the domain's message type): the
// queue is the OutboxQueue interface.
package notify

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/notice"
)

// Channels a message can travel by: the domain's.
const (
	ChannelEmail = account.ChannelEmail
	ChannelSMS   = account.ChannelSMS
)

// Languages with templates. Other language tags fall back to English (see NormalizeLang).
const (
	LangEnglish = "en"
	LangChinese = "zh-CN"
)

// Languages lists the languages every template exists in.
var Languages = []string{LangEnglish, LangChinese}

// Template names (package notice makes every message; these are its templates), and the data keys each takes (templateSpecs holds the same):
//
//	code              Code (required, digits), Name, Purpose (signin|unlock|status|verify), Minutes
//	reset_link        Link (required, http(s) URL), Name, Minutes
//	locked            Name, Time, Place, Until, UnlockLink
//	unlocked          Name, Time, Method
//	password_changed  Name, Time
//	factor_changed    Name, Time, Change, Remaining (recovery codes left)
//	request_received  Reference (required), Name
//	request_handled   Reference, Outcome (approved|denied) (both required), Name, Message
//	staff_alert       Count (required, digits), Window (minutes, digits), Link
//	needs_admin       Link, State (frozen|disabled|expired) (both required), Name, Message
//	password_expiry   Until (when the password expires), Link (both required), Name
//
// Data values are plain strings shown as given, except: Time and Until in RFC 3339 or RFC 1123 form
// (time.RFC3339, time.RFC1123) are written the reader's way ("1 May 2026, 10:00 UTC", "2026年5月1日 10:00（UTC）"),
// in the zone they carry; Purpose, Outcome, Method and Change are words the template turns into a
// phrase. Method: email, sms, totp, recovery, admin, reset, expired. Change: totp_added, totp_removed,
// recovery_codes_created, recovery_code_used, mfa_reset, email_changed, phone_changed (other values
// are shown as given).
const (
	TemplateCode            = notice.TemplateCode
	TemplateResetLink       = notice.TemplateResetLink
	TemplateLocked          = notice.TemplateLocked
	TemplateUnlocked        = notice.TemplateUnlocked
	TemplatePasswordChanged = notice.TemplatePasswordChanged
	TemplateFactorChanged   = notice.TemplateFactorChanged
	TemplateRequestReceived = notice.TemplateRequestReceived
	TemplateRequestHandled  = notice.TemplateRequestHandled
	TemplateStaffAlert      = notice.TemplateStaffAlert
	TemplateNeedsAdmin      = notice.TemplateNeedsAdmin
	TemplatePasswordExpiry  = notice.TemplatePasswordExpiry
)

// templateSpec names the data keys of a template. A required key must be present and non-empty; an
// optional one may be missing or empty, and the template leaves out what it would have said.
type templateSpec struct {
	required []string
	optional []string
}

var templateSpecs = map[string]templateSpec{
	TemplateCode:            {required: []string{"Code"}, optional: []string{"Name", "Purpose", "Minutes"}},
	TemplateResetLink:       {required: []string{"Link"}, optional: []string{"Name", "Minutes"}},
	TemplateLocked:          {optional: []string{"Name", "Time", "Place", "Until", "UnlockLink", "Administrator", "Message"}},
	TemplateUnlocked:        {optional: []string{"Name", "Time", "Method"}},
	TemplatePasswordChanged: {optional: []string{"Name", "Time"}},
	TemplateFactorChanged:   {optional: []string{"Name", "Time", "Change", "Remaining"}},
	TemplateRequestReceived: {required: []string{"Reference"}, optional: []string{"Name"}},
	TemplateRequestHandled:  {required: []string{"Reference", "Outcome"}, optional: []string{"Name", "Message"}},
	TemplateStaffAlert:      {required: []string{"Count"}, optional: []string{"Window", "Link"}},
	TemplateNeedsAdmin:      {required: []string{"Link", "State"}, optional: []string{"Name", "Message"}},
	TemplatePasswordExpiry:  {required: []string{"Until", "Link"}, optional: []string{"Name"}},
}

// TemplateNames returns every template name, sorted.
func TemplateNames() []string {
	names := make([]string, 0, len(templateSpecs))
	for n := range templateSpecs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Values some keys are limited to. Purpose, Method and Change outside their lists still render
// (Method and Change are then shown as given); Purpose and Outcome are checked because a wrong one
// would mislead the reader.
var (
	purposes = []string{"", "signin", "unlock", "status", "verify"}
	outcomes = []string{"approved", "denied"}
)

// Message is one message to send: the domain's account.Message. To is an email address for
// ChannelEmail and an E.164 phone number (+8613800000000) for ChannelSMS.
type Message = account.Message

// Queued is a message taken from the queue for delivery. Attempts counts delivery attempts including
// the current one.
type Queued struct {
	ID       int64
	Attempts int
	Message
}

var (
	phoneRE  = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	digitsRE = regexp.MustCompile(`^[0-9]{1,12}$`)
)

// Validate checks a message before it is queued: a known channel and template, a plausible recipient,
// the required data present, no key the template does not take, and the few values with a fixed form.
// An error here is a programming error in the caller, so it is reported when queuing, not hours later
// by a message that never arrives.
func Validate(m Message) error {
	switch m.Channel {
	case ChannelEmail:
		if len(m.To) < 3 || len(m.To) > 254 || !strings.Contains(m.To, "@") || strings.ContainsAny(m.To, "\r\n<>,; ") {
			return fmt.Errorf("notify: %q is not an email address", m.To)
		}
	case ChannelSMS:
		if !phoneRE.MatchString(m.To) {
			return fmt.Errorf("notify: %q is not an E.164 phone number", m.To)
		}
	case ChannelWebhook:
		return validateWebhook(m)
	default:
		return fmt.Errorf("notify: unknown channel %q", m.Channel)
	}
	spec, ok := templateSpecs[m.Template]
	if !ok {
		return fmt.Errorf("notify: unknown template %q", m.Template)
	}
	for _, k := range spec.required {
		if strings.TrimSpace(m.Data[k]) == "" {
			return fmt.Errorf("notify: template %s needs %s", m.Template, k)
		}
	}
	for k, v := range m.Data {
		if !slices.Contains(spec.required, k) && !slices.Contains(spec.optional, k) {
			return fmt.Errorf("notify: template %s takes no %s", m.Template, k)
		}
		if len(v) > 4000 {
			return fmt.Errorf("notify: %s is too long (%d bytes)", k, len(v))
		}
	}
	return checkValues(m.Template, m.Data)
}

func checkValues(tmpl string, data map[string]string) error {
	for _, k := range []string{"Code", "Minutes", "Count", "Window"} {
		if v, ok := data[k]; ok && v != "" && !digitsRE.MatchString(v) {
			return fmt.Errorf("notify: %s must be digits", k)
		}
	}
	for _, k := range []string{"Link", "UnlockLink"} {
		if v, ok := data[k]; ok && v != "" {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(v, " \r\n\t") {
				return fmt.Errorf("notify: %s must be an absolute http(s) URL", k)
			}
		}
	}
	if tmpl == TemplateCode && !slices.Contains(purposes, data["Purpose"]) {
		return fmt.Errorf("notify: Purpose must be one of signin, unlock, status, verify, not %q", data["Purpose"])
	}
	if tmpl == TemplateRequestHandled && !slices.Contains(outcomes, data["Outcome"]) {
		return fmt.Errorf("notify: Outcome must be approved or denied, not %q", data["Outcome"])
	}
	return nil
}

// NormalizeLang maps a language tag to one that has templates: any Chinese tag to zh-CN, anything
// else to en.
func NormalizeLang(lang string) string {
	l := strings.ToLower(strings.TrimSpace(lang))
	if l == "zh" || strings.HasPrefix(l, "zh-") || strings.HasPrefix(l, "zh_") {
		return LangChinese
	}
	return LangEnglish
}

// permanentError marks a failure that retrying cannot fix (the message cannot be rendered or
// addressed); the worker gives such a message up at once instead of trying it twenty times.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// deliveredError is a failure that came after the message was taken for delivery.
type deliveredError struct{ err error }

func (e *deliveredError) Error() string { return "delivered, then: " + e.err.Error() }
func (e *deliveredError) Unwrap() error { return e.err }

// Delivered marks err as having come after the message was taken for delivery (an SMTP server's
// 250 to DATA, then a failed QUIT): the message is sent, and sending it again would send it twice.
func Delivered(err error) error {
	if err == nil {
		return nil
	}
	return &deliveredError{err: err}
}

// IsDelivered reports whether err was marked with Delivered.
func IsDelivered(err error) bool {
	var d *deliveredError
	return errors.As(err, &d)
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
