package account

import (
	"context"
	"crypto/hmac"
	"strconv"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/notice"
)

// codebook issues and checks one-time codes and reset links under the send limits.
type codebook struct {
	*kit
	guard       *guard
	codes       CodeStore
	work        UnitOfWork
	lockout     LockoutStore
	selfService SelfServiceStore
}

// Purpose binds a one-time code to what it may be used for: a sign-in code does not unlock.
type Purpose string

const (
	PurposeSignIn Purpose = "signin"
	PurposeUnlock Purpose = "unlock"
	PurposeStatus Purpose = "status"
	PurposeVerify Purpose = "verify"
)

// Channels a message travels by: codes and notices by email or SMS, events by webhook.
const (
	ChannelEmail   = "email"
	ChannelSMS     = "sms"
	ChannelWebhook = "webhook"
)

// Send limits (SECURITY.md 10): besides the policy's resend interval, at most this many codes or
// links per hour to one account, to one destination, and from one client (SMS pumping).
const (
	SendLimitAccount     = 10
	SendLimitDestination = 10
	SendLimitClient      = 30
	SendWindow           = time.Hour
)

// Message is a message to queue in the same transaction as the change that causes it: a notice
// (package notice) in a language, to a recipient on a channel (an email address, an E.164 phone
// number, or a webhook URL), in the form the outbox keeps: its template and data. notify renders
// and sends it. The domain makes one only with compose.
type Message struct {
	Channel  string
	To       string
	Template string
	Lang     string
	Zone     string // the IANA zone its times are written in; "" for the organisation's
	Data     map[string]string
}

// reader is whom a message is written for: a language and a time zone.
type reader struct{ lang, zone string }

// compose addresses a notice to one recipient, written for its reader.
func compose(channel, to string, r reader, n notice.Notice) Message {
	return Message{Channel: channel, To: to, Template: n.Template(), Lang: r.lang, Zone: r.zone, Data: n.Data()}
}

// Code is a one-time code as stored: only its HMAC.
type Code struct {
	AccountID   int64
	Purpose     Purpose
	Channel     string
	Destination string
	Hash        []byte
	Client      string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	MaxAttempts int
	// FlowHash binds the code to the browser flow that asked for it (nil: any flow of the account
	// and purpose, for codes sent when staff create an account); DeviceID is the known device it
	// was asked from, or 0.
	FlowHash []byte
	DeviceID int64
}

// NotSent records a request for a code or link that sent nothing, and why (audited).
type NotSent struct {
	AccountID int64 // 0 for an unknown login
	Login     string
	Purpose   Purpose
	Channel   string
	Reason    string // unknown_user, no_contact, limited, not_allowed
	Client    string
	Now       time.Time
}

// SendCounts are what the send limits are checked against. They count the requester's pool: the
// codes asked from one known device of the account, or else those asked from everywhere else, so a
// stranger spending the account's limits never spends the owner's device's (SECURITY.md 5).
type SendCounts struct {
	LastToAccount     time.Time // the newest code or link to the account
	LastToDestination time.Time // the newest code to this destination
	ToAccount         int
	ToDestination     int
}

// CodeStore keeps codes.
type CodeStore interface {
	// LockSends takes, until the unit of work (Atomic) it runs in ends, the send lock of key (an
	// account, or an unknown login) and of destination: the send limits are read and the send
	// written under it, so that concurrent requests never pass a limit together.
	LockSends(ctx context.Context, key, destination string) error
	// SendCounts counts codes and reset links sent since then in the pool of deviceID (0: every
	// browser that is not a known device of the account).
	SendCounts(ctx context.Context, accountID, deviceID int64, destination string, since time.Time) (SendCounts, error)
	// CreateCode stores c, supersedes the older codes of the same account, purpose and flow, queues
	// msg and audits it, in one transaction.
	CreateCode(ctx context.Context, c Code, msg Message, username string) error
	// AttemptCode counts one entry against the newest usable code of the account and purpose that
	// belongs to the flow (or to no flow), before it is checked, and returns that code's id and
	// hash; ok is false when there is none (expired, used, superseded or out of attempts).
	AttemptCode(ctx context.Context, accountID int64, purpose Purpose, flowHash []byte, now time.Time) (id int64, hash []byte, channel string, ok bool, err error)
	// VerifiedChannels lists the channels by which the account confirmed a contact (used verify codes).
	VerifiedChannels(ctx context.Context, accountID int64) ([]string, error)
	// RecordNotSent audits a request that sent nothing.
	RecordNotSent(ctx context.Context, n NotSent) error
	// ConsumeCode marks a code used; false when a concurrent entry used it first.
	ConsumeCode(ctx context.Context, id int64, now time.Time, username, client string) (bool, error)
}

