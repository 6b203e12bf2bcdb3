package account

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/notice"
)

// SelfService is what a locked-out person does without signing in: ask for a code, see the
// account's status, unlock it, reset the password, confirm a new account, ask the administrators.
type SelfService struct {
	*kit
	guard         *guard
	book          *codebook
	accounts      AccountStore
	lockout       LockoutStore
	selfService   SelfServiceStore
	codes         CodeStore
	states        StateStore
	work          UnitOfWork
	ledger        LedgerStore
	secondFactors FactorStore
	hasher        Hasher
}

// SignInEvent is one past sign-in attempt, for the owner to recognise.
type SignInEvent struct {
	At        time.Time
	Succeeded bool
	ClientIP  string
	UserAgent string
}

// LockInfo is the account's current lock, as the owner may see it.
type LockInfo struct {
	Kind        string // temporary, hard, freeze, disable
	Source      string // automatic, administrator, directory
	UserMessage string // what an administrator wants the owner told
	StartedAt   time.Time
	Until       *time.Time
}

// ResetCompletion is a reset link used to set a new password.
type ResetCompletion struct {
	TokenHash    []byte
	AccountID    int64
	Username     string
	PasswordHash string // empty for a directory account: the password is set in the directory, not kept here
	Unlock       bool   // unlock.reset_clears_lock
	Client       string
	Now          time.Time
	Notify       []Message
	// NotifyUnlocked is queued too when the reset lifted a lock.
	NotifyUnlocked []Message
}

// ResetLink is a new reset token as stored: only its hash.
type ResetLink struct {
	AccountID int64
	Username  string
	Hash      []byte
	Actor     Actor  // who asked: "anonymous" on /reset, "user:..." after an unlock, staff on the dashboard
	Reason    string // a staff member's reason, for the record
	Now       time.Time
	Expires   time.Time
	Message   *Message // the email with the link; nil when the link is shown on the page instead
}

// UnlockRequest is a plea to the administrators.
type UnlockRequest struct {
	Reference string
	AccountID *int64
	Login     string
	Contact   string
	Message   string
	Client    string
	Lang      string
	CreatedAt time.Time
}

// SelfServiceStore keeps what the self-service flows change.
type SelfServiceStore interface {
	// SelfUnlock lifts an automatic lock after the owner proved who they are, queues msg and audits
	// it; false when the account was not under an automatic lock.
	SelfUnlock(ctx context.Context, accountID int64, method, client string, now time.Time, msgs []Message) (bool, error)
	// RecentSignIns lists the account's latest sign-in attempts, newest first.
	RecentSignIns(ctx context.Context, accountID int64, limit int) ([]SignInEvent, error)
	// CurrentLock returns the account's open lock, or nil.
	CurrentLock(ctx context.Context, accountID int64) (*LockInfo, error)
	// CreateResetToken stores a reset token (superseding older ones), queues its message (if any)
	// and audits who asked for it and why.
	CreateResetToken(ctx context.Context, l ResetLink) error
	// ResetTokenAccount finds the account of a usable reset token (newest, unused, unexpired). ENOTFOUND.
	ResetTokenAccount(ctx context.Context, hash []byte, now time.Time) (int64, error)
	// CompleteReset consumes the token (once, even under concurrency) and applies the new password:
	// sessions end, the lock lifts when asked, the owner is told. false when the token was used.
	CompleteReset(ctx context.Context, r ResetCompletion) (bool, error)
	// CreateRequest stores an unlock request, queues msg (if any) and audits it.
	CreateRequest(ctx context.Context, r UnlockRequest, msgs []Message) error
	// RequestStatus reads the request with this reference filed for this login (compared without
	// regard to letter case); ENOTFOUND when there is none, whichever of the two does not match.
	RequestStatus(ctx context.Context, reference, login string) (*RequestState, error)
}

// UnlockOutcome is what a verified self-service unlock did.
type UnlockOutcome string

const (
	UnlockDone       UnlockOutcome = "unlocked"    // the account is active again
	UnlockNotLocked  UnlockOutcome = "not_locked"  // nothing to unlock
	UnlockNeedsAdmin UnlockOutcome = "needs_admin" // frozen, disabled, expired or pending: an administrator decides
	UnlockNeedsMore  UnlockOutcome = "needs_more"  // unlock.methods_required asks for another, different method
)