// ErrBadCode answers every code that does not work: wrong, expired, used, or for nobody.
var ErrBadCode = &Error{Code: EUNAUTHORIZED, Message: "That code did not work. Check it, or ask for a new one."}

// CodeRequest asks for a code to be sent.
type CodeRequest struct {
	Login   string
	Channel string // email (default) or sms
	Purpose Purpose
	Client  string
	Lang    string
	// Flow is the nonce of the browser flow the code is for: only that flow can use it.
	Flow string
	// DeviceToken is the browser's device cookie: a known device of the account has send limits
	// of its own.
	DeviceToken string
}

// SMSAvailable is set when an SMS gateway is configured.
func (s *SelfService) SMSAvailable() bool { return s.opts.SMS }

// SendCode sends a one-time code to the contact on file, when there is an account and the limits
// allow it. The caller answers the same whether or not anything was sent (SECURITY.md 9); only a
// client over its own limit gets ErrThrottled, whatever the username.
func (s *SelfService) SendCode(ctx context.Context, req CodeRequest) error {
	return s.book.send(ctx, req)
}

// send is SendCode: the client's request is counted first.
func (s *codebook) send(ctx context.Context, req CodeRequest) error {
	now := s.now()
	if err := s.guard.reserveClientSend(ctx, req.Client, "send_code", now); err != nil {
		return err
	}
	return s.sendCode(ctx, req, now)
}

// sendCode is SendCode past the client's limit: account creation sends the first code this way.
func (s *codebook) sendCode(ctx context.Context, req CodeRequest, now time.Time) error {
	return s.work.Atomic(ctx, func(ctx context.Context) error { return s.sendCodeOnce(ctx, req, now) })
}

// sendCodeOnce is sendCode's unit of work: the limits are read and the code written under the
// send lock of the account and the destination, so requests at once see each other's sends.
func (s *codebook) sendCodeOnce(ctx context.Context, req CodeRequest, now time.Time) error {
	// Known or not, the request does the same work (lookups, the send lock, the limits, one audited
	// write), so neither the answer nor its time tells whether the account exists.
	a, err := s.guard.accountByLogin(ctx, req.Login)
	known := err == nil
	if err != nil && ErrorCode(err) != ENOTFOUND {
		return err
	}
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return err
	}
	if !known {
		a = &Account{}
	}
	destination := a.Email
	if req.Channel == ChannelSMS {
		destination = a.Phone
	} else {
		req.Channel = ChannelEmail
	}
	device, err := s.guard.knownDevice(ctx, a.ID, req.DeviceToken)
	if err != nil {
		return err
	}
	if err := s.codes.LockSends(ctx, sendKey(a, req.Login), destination); err != nil {
		return err
	}
	counts, err := s.codes.SendCounts(ctx, a.ID, device, destination, now.Add(-SendWindow))
	if err != nil {
		return err
	}
	notSent := func(reason string) error {
		return s.codes.RecordNotSent(ctx, NotSent{AccountID: a.ID, Login: printable(req.Login), Purpose: req.Purpose,
			Channel: req.Channel, Reason: reason, Client: req.Client, Now: now})
	}
	switch {
	case !known:
		return notSent("unknown_user")
	case destination == "" || (req.Channel == ChannelSMS && !s.opts.SMS):
		return notSent("no_contact")
	case tooSoon(counts, now, policy.CodeResendInterval) || counts.ToAccount >= SendLimitAccount ||
		counts.ToDestination >= SendLimitDestination:
		return notSent("limited") // silently: the answer must not tell that the account exists
	}
	t := codeTarget{purpose: req.Purpose, channel: req.Channel, destination: destination, flow: req.Flow, device: device}
	if state := a.EffectiveState(now); req.Purpose == PurposeUnlock && !unlockableByCode(state) {
		// A code could not unlock it: the owner is told so, and where to ask, instead.
		return s.issueNeedsAdmin(ctx, a, state, t, req.Client, req.Lang, policy)
	}
	return s.issueCode(ctx, a, t, req.Client, req.Lang, policy)
}

// unlockableByCode reports whether proving who you are can unlock an account in state: not one an
// administrator froze, disabled or let expire.
func unlockableByCode(state State) bool {
	return state != StateFrozen && state != StateDisabled && state != StateExpired
}

// issueNeedsAdmin tells the owner who asked for an unlock code that only an administrator can
// unlock the account, and where to ask. It is recorded as a send whose hash no entered code can
// ever match (it is not a code's MAC), so the send limits bound these notices as they bound codes.
func (s *codebook) issueNeedsAdmin(ctx context.Context, a *Account, state State, t codeTarget, client, lang string, policy Policy) error {
	n := notice.NeedsAdmin{Name: a.Name(), State: string(state), Link: s.link("/help/request")}
	if state == StateFrozen {
		lock, err := s.selfService.CurrentLock(ctx, a.ID)
		if err != nil {
			return err
		}
		if lock != nil {
			n.Message = lock.UserMessage
		}
	}
	now := s.now()
	c := Code{AccountID: a.ID, Purpose: t.purpose, Channel: t.channel, Destination: t.destination,
		Hash: s.keyed("no code", strconv.FormatInt(a.ID, 10)), Client: client, CreatedAt: now,
		ExpiresAt: now.Add(policy.CodeTTL), MaxAttempts: 1, FlowHash: s.flowMAC(t.flow), DeviceID: t.device}
	return s.codes.CreateCode(ctx, c, compose(t.channel, t.destination, s.readerOf(a, lang), n), a.Username)
}

// codeTarget is what a new code is for and where it goes.
type codeTarget struct {
	purpose     Purpose
	channel     string
	destination string
	flow        string // the flow's nonce; "" for a code any flow of the account may use
	device      int64
}

// issueCode makes a one-time code for one account, purpose and flow, stores its HMAC and queues the
// message that carries it to the destination.
func (s *codebook) issueCode(ctx context.Context, a *Account, t codeTarget, client, lang string, policy Policy) error {
	purpose, channel, destination := t.purpose, t.channel, t.destination
	code, err := s.opts.NewCode(policy.CodeLength)
	if err != nil {
		return err
	}
	now := s.now()
	c := Code{AccountID: a.ID, Purpose: purpose, Channel: channel, Destination: destination,
		Hash: s.codeMAC(a.ID, purpose, code), Client: client, CreatedAt: now,
		ExpiresAt: now.Add(policy.CodeTTL), MaxAttempts: policy.CodeMaxAttempts, FlowHash: s.flowMAC(t.flow), DeviceID: t.device}
	// The message names what the code is for; a new contact is confirmed like a new account's.
	said := purpose
	if purpose == PurposeContact {
		said = PurposeVerify
	}
	msg := compose(channel, destination, s.readerOf(a, lang),
		notice.Code{Name: a.Name(), Code: code, Purpose: string(said), TTL: policy.CodeTTL})
	return s.codes.CreateCode(ctx, c, msg, a.Username)
}

// codeMAC keys a code to its account and purpose, so a code (6 digits) cannot be found from a copy
// of the table without the server's key, and a code for one purpose matches nothing else.
func (s *kit) codeMAC(accountID int64, purpose Purpose, code string) []byte {
	return s.keyed("code", strconv.FormatInt(accountID, 10), string(purpose), code)
}