// UnlockResult is the outcome of a verified unlock.
type UnlockResult struct {
	Outcome UnlockOutcome
	Account *Account
	// ResetToken, when set, lets the owner choose a new password at once (the lock came from failed
	// sign-ins, so the old password may be known to someone else or simply forgotten).
	ResetToken string
	// Verified lists the distinct methods proven so far in this unlock (for unlock.methods_required).
	Verified []string
	// Lock is the account's lock when an administrator must decide: its message for the owner.
	Lock *LockInfo
}

// Proof is one entry on a flow's verify form: a code, in the browser flow that asked for it.
type Proof struct {
	Flow        *Flow
	Code        string
	Client      string
	Lang        string
	DeviceToken string
}

// proofAccount finds the account a flow is for; ErrBadCode when there is none, so the answer is the
// same as for a wrong code.
func (s *SelfService) proofAccount(ctx context.Context, p Proof, purpose Purpose) (*Account, error) {
	if !p.Flow.Valid(purpose) {
		return nil, ErrBadCode
	}
	a, err := s.guard.accountByLogin(ctx, p.Flow.Login)
	if ErrorCode(err) == ENOTFOUND {
		return nil, ErrBadCode
	}
	return a, err
}

// UnlockWithCode verifies a code for the unlock purpose and lifts an automatic lock once
// unlock.methods_required different methods are proven in the same flow for the same account. A
// wrong code never counts towards the account's lockout: an attacker must not be able to keep the
// owner out.
func (s *SelfService) UnlockWithCode(ctx context.Context, p Proof) (*UnlockResult, error) {
	a, err := s.proofAccount(ctx, p, PurposeUnlock)
	if err != nil {
		return nil, err
	}
	method, err := s.book.proveWithCode(ctx, a, PurposeUnlock, p)
	if err != nil {
		return nil, err
	}
	// The code is used up: what it proves is carried out whatever the client does now.
	return s.finishUnlock(context.WithoutCancel(ctx), a, method, p)
}

// finishUnlock lifts an automatic lock once the owner has proven enough methods in this flow.
func (s *SelfService) finishUnlock(ctx context.Context, a *Account, method string, p Proof) (*UnlockResult, error) {
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return nil, err
	}
	client, lang := p.Client, p.Lang
	s.guard.learnLanguage(ctx, a, lang)
	verified := p.Flow.provenFor(a.ID)
	if !slices.Contains(verified, method) {
		verified = append(verified, method)
	}
	p.Flow.Verified = verified
	if len(verified) < policy.UnlockMethodsRequired {
		return &UnlockResult{Outcome: UnlockNeedsMore, Account: a, Verified: verified}, nil
	}
	now := s.now()
	switch state := a.EffectiveState(now); {
	case state == StateActive:
		return &UnlockResult{Outcome: UnlockNotLocked, Account: a}, nil
	case (state == StateLockedTemporarily || state == StateLocked) && s.directory.needs(a) == nil:
		// An automatic lock, unlockd's own or the directory's: the owner lifts it (a directory's
		// lock with no directory configured to lift it in goes to an administrator).
	default:
		// The owner proved who they are: they may read what the administrator wants them told.
		lock, err := s.selfService.CurrentLock(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		return &UnlockResult{Outcome: UnlockNeedsAdmin, Account: a, Lock: lock}, nil
	}
	msg := s.unlockedMessage(a, now, method)
	msg.Lang = s.langFor(a, lang)
	method = strings.Join(verified, "+")
	// The unlock and the reset link it offers are one unit: never an unlock whose page fails.
	var res *UnlockResult
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		ok, err := s.selfService.SelfUnlock(ctx, a.ID, method, client, now,
			append([]Message{msg}, s.events(audit.AccountUnlocked, a, now, "state", string(StateActive), "by", "owner", "method", method)...))
		if err != nil || !ok {
			res = &UnlockResult{Outcome: UnlockNotLocked, Account: a}
			return err
		}
		// The directory's lock is lifted with the record of it, or neither is.
		if err := s.directory.unlock(ctx, a, false, Actor{Name: "user:" + a.Username, Client: client}, "verified by "+method); err != nil {
			return err
		}
		// Offer a new password at once: a reset link only the person on this page holds.
		token, err := s.book.issueResetLink(ctx, a, Actor{Name: "user:" + a.Username, Client: client}, "", "", policy, false)
		res = &UnlockResult{Outcome: UnlockDone, Account: a, Verified: verified, ResetToken: token}
		return err
	})
	if errors.Is(err, ErrDirectoryFrozen) {
		// A directory administrator locked the person meanwhile: theirs to lift.
		return &UnlockResult{Outcome: UnlockNeedsAdmin, Account: a}, nil
	}
	if err != nil {
		return nil, err
	}
	if res.Outcome == UnlockDone {
		s.metrics.Unlock(method)
	}
	return res, nil
}