// verifyCode checks a code for the account, purpose and flow, counting the entry on that code
// before checking it, and returns the channel the code went by (the method it proves). An entry in
// one flow never counts against a code of another (SECURITY.md 25).
func (s *codebook) verifyCode(ctx context.Context, a *Account, purpose Purpose, flow, code, client string) (string, error) {
	code = strings.TrimSpace(code)
	id, hash, channel, ok, err := s.codes.AttemptCode(ctx, a.ID, purpose, s.flowMAC(flow), s.now())
	if err != nil {
		return "", err
	}
	// The entry is counted: a right code is used up and its use recorded even if the client hangs
	// up now (callers carry on the same way with what the proof allows).
	ctx = context.WithoutCancel(ctx)
	if !ok || !hmac.Equal(hash, s.codeMAC(a.ID, purpose, code)) {
		return "", ErrBadCode
	}
	used, err := s.codes.ConsumeCode(ctx, id, s.now(), a.Username, client)
	if err != nil {
		return "", err
	}
	if !used {
		return "", ErrBadCode
	}
	return channel, nil
}

// Codes entered on the self-service pages do not lock the account (an attacker must not keep the
// owner out), so the ledger bounds them across codes: MaxCodeGuesses per CodeGuessWindow for the
// account from each client network (ClientNetwork) of unknown browsers, and as many for each known
// device of the account. A code takes code.max_attempts entries and the account is sent up to
// code.send_max_per_hour codes, so without this bound a stranger asking for codes could guess
// about 50 times an hour for as long as they liked, and a right guess at /unlock or /status
// unlocks the account. Counted per network, a stranger's entries never spend the owner's, who
// enters theirs from elsewhere or from a known device.
const (
	MaxCodeGuesses  = 20
	CodeGuessWindow = 24 * time.Hour
)

// proveWithCode checks a code sent for purpose in p's flow. Every entry, right or wrong, is
// reserved on the ledger before the code is checked, so concurrent entries never pass the bound
// (a person proves who they are a few times a day at most); past it the answer is that of a wrong
// code.
func (s *codebook) proveWithCode(ctx context.Context, a *Account, purpose Purpose, p Proof) (string, error) {
	device, err := s.guard.knownDevice(ctx, a.ID, p.DeviceToken)
	if err != nil {
		return "", err
	}
	subject := guessSubject(a.ID, device)
	if device == 0 {
		subject += " from " + ClientNetwork(p.Client)
	}
	n, err := s.guard.ledger.Reserve(ctx, scopeCodeGuess, subject, CodeGuessWindow, s.now())
	if err != nil {
		return "", err
	}
	if !Within(n, MaxCodeGuesses) {
		s.metrics.Throttled(string(purpose) + "_code")
		return "", ErrBadCode
	}
	return s.verifyCode(ctx, a, purpose, p.Flow.Nonce, p.Code, p.Client)
}

// sendKey names the send lock of a request: the account's, or for an unknown login the login's,
// so that the two take the same lock in the same way.
func sendKey(a *Account, login string) string {
	if a.ID != 0 {
		return accountKey(a.ID)
	}
	return loginKey(login)
}

// The languages messages are written in.
const (
	LangEnglish = "en"
	LangChinese = "zh-CN"
)

// ValidLanguage reports whether messages can be written in lang.
func ValidLanguage(lang string) bool { return lang == LangEnglish || lang == LangChinese }

// langFor is the language of a message to an account: the language of the page the person is
// using when the message answers their own request (requestLang), else the account's own (learned
// at sign-in and whenever they prove who they are, or chosen on /account), else English. Messages
// the person did not ask for from a browser (lock notices, staff actions) pass no requestLang.
func (s *kit) langFor(a *Account, requestLang string) string {
	switch {
	case ValidLanguage(requestLang):
		return requestLang
	case ValidLanguage(a.Language):
		return a.Language
	}
	return LangEnglish
}

// readerOf is the reader of a message to an account: in langFor's language, in the account's zone.
func (s *kit) readerOf(a *Account, requestLang string) reader {
	return reader{lang: s.langFor(a, requestLang), zone: a.TimeZone}
}

// link builds an absolute link from the configured base URL, never from the request.
func (s *kit) link(path string) string { return strings.TrimRight(s.opts.BaseURL, "/") + path }

// tooSoon applies code.resend_interval: no second code to the account within it, except by another
// channel (someone whose email does not arrive switches to SMS at once). The hourly limits per
// account and destination still bound the switching.
func tooSoon(c SendCounts, now time.Time, interval time.Duration) bool {
	if now.Sub(c.LastToDestination) < interval {
		return true
	}
	return now.Sub(c.LastToAccount) < interval && c.LastToAccount.Equal(c.LastToDestination)
}