// StatusView is what the owner sees about their account after proving who they are.
type StatusView struct {
	Account        *Account
	State          State
	SignIn         string // SignInAccess of State
	Lock           *LockInfo
	RecentFailures []SignInEvent
	MaskedEmail    string // where codes go, shown masked even to the owner
	MaskedPhone    string
}

// StatusWithCode verifies a code for the status purpose and returns the account's status.
func (s *SelfService) StatusWithCode(ctx context.Context, p Proof) (*StatusView, error) {
	a, err := s.proofAccount(ctx, p, PurposeStatus)
	if err != nil {
		return nil, err
	}
	method, err := s.book.proveWithCode(ctx, a, PurposeStatus, p)
	if err != nil {
		return nil, err
	}
	// The flow remembers what was proven, and for whom: an unlock may follow without a second code.
	p.Flow.Verified = appendNew(p.Flow.provenFor(a.ID), method)
	p.Flow.ProvenAt = s.now()
	s.guard.learnLanguage(ctx, a, p.Lang)
	return s.Status(ctx, a)
}

// UnlockAfterStatus carries what the browser proved to see an account's status over to unlocking
// it, so the owner who just read why the account is locked needs no second code. The proof counts
// for the account it was made for only, and only while a code would still be valid (code.ttl); p
// is the new unlock flow's proof, without a code. A status flow with nothing fresh proven is
// ErrBadCode, as a wrong code is.
func (s *SelfService) UnlockAfterStatus(ctx context.Context, status *Flow, p Proof) (*UnlockResult, error) {
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return nil, err
	}
	if !status.Valid(PurposeStatus) || status.AccountID == 0 || len(status.Verified) == 0 ||
		s.now().Sub(status.ProvenAt) > policy.CodeTTL || !p.Flow.Valid(PurposeUnlock) {
		return nil, ErrBadCode
	}
	a, err := s.accounts.AccountByID(ctx, status.AccountID)
	if ErrorCode(err) == ENOTFOUND {
		return nil, ErrBadCode
	} else if err != nil {
		return nil, err
	}
	p.Flow.AccountID, p.Flow.Verified = a.ID, slices.Clone(status.Verified)
	return s.finishUnlock(ctx, a, status.Verified[len(status.Verified)-1], p)
}

// appendNew appends v unless the list has it.
func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// Status describes an account for its owner.
func (s *SelfService) Status(ctx context.Context, a *Account) (*StatusView, error) {
	v := &StatusView{Account: a, State: a.EffectiveState(s.now()), MaskedEmail: MaskEmail(a.Email)}
	v.SignIn = SignInAccess(v.State)
	if a.Phone != "" {
		v.MaskedPhone = MaskPhone(a.Phone)
	}
	var err error
	if v.State != StateActive {
		if v.Lock, err = s.selfService.CurrentLock(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	events, err := s.selfService.RecentSignIns(ctx, a.ID, 20)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if !e.Succeeded && len(v.RecentFailures) < 10 {
			v.RecentFailures = append(v.RecentFailures, e)
		}
	}
	return v, nil
}

// StartReset sends a reset link to the email address on file (never to one given in the request),
// when the account exists and the limits allow. The caller answers the same either way.
func (s *SelfService) StartReset(ctx context.Context, login, client, lang string) error {
	now := s.now()
	if err := s.guard.reserveClientSend(ctx, client, "reset", now); err != nil {
		return err
	}
	// The limits are read and the link written under the send lock, as for codes (sendCode).
	return s.work.Atomic(ctx, func(ctx context.Context) error {
		a, err := s.guard.accountByLogin(ctx, login)
		known := err == nil
		if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
		if !known {
			a = &Account{}
		}
		policy, err := s.lockout.Policy(ctx)
		if err != nil {
			return err
		}
		if err := s.codes.LockSends(ctx, sendKey(a, login), a.Email); err != nil {
			return err
		}
		counts, err := s.codes.SendCounts(ctx, a.ID, 0, a.Email, now.Add(-SendWindow))
		if err != nil {
			return err
		}
		notSent := func(reason string) error {
			return s.codes.RecordNotSent(ctx, NotSent{AccountID: a.ID, Login: printable(login), Purpose: "reset",
				Channel: ChannelEmail, Reason: reason, Client: client, Now: now})
		}
		switch {
		case !known:
			return notSent("unknown_user")
		case a.EffectiveState(now) == StateDisabled || a.EffectiveState(now) == StateExpired:
			return notSent("not_allowed") // an administrator must act first
		case s.directory.needs(a) != nil:
			return notSent("directory") // no directory is configured to set its password in
		case now.Sub(counts.LastToAccount) < policy.CodeResendInterval || counts.ToAccount >= SendLimitAccount || counts.ToDestination >= SendLimitDestination:
			return notSent("limited")
		}
		_, err = s.book.issueResetLink(ctx, a, Actor{Name: "anonymous", Client: client}, "", lang, policy, true)
		return err
	})
}

// issueResetLink makes a reset token for the account: mailed to the address on file when mail is
// set, else returned for the page to offer. Only the newest link works.
func (s *codebook) issueResetLink(ctx context.Context, a *Account, actor Actor, reason, lang string, policy Policy, mail bool) (string, error) {
	if err := s.directory.needs(a); err != nil {
		return "", err
	}
	token, err := s.opts.NewToken()
	if err != nil {
		return "", err
	}
	now := s.now()
	l := ResetLink{AccountID: a.ID, Username: a.Username, Hash: s.opts.HashToken(token), Actor: actor, Reason: reason,
		Now: now, Expires: now.Add(policy.ResetTTL)}
	if mail {
		m := compose(ChannelEmail, a.Email, s.readerOf(a, lang),
			notice.ResetLink{Name: a.Name(), Link: s.link("/reset/" + token), TTL: policy.ResetTTL})
		l.Message = &m
	}
	return token, s.selfService.CreateResetToken(ctx, l)
}

// ErrBadResetLink answers every reset link that does not work.
var ErrBadResetLink = &Error{Code: ENOTFOUND, Message: "This reset link does not work: it was used, replaced by a newer one, or has expired."}

// ResetAccount finds the account a reset link is for.
func (s *SelfService) ResetAccount(ctx context.Context, token string) (*Account, error) {
	if token == "" || len(token) > 100 {
		return nil, ErrBadResetLink
	}
	id, err := s.selfService.ResetTokenAccount(ctx, s.opts.HashToken(token), s.now())
	if ErrorCode(err) == ENOTFOUND {
		return nil, ErrBadResetLink
	} else if err != nil {
		return nil, err
	}
	return s.accounts.AccountByID(ctx, id)
}

// PasswordProblem says why a new password was refused, as a message id the pages translate, with
// the number it is about.
type PasswordProblem struct {
	ID  string // one of the Password* message ids below
	Min int
}

func (p *PasswordProblem) Error() string { return "password refused: " + p.ID }

// The message ids of a refused password. A weak one names its reason where the Strength function gave
// one (WeakPasswordMessages), else PasswordWeak.
const (
	PasswordTooShort = "password_too_short"
	PasswordTooLong  = "password_too_long"
	PasswordMismatch = "password_mismatch"
	PasswordWeak     = "password_weak"
	PasswordContext  = "password_context" // contains the person's own name, username, email or phone
)

// WeakPasswordMessages turns the reason the Strength function gives for a guessable password into the
// message id that tells the person what to change.
var WeakPasswordMessages = map[string]string{
	"common_password": "password_weak_common",
	"word":            "password_weak_word",
	"name":            "password_weak_name",
	"personal":        PasswordContext,
	"repeat":          "password_weak_repeat",
	"sequence":        "password_weak_sequence",
	"keyboard":        "password_weak_keyboard",
	"date":            "password_weak_date",
}

// checkNewPassword applies the rules for a password a person chooses (SECURITY.md 16): length in
// code points, at most 256, no composition rules; common passwords, patterns and words from the
// person's own context refused, saying which.
func (s *kit) checkNewPassword(a *Account, password, confirm string, minLen int) error {
	n := utf8.RuneCountInString(password)
	switch {
	case !utf8.ValidString(password):
		return &PasswordProblem{ID: PasswordWeak}
	case n < minLen:
		return &PasswordProblem{ID: PasswordTooShort, Min: minLen}
	case n > MaxPasswordLength:
		return &PasswordProblem{ID: PasswordTooLong, Min: MaxPasswordLength}
	case password != confirm:
		return &PasswordProblem{ID: PasswordMismatch}
	}
	context := []string{"unlockd", a.Username, a.Email, strings.Split(a.Email, "@")[0], a.DisplayName, a.Phone}
	lower := strings.ToLower(password)
	for _, w := range context {
		if w = strings.ToLower(strings.TrimSpace(w)); utf8.RuneCountInString(w) >= 4 && strings.Contains(lower, w) {
			return &PasswordProblem{ID: PasswordContext}
		}
	}
	if score, reason := s.opts.Strength(password, context); score < 3 {
		id, ok := WeakPasswordMessages[reason]
		if !ok {
			id = PasswordWeak
		}
		return &PasswordProblem{ID: id}
	}
	return nil
}

// CompleteReset sets a new password through a reset link. It never signs the user in; it ends the
// account's sessions, unlocks when the policy says so, and tells the owner.
func (s *SelfService) CompleteReset(ctx context.Context, token, password, confirm, client, lang string) (*Account, error) {
	a, err := s.ResetAccount(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := s.directory.needs(a); err != nil {
		return a, err
	}
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return nil, err
	}
	minLen, err := s.guard.minPasswordLength(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	if err := s.checkNewPassword(a, password, confirm, minLen); err != nil {
		return a, err
	}
	var hash string
	if !a.InDirectory() {
		if hash, err = s.hasher.Hash(ctx, password); err != nil {
			return nil, err
		}
	}
	now := s.now()
	notify := s.passwordChanged(a, lang, now)
	done := ResetCompletion{TokenHash: s.opts.HashToken(token), AccountID: a.ID,
		Username: a.Username, PasswordHash: hash, Unlock: policy.ResetClearsLock, Client: client, Now: now, Notify: notify,
		NotifyUnlocked: []Message{s.unlockedMessage(a, now, "reset")}}
	// The link is used up, the password set and the lock lifted together: a directory that refuses
	// the password or does not answer leaves the link working and nothing changed. Once asked, it
	// is carried out whatever the client does (as a change of password on the account page).
	ctx = context.WithoutCancel(ctx)
	ok := false
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		var err error
		if ok, err = s.selfService.CompleteReset(ctx, done); err != nil || !ok || !a.InDirectory() {
			return err
		}
		return s.resetInDirectory(ctx, a, password, policy.ResetClearsLock, Actor{Name: "user:" + a.Username, Client: client})
	})
	if err != nil {
		return a, err
	}
	if !ok {
		return nil, ErrBadResetLink
	}
	s.guard.learnLanguage(ctx, a, lang)
	return a, nil
}

// resetInDirectory sets a directory account's new password in the directory and, when the policy
// says a reset clears the lock, lifts the directory's lock too (ppolicy does with the password, AD
// does not); an administrator's lock stays theirs to lift. Once the directory holds the new
// password the reset stands: a directory that stops answering before the unlock leaves the lock
// for /unlock, rather than a link undone for a password the directory already has (and would
// refuse again as used before).
func (s *SelfService) resetInDirectory(ctx context.Context, a *Account, password string, unlock bool, actor Actor) error {
	if err := s.directory.setPassword(ctx, a, password, actor, "reset link"); err != nil {
		return err
	}
	if !unlock {
		return nil
	}
	err := s.directory.unlock(ctx, a, false, actor, "password reset")
	if err != nil && !errors.Is(err, ErrDirectoryFrozen) && !errors.Is(err, ErrDirectoryUnavailable) {
		return err
	}
	return s.directory.recordFailure(ctx, err)
}

// RequestHelp records an unlock request for the administrators and returns its reference. The
// answer is the same whether or not the account exists.
func (s *SelfService) RequestHelp(ctx context.Context, login, contact, message, client, lang string) (string, error) {
	now := s.now()
	if err := s.guard.reserveClientSend(ctx, client, "help_request", now); err != nil {
		return "", err
	}
	login, _ = NormalizeLogin(login)
	if login == "" {
		return "", Errorf(EINVALID, "username is required")
	}
	contact = clip(strings.TrimSpace(contact), 200)
	message = clip(strings.TrimSpace(message), 2000)
	ref, err := newReference()
	if err != nil {
		return "", err
	}
	req := UnlockRequest{Reference: ref, Login: login, Contact: contact, Message: message, Client: client, Lang: lang, CreatedAt: now}
	var msgs []Message
	a, err := s.guard.accountByLogin(ctx, login)
	if err == nil {
		req.AccountID = &a.ID
		msgs = append(msgs, compose(ChannelEmail, a.Email, s.readerOf(a, lang), notice.RequestReceived{Name: a.Name(), Reference: ref}))
	} else if ErrorCode(err) != ENOTFOUND {
		return "", err
	} else {
		a = nil
	}
	msgs = append(msgs, s.events("request.filed", a, now, "reference", ref)...)
	if err := s.selfService.CreateRequest(ctx, req, msgs); err != nil {
		return "", err
	}
	return ref, nil
}

// referenceAlphabet is the letters of a request reference.
const referenceAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// newReference makes a request reference people can read out on the phone: no 0/O or 1/I.
func newReference() (string, error) {
	const alphabet = referenceAlphabet
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	out := []byte("UR-")
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, alphabet[int(c)%len(alphabet)])
	}
	return string(out), nil
}

func clip(s string, n int) string {
	s = strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// VerifyOutcome is what confirming a contact did.
type VerifyOutcome string

const (
	VerifyDone      VerifyOutcome = "verified"    // pending_verification -> active
	VerifyNeedsSMS  VerifyOutcome = "needs_phone" // email confirmed; the phone on file still needs its code
	VerifyNeedsMail VerifyOutcome = "needs_email" // phone confirmed; the email address still needs its code
	VerifyNotNeeded VerifyOutcome = "not_needed"  // the account was not waiting for it
)

// VerifyContact confirms a new account's contacts with codes (purpose verify): the email address,
// and the phone number when one is on file. Once both are confirmed the account becomes active. A
// code went to the contact on file, so entering it proves the contact works.
func (s *SelfService) VerifyContact(ctx context.Context, p Proof) (VerifyOutcome, error) {
	a, err := s.proofAccount(ctx, p, PurposeVerify)
	if err != nil {
		return "", err
	}
	client := p.Client
	channel, err := s.book.proveWithCode(ctx, a, PurposeVerify, p)
	if err != nil {
		return "", err
	}
	ctx = context.WithoutCancel(ctx) // the code is used up: carry out what it proves
	s.guard.learnLanguage(ctx, a, p.Lang)
	if a.State == StatePendingVerification {
		verified, err := s.codes.VerifiedChannels(ctx, a.ID)
		if err != nil {
			return "", err
		}
		if !slices.Contains(verified, ChannelEmail) {
			return VerifyNeedsMail, nil
		}
		if a.Phone != "" && s.opts.SMS && !slices.Contains(verified, ChannelSMS) {
			return VerifyNeedsSMS, nil
		}
	}
	_, err = s.states.Transition(ctx, Transition{AccountID: a.ID, From: []State{StatePendingVerification}, To: StateActive,
		Reason: "contact verified", Action: audit.AccountVerified, Method: channel, Actor: "user:" + a.Username,
		Client: client, Now: s.now()})
	if ErrorCode(err) == EINVALID {
		return VerifyNotNeeded, nil
	} else if err != nil {
		return "", err
	}
	return VerifyDone, nil
}

// MinPasswordLength is password.min_length, or 8 once the account has a second factor
// (SECURITY.md 16).
func (s *guard) minPasswordLength(ctx context.Context, accountID int64) (int, error) {
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return 0, err
	}
	second, err := s.HasSecondFactor(ctx, accountID)
	if err != nil {
		return 0, err
	}
	if second {
		return min(policy.PasswordMinLength, 8), nil
	}
	return policy.PasswordMinLength, nil
}

// MinPasswordLength is the shortest new password the account may choose.
func (s *SelfService) MinPasswordLength(ctx context.Context, accountID int64) (int, error) {
	return s.guard.minPasswordLength(ctx, accountID)
}

// CheckNewPassword applies the rules for a password a person chooses (see checkNewPassword).
func (s *SelfService) CheckNewPassword(a *Account, password, confirm string, minLen int) error {
	return s.checkNewPassword(a, password, confirm, minLen)
}
