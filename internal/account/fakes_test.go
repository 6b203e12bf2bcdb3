package account_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/account/accounttest"
	"github.com/unlockd/unlockd/internal/audit"
	"github.com/unlockd/unlockd/internal/lockout"
)

// The fakes below keep in memory what the stores keep in PostgreSQL, just far enough for the use
// cases to be tested on their own. Each embeds its interface: a method a fake does not write
// panics when called, so a test notices a use case reaching for a store it should not touch.

// t0 is when every test starts.
var t0 = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

var ctx = context.Background()

// world is a service over a full set of fakes that share one account table and one outbox.
type world struct {
	t           *testing.T
	clock       *accounttest.Clock
	outbox      *outbox
	accounts    *fakeAccounts
	work        *fakeWork
	lockout     *fakeLockout
	codes       *fakeCodes
	ledger      *fakeLedger
	hasher      *fakeHasher
	selfService *fakeSelfService
	factors     *fakeFactors
	states      *fakeStates
	admin       *fakeAdmin
	alerts      *fakeAlerts
	tokens      *fakeTokens
	page        *fakeAccountPage
	contact     *fakeContact
	maintenance *fakeMaintenance
	api         *fakeAPI
	svc         *account.Services
}

// newWorld builds the services over fresh fakes; edit changes the dependencies before they are
// wired (a policy, SMS, a factor primitive).
func newWorld(t *testing.T, edit ...func(*account.Deps)) *world {
	t.Helper()
	w := &world{t: t, clock: accounttest.NewClock(t0), outbox: &outbox{}}
	w.accounts = &fakeAccounts{byID: map[int64]*account.Account{}, clock: w.clock, outbox: w.outbox}
	w.work = &fakeWork{}
	policy := account.DefaultPolicy()
	w.lockout = &fakeLockout{policy: policy, accounts: w.accounts, outbox: w.outbox, failures: map[int64]int{},
		clientKeys: map[string]map[string]bool{}, devices: map[string][2]int64{}}
	w.codes = &fakeCodes{outbox: w.outbox}
	w.ledger = &fakeLedger{counts: map[string]int{}}
	w.hasher = &fakeHasher{}
	w.selfService = &fakeSelfService{codes: w.codes, accounts: w.accounts, outbox: w.outbox, resets: map[string]*resetRow{}}
	w.factors = &fakeFactors{outbox: w.outbox, totp: map[int64]*totpRow{}, recovery: map[int64][][]byte{}}
	w.states = &fakeStates{accounts: w.accounts, outbox: w.outbox}
	w.admin = &fakeAdmin{outbox: w.outbox, requests: map[int64]*account.Request{}}
	w.alerts = &fakeAlerts{}
	w.tokens = &fakeTokens{}
	w.page = &fakeAccountPage{accounts: w.accounts, outbox: w.outbox}
	w.contact = &fakeContact{accounts: w.accounts, outbox: w.outbox}
	w.maintenance = &fakeMaintenance{}
	w.api = &fakeAPI{}

	d := accounttest.Deps(testKey)
	d.Accounts, d.UnitOfWork, d.Lockout, d.Codes, d.Ledger = w.accounts, w.work, w.lockout, w.codes, w.ledger
	d.Hasher, d.SelfService, d.SecondFactors, d.States, d.Admin = w.hasher, w.selfService, w.factors, w.states, w.admin
	d.Alerts, d.Tokens, d.AccountPage, d.Contact, d.Maintenance, d.API = w.alerts, w.tokens, w.page, w.contact, w.maintenance, w.api
	d.Clock = w.clock.Now
	// A fixed strength check keeps the tests fast and independent of the word lists; the real one
	// is tested in password_test.go.
	d.Options.Strength = func(pw string, _ []string) (int, string) {
		if strings.Contains(pw, "password") {
			return 0, "common_password"
		}
		return 4, ""
	}
	for _, e := range edit {
		e(&d)
	}
	w.svc = account.New(d)
	return w
}

// add puts an account in the table: active, a user, with the password "right password".
func (w *world) add(username string, edit ...func(*account.Account)) *account.Account {
	a := &account.Account{Username: username, Email: username + "@example.com", Role: account.RoleUser,
		State: account.StateActive, PasswordHash: "hash:right password"}
	for _, e := range edit {
		e(a)
	}
	w.accounts.put(a)
	return a
}

// setPolicy changes the policy the lockout store answers.
func (w *world) setPolicy(edit func(*account.Policy)) { edit(&w.lockout.policy) }

// wantCode fails the test unless err is an *account.Error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := account.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// wantErr fails the test unless err is target.
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// outbox records the messages the stores were given to queue.
type outbox struct{ msgs []account.Message }

func (o *outbox) queue(msgs ...account.Message) { o.msgs = append(o.msgs, msgs...) }

// to lists the messages of a template to a recipient.
func (o *outbox) to(recipient, template string) []account.Message {
	var out []account.Message
	for _, m := range o.msgs {
		if m.To == recipient && m.Template == template {
			out = append(out, m)
		}
	}
	return out
}

// lastCode is the code in the newest "code" message to recipient; "" when none went there.
func (o *outbox) lastCode(recipient string) string {
	msgs := o.to(recipient, "code")
	if len(msgs) == 0 {
		return ""
	}
	return msgs[len(msgs)-1].Data["Code"]
}

// fakeAccounts is the account table.
type fakeAccounts struct {
	account.AccountStore
	byID    map[int64]*account.Account
	nextID  int64
	clock   *accounttest.Clock
	created []account.Actor
	imports [][]account.ImportRow
	lookups int // calls of AccountByLogin
	outbox  *outbox
}

func (f *fakeAccounts) put(a *account.Account) {
	if a.ID == 0 {
		f.nextID++
		a.ID = f.nextID
	}
	f.byID[a.ID] = a
}

func (f *fakeAccounts) AccountByLogin(_ context.Context, login string) (*account.Account, error) {
	f.lookups++
	for _, a := range f.byID {
		if strings.EqualFold(a.Username, login) || strings.EqualFold(a.Email, login) || (a.Phone != "" && a.Phone == login) {
			c := *a
			return &c, nil
		}
	}
	return nil, account.Errorf(account.ENOTFOUND, "no account %q", login)
}

func (f *fakeAccounts) AccountByID(_ context.Context, id int64) (*account.Account, error) {
	a, ok := f.byID[id]
	if !ok {
		return nil, account.Errorf(account.ENOTFOUND, "no account %d", id)
	}
	c := *a
	return &c, nil
}

func (f *fakeAccounts) CreateAccount(_ context.Context, a *account.Account, actor account.Actor) error {
	for _, b := range f.byID {
		if strings.EqualFold(a.Username, b.Username) || strings.EqualFold(a.Email, b.Email) {
			return account.Errorf(account.ECONFLICT, "taken")
		}
	}
	c := *a
	c.CreatedAt, c.UpdatedAt = f.clock.Now(), f.clock.Now()
	f.put(&c)
	a.ID, a.CreatedAt, a.UpdatedAt = c.ID, c.CreatedAt, c.UpdatedAt
	f.created = append(f.created, actor)
	return nil
}

func (f *fakeAccounts) ImportAccounts(_ context.Context, rows []account.ImportRow, _ string, _ account.Actor, notice account.PasswordNotice) (int, int, error) {
	f.imports = append(f.imports, rows)
	created, updated := 0, 0
	for _, r := range rows {
		if found, err := f.AccountByLogin(ctx, r.Account.Username); err == nil {
			have := f.byID[found.ID]
			have.Email, have.Phone, have.DisplayName = r.Account.Email, r.Account.Phone, r.Account.DisplayName
			if r.PasswordHash != "" && r.PasswordHash != found.PasswordHash {
				// A new password: every session ends, and the owner is told as the account stood.
				have.PasswordHash = r.PasswordHash
				have.SessionEpoch++
				if notice != nil {
					f.outbox.queue(notice(found, f.clock.Now())...)
				}
			}
			updated++
			continue
		}
		c := *r.Account
		if c.Role == "" {
			c.Role = account.RoleUser
		}
		f.put(&c)
		created++
	}
	return created, updated, nil
}

func (f *fakeAccounts) ListAccounts(_ context.Context, state account.State, limit int) ([]*account.Account, error) {
	var out []*account.Account
	for _, a := range f.byID {
		if state == "" || a.State == state {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *account.Account) int { return strings.Compare(a.Username, b.Username) })
	return out[:min(len(out), limit)], nil
}

func (f *fakeAccounts) SetPasswordHash(_ context.Context, id int64, oldHash, newHash string) (bool, error) {
	a := f.byID[id]
	if a == nil || a.PasswordHash != oldHash {
		return false, nil
	}
	a.PasswordHash = newHash
	return true, nil
}

func (f *fakeAccounts) SetTimeZone(_ context.Context, id int64, zone string) error {
	f.byID[id].TimeZone = zone
	return nil
}

// fakeWork runs a unit of work as it comes.
type fakeWork struct{ units int }

func (f *fakeWork) Atomic(ctx context.Context, fn func(ctx context.Context) error) error {
	f.units++
	return fn(ctx)
}

// fakeHasher is a fast hasher: the hash of p is "hash:"+p; "old:"+p is a hash of p with outdated
// parameters, which Verify accepts and asks to be replaced.
type fakeHasher struct {
	verified []string // the hashes Verify checked
	priority []bool   // whether each Verify went in the priority lane
	dummies  int
	hashed   int
	err      error  // every call fails with it when set
	onVerify func() // runs inside Verify, as a client hanging up meanwhile
	turns    int
	turnWait time.Duration // how long each Turn waits for a worker
	busy     bool          // every worker is taken, or was a moment ago: not idle
}

func (f *fakeHasher) Hash(_ context.Context, password string) (string, error) {
	f.hashed++
	if f.err != nil {
		return "", f.err
	}
	return "hash:" + password, nil
}

func (f *fakeHasher) Verify(ctx context.Context, password, encoded string) (bool, bool, error) {
	f.noticeStages(ctx)
	f.verified = append(f.verified, encoded)
	f.priority = append(f.priority, ctx.Value(priorityKey{}) != nil)
	if f.onVerify != nil {
		f.onVerify()
	}
	if f.err != nil {
		return false, false, f.err
	}
	if encoded == "old:"+password {
		return true, true, nil
	}
	return encoded == "hash:"+password, false, nil
}

func (f *fakeHasher) VerifyDummy(ctx context.Context, _ string) error {
	f.noticeStages(ctx)
	f.dummies++
	return f.err
}

func (f *fakeHasher) Turn(context.Context) error {
	f.turns++
	time.Sleep(f.turnWait)
	return f.err
}

func (f *fakeHasher) IdleFor() time.Duration {
	if f.busy {
		return 0
	}
	return time.Hour
}

type stageNoticesKey struct{}

// noticeStages tells ctx's stage notices that a check asked for a worker and began its hash.
func (f *fakeHasher) noticeStages(ctx context.Context) {
	if notices, ok := ctx.Value(stageNoticesKey{}).([2]func()); ok {
		notices[0]()
		notices[1]()
	}
}

func (f *fakeHasher) WithStageNotices(ctx context.Context, asked, began func()) context.Context {
	return context.WithValue(ctx, stageNoticesKey{}, [2]func(){asked, began})
}

type priorityKey struct{}

func (f *fakeHasher) WithPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

// fakeLockout counts attempts per account and locks at the policy's threshold, as the SQL does:
// a reservation is allowed only where MaySignIn allows and below the threshold.
type fakeLockout struct {
	account.LockoutStore
	policy     account.Policy
	accounts   *fakeAccounts
	outbox     *outbox
	failures   map[int64]int
	clientKeys map[string]map[string]bool // client -> the keys it failed on
	devices    map[string][2]int64        // nonce hash -> device id, account id
	nextDevice int64

	reservations []account.Attempt
	// sprayedMeanwhile is how many other accounts the client fails on between the throttle's first
	// look and the reservation: a burst's other requests.
	sprayedMeanwhile int
	refunds          int
	failed           []account.Failure
	successes        []account.Success
	rejections       []account.Rejection
	setPolicy        map[string]string
}

func (f *fakeLockout) Policy(context.Context) (account.Policy, error) { return f.policy, nil }

func (f *fakeLockout) SetPolicy(_ context.Context, changes map[string]string, _ string, _ time.Time) error {
	f.setPolicy = changes
	return nil
}

func (f *fakeLockout) ClientFailureCount(_ context.Context, client string, _ time.Time) (int, error) {
	return len(f.clientKeys[client]), nil
}

func (f *fakeLockout) IsRepeatedPassword(_ context.Context, id int64, mac []byte, _ time.Time) (bool, error) {
	for _, x := range f.failed {
		if x.AccountID == id && x.PasswordMAC != nil && bytes.Equal(x.PasswordMAC, mac) {
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeLockout) DeviceAccount(_ context.Context, hash []byte) (int64, int64, error) {
	d, ok := f.devices[string(hash)]
	if !ok {
		return 0, 0, account.Errorf(account.ENOTFOUND, "no device")
	}
	return d[0], d[1], nil
}

func (f *fakeLockout) ReserveAttempt(_ context.Context, at account.Attempt) (account.Reservation, error) {
	f.reservations = append(f.reservations, at)
	var spray account.SprayPair
	if at.Spray.Key != "" && at.DeviceID == 0 {
		for i := range f.sprayedMeanwhile {
			f.fail(at.Spray.Client, "meanwhile:"+strconv.Itoa(i))
		}
		f.sprayedMeanwhile = 0
		others := len(f.clientKeys[at.Spray.Client])
		if f.clientKeys[at.Spray.Client][at.Spray.Key] {
			others--
		}
		if account.SprayThrottled(others) {
			return account.Reservation{Throttled: true}, nil
		}
		f.fail(at.Spray.Client, at.Spray.Key)
		spray = at.Spray
	}
	a := f.accounts.byID[at.AccountID]
	if a.State == account.StateLockedTemporarily && a.EffectiveState(at.Now) == account.StateActive {
		a.State, a.LockedUntil, f.failures[a.ID] = account.StateActive, nil, 0 // the lock lapsed
	}
	if !account.MaySignIn(a.EffectiveState(at.Now), at.DeviceID != 0) {
		return account.Reservation{}, nil
	}
	if lockout.LockedByRule(f.failures[a.ID], at.Policy.Threshold) {
		d := lockout.AfterFailure(at.Policy, f.failures[a.ID], 0, at.Now)
		f.lock(a, d)
		f.outbox.queue(at.Notice(d)...)
		return account.Reservation{Locked: d.Outcome}, nil
	}
	f.failures[a.ID]++
	return account.Reservation{Allowed: true, Failures: f.failures[a.ID], Trusted: at.DeviceID != 0, Spray: spray}, nil
}

func (f *fakeLockout) lock(a *account.Account, d lockout.Decision) {
	switch d.Outcome {
	case lockout.LockTemporarily:
		until := d.Until
		a.State, a.LockedUntil = account.StateLockedTemporarily, &until
	case lockout.LockHard:
		a.State = account.StateLocked
	}
}

func (f *fakeLockout) RefundAttempt(_ context.Context, id int64, r account.Reservation, _ int64) error {
	f.refunds++
	f.failures[id]--
	delete(f.clientKeys[r.Spray.Client], r.Spray.Key)
	return nil
}

func (f *fakeLockout) RecordFailure(ctx context.Context, x account.Failure) (lockout.Outcome, error) {
	if ctx.Err() != nil {
		return lockout.NoLock, ctx.Err() // a cancelled transaction writes nothing
	}
	f.failed = append(f.failed, x)
	f.fail(x.Client, accountKeyOf(x.AccountID))
	d := lockout.AfterFailure(x.Policy, x.Failures, 0, x.Now)
	if d.Outcome != lockout.NoLock {
		f.lock(f.accounts.byID[x.AccountID], d)
		f.outbox.queue(x.Notice(d)...)
	}
	return d.Outcome, nil
}

func (f *fakeLockout) RecordSuccess(_ context.Context, s account.Success) (bool, error) {
	a := f.accounts.byID[s.AccountID]
	if !account.MaySignIn(a.EffectiveState(s.Now), s.DeviceID != 0) {
		return false, nil
	}
	f.successes = append(f.successes, s)
	f.failures[s.AccountID] = 0
	delete(f.clientKeys[s.Spray.Client], s.Spray.Key)
	now := s.Now
	a.LastSignInAt = &now
	if s.NewDeviceHash != nil {
		f.nextDevice++
		f.devices[string(s.NewDeviceHash)] = [2]int64{f.nextDevice, s.AccountID}
	}
	return true, nil
}

func (f *fakeLockout) RecordRejection(_ context.Context, r account.Rejection) error {
	f.rejections = append(f.rejections, r)
	if r.Spray.Key != "" {
		f.fail(r.Spray.Client, r.Spray.Key)
	}
	return nil
}

func (f *fakeLockout) fail(client, key string) {
	if f.clientKeys[client] == nil {
		f.clientKeys[client] = map[string]bool{}
	}
	f.clientKeys[client][key] = true
}

func accountKeyOf(id int64) string { return "account:" + strconv.FormatInt(id, 10) }

// fakeCodes keeps codes and the requests that sent nothing.
type fakeCodes struct {
	account.CodeStore
	outbox  *outbox
	codes   []*codeRow
	notSent []account.NotSent
	locks   []string  // the send locks taken, as "key|destination"
	sends   []sendRow // codes and mailed reset links, for the send limits
}

type sendRow struct {
	accountID   int64
	destination string
	at          time.Time
}

// sent notes a code or reset link to an account's destination.
func (f *fakeCodes) sent(id int64, destination string, at time.Time) {
	f.sends = append(f.sends, sendRow{id, destination, at})
}

type codeRow struct {
	account.Code
	attempts   int
	used       bool
	superseded bool
}

func (f *fakeCodes) LockSends(_ context.Context, key, destination string) error {
	f.locks = append(f.locks, key+"|"+destination)
	return nil
}

// SendCounts counts the codes and reset links sent to the account since then.
func (f *fakeCodes) SendCounts(_ context.Context, id, _ int64, destination string, since time.Time) (account.SendCounts, error) {
	var c account.SendCounts
	for _, r := range f.sends {
		if r.accountID != id || r.at.Before(since) {
			continue
		}
		c.ToAccount++
		c.LastToAccount = later(c.LastToAccount, r.at)
		if r.destination == destination {
			c.ToDestination++
			c.LastToDestination = later(c.LastToDestination, r.at)
		}
	}
	return c, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func (f *fakeCodes) CreateCode(_ context.Context, c account.Code, msg account.Message, _ string) error {
	for _, r := range f.codes {
		if r.AccountID == c.AccountID && r.Purpose == c.Purpose && bytes.Equal(r.FlowHash, c.FlowHash) {
			r.superseded = true
		}
	}
	f.codes = append(f.codes, &codeRow{Code: c})
	f.sent(c.AccountID, c.Destination, c.CreatedAt)
	f.outbox.queue(msg)
	return nil
}

func (f *fakeCodes) AttemptCode(_ context.Context, id int64, purpose account.Purpose, flowHash []byte, now time.Time) (int64, []byte, string, bool, error) {
	for i := len(f.codes) - 1; i >= 0; i-- {
		r := f.codes[i]
		if r.AccountID != id || r.Purpose != purpose || (r.FlowHash != nil && !bytes.Equal(r.FlowHash, flowHash)) {
			continue
		}
		if r.used || r.superseded || !now.Before(r.ExpiresAt) || r.attempts >= r.MaxAttempts {
			return 0, nil, "", false, nil
		}
		r.attempts++
		return int64(i), r.Hash, r.Channel, true, nil
	}
	return 0, nil, "", false, nil
}

func (f *fakeCodes) ConsumeCode(_ context.Context, id int64, _ time.Time, _, _ string) (bool, error) {
	r := f.codes[id]
	if r.used {
		return false, nil
	}
	r.used = true
	return true, nil
}

func (f *fakeCodes) VerifiedChannels(_ context.Context, id int64) ([]string, error) {
	var out []string
	for _, r := range f.codes {
		if r.AccountID == id && r.Purpose == account.PurposeVerify && r.used && !slices.Contains(out, r.Channel) {
			out = append(out, r.Channel)
		}
	}
	return out, nil
}

func (f *fakeCodes) RecordNotSent(_ context.Context, n account.NotSent) error {
	f.notSent = append(f.notSent, n)
	return nil
}

// fakeLedger is the guess ledger's counters, without windows.
type fakeLedger struct{ counts map[string]int }

func (f *fakeLedger) Reserve(_ context.Context, scope, subject string, _ time.Duration, _ time.Time) (int, error) {
	f.counts[scope+"|"+subject]++
	return f.counts[scope+"|"+subject], nil
}

func (f *fakeLedger) Release(_ context.Context, scope, subject string) error {
	f.counts[scope+"|"+subject]--
	return nil
}

// fakeSelfService keeps reset links, requests and the self-service unlocks.
type fakeSelfService struct {
	account.SelfServiceStore
	codes     *fakeCodes
	accounts  *fakeAccounts
	outbox    *outbox
	resets    map[string]*resetRow // by token hash
	links     []account.ResetLink
	requests  []account.UnlockRequest
	unlocks   []string // the methods of each self-service unlock
	lock      *account.LockInfo
	events    []account.SignInEvent
	completed []account.ResetCompletion
	lookups   int                             // calls of ResetTokenAccount
	decisions map[string]account.RequestState // by reference: how staff decided it
	reads     int                             // calls of RequestStatus
}

type resetRow struct {
	account.ResetLink
	used bool
}

func (f *fakeSelfService) SelfUnlock(_ context.Context, id int64, method, _ string, now time.Time, msgs []account.Message) (bool, error) {
	a := f.accounts.byID[id]
	if s := a.EffectiveState(now); s != account.StateLocked && s != account.StateLockedTemporarily {
		return false, nil
	}
	a.State, a.LockedUntil = account.StateActive, nil
	f.unlocks = append(f.unlocks, method)
	f.outbox.queue(msgs...)
	return true, nil
}

func (f *fakeSelfService) RecentSignIns(context.Context, int64, int) ([]account.SignInEvent, error) {
	return f.events, nil
}

func (f *fakeSelfService) CurrentLock(context.Context, int64) (*account.LockInfo, error) {
	return f.lock, nil
}

func (f *fakeSelfService) CreateResetToken(_ context.Context, l account.ResetLink) error {
	for _, r := range f.resets {
		if r.AccountID == l.AccountID {
			r.used = true // superseded
		}
	}
	f.resets[string(l.Hash)] = &resetRow{ResetLink: l}
	f.links = append(f.links, l)
	if l.Message != nil {
		f.outbox.queue(*l.Message)
		f.codes.sent(l.AccountID, l.Message.To, l.Now)
	}
	return nil
}

func (f *fakeSelfService) ResetTokenAccount(_ context.Context, hash []byte, now time.Time) (int64, error) {
	f.lookups++
	r, ok := f.resets[string(hash)]
	if !ok || r.used || !now.Before(r.Expires) {
		return 0, account.Errorf(account.ENOTFOUND, "no such link")
	}
	return r.AccountID, nil
}

func (f *fakeSelfService) CompleteReset(_ context.Context, c account.ResetCompletion) (bool, error) {
	r, ok := f.resets[string(c.TokenHash)]
	if !ok || r.used {
		return false, nil
	}
	r.used = true
	a := f.accounts.byID[c.AccountID]
	a.PasswordHash = c.PasswordHash
	f.outbox.queue(c.Notify...)
	if c.Unlock && (a.State == account.StateLocked || a.State == account.StateLockedTemporarily) {
		a.State = account.StateActive
		f.outbox.queue(c.NotifyUnlocked...)
	}
	f.completed = append(f.completed, c)
	return true, nil
}

func (f *fakeSelfService) RequestStatus(_ context.Context, reference, login string) (*account.RequestState, error) {
	f.reads++
	for _, r := range f.requests {
		if r.Reference == reference && strings.EqualFold(r.Login, login) {
			st := account.RequestState{Reference: r.Reference, Status: "open", FiledAt: r.CreatedAt}
			if d, ok := f.decisions[reference]; ok {
				st.Status, st.HandledAt, st.Response = d.Status, d.HandledAt, d.Response
			}
			return &st, nil
		}
	}
	return nil, account.Errorf(account.ENOTFOUND, "no request %s", reference)
}

func (f *fakeSelfService) CreateRequest(_ context.Context, r account.UnlockRequest, msgs []account.Message) error {
	f.requests = append(f.requests, r)
	f.outbox.queue(msgs...)
	return nil
}

// fakeFactors keeps authenticator secrets and recovery codes.
type fakeFactors struct {
	account.FactorStore
	outbox   *outbox
	totp     map[int64]*totpRow
	recovery map[int64][][]byte
	failures []string              // the methods of the wrong entries recorded
	kept     []account.KeptSession // the session each enrollment and new set of codes was asked from
}

type totpRow struct {
	sealed   []byte
	lastStep int64
}

func (f *fakeFactors) TOTPSecret(_ context.Context, id int64) ([]byte, int64, error) {
	r, ok := f.totp[id]
	if !ok {
		return nil, 0, account.Errorf(account.ENOTFOUND, "no authenticator")
	}
	return r.sealed, r.lastStep, nil
}

func (f *fakeFactors) EnrollTOTP(_ context.Context, id int64, _ string, sealed []byte, step int64, keep account.KeptSession, _ string, _ time.Time, msg account.Message) error {
	f.kept = append(f.kept, keep)
	f.totp[id] = &totpRow{sealed: sealed, lastStep: step}
	f.outbox.queue(msg)
	return nil
}

func (f *fakeFactors) UseTOTPStep(_ context.Context, id, step int64) (bool, error) {
	r := f.totp[id]
	if step <= r.lastStep {
		return false, nil
	}
	r.lastStep = step
	return true, nil
}

func (f *fakeFactors) ReplaceRecoveryCodes(_ context.Context, id int64, _ string, hashes [][]byte, keep account.KeptSession, _ string, _ time.Time, msg account.Message) error {
	f.kept = append(f.kept, keep)
	f.recovery[id] = hashes
	f.outbox.queue(msg)
	return nil
}

func (f *fakeFactors) UseRecoveryCode(_ context.Context, id int64, hash []byte, _ time.Time, notice account.Message) (int, bool, error) {
	codes := f.recovery[id]
	for i, h := range codes {
		if bytes.Equal(h, hash) {
			f.recovery[id] = slices.Delete(slices.Clone(codes), i, i+1)
			notice.Data["Remaining"] = strconv.Itoa(len(f.recovery[id]))
			f.outbox.queue(notice)
			return len(f.recovery[id]), true, nil
		}
	}
	return len(codes), false, nil
}

func (f *fakeFactors) SecondFactors(_ context.Context, id int64) (bool, int, error) {
	return f.totp[id] != nil, len(f.recovery[id]), nil
}

func (f *fakeFactors) RecordFactorFailure(_ context.Context, _ int64, _, method, _ string, _ time.Time) error {
	f.failures = append(f.failures, method)
	return nil
}

// fakeStates applies state transitions to the account table as the SQL does: only from t.From.
type fakeStates struct {
	account.StateStore
	accounts    *fakeAccounts
	outbox      *outbox
	transitions []account.Transition
	lockedSince []int64
	roles       []account.Role
	expiries    []*time.Time
}

func (f *fakeStates) Transition(_ context.Context, t account.Transition) (*account.Account, error) {
	a, ok := f.accounts.byID[t.AccountID]
	if !ok {
		return nil, account.Errorf(account.ENOTFOUND, "no account")
	}
	if s := a.EffectiveState(t.Now); !slices.Contains(t.From, s) {
		return nil, account.Errorf(account.EINVALID, "the account is %s", s)
	}
	a.State, a.LockedUntil, a.Reason = t.To, t.Until, t.Reason
	f.transitions = append(f.transitions, t)
	f.outbox.queue(t.Notify...)
	c := *a
	return &c, nil
}

func (f *fakeStates) LockedSince(context.Context, time.Time) ([]int64, error) {
	return f.lockedSince, nil
}

func (f *fakeStates) SetRole(_ context.Context, id int64, role account.Role, _ string, _ account.Actor, _ time.Time) (*account.Account, error) {
	a := f.accounts.byID[id]
	a.Role = role
	f.roles = append(f.roles, role)
	c := *a
	return &c, nil
}

func (f *fakeStates) SetExpiry(_ context.Context, id int64, at *time.Time, _ string, _ account.Actor, _ time.Time) (*account.Account, error) {
	a := f.accounts.byID[id]
	a.ExpiresAt = at
	f.expiries = append(f.expiries, at)
	c := *a
	return &c, nil
}

func (f *fakeStates) AccountsWithRole(_ context.Context, role account.Role) ([]*account.Account, error) {
	var out []*account.Account
	for _, a := range f.accounts.byID {
		if a.Role == role {
			out = append(out, a)
		}
	}
	return out, nil
}

// fakeAdmin backs the dashboard: requests, and a record of what was asked.
type fakeAdmin struct {
	account.AdminStore
	outbox      *outbox
	requests    map[int64]*account.Request
	searches    []account.AccountSearch
	factorReset []int64
	endSessions []int64
	refused     []string
	overviewAt  time.Time
	historyOf   int64
}

func (f *fakeAdmin) Overview(_ context.Context, now time.Time) (*account.Overview, error) {
	f.overviewAt = now
	return &account.Overview{LockedNow: 3}, nil
}

func (f *fakeAdmin) SearchAccounts(_ context.Context, q account.AccountSearch) (account.SearchPage, error) {
	f.searches = append(f.searches, q)
	return account.SearchPage{}, nil
}

func (f *fakeAdmin) Requests(_ context.Context, status string, _ int) ([]account.Request, error) {
	var out []account.Request
	for _, r := range f.requests {
		if status == "" || r.Status == status {
			out = append(out, *r)
		}
	}
	return out, nil
}

func (f *fakeAdmin) Request(_ context.Context, id int64) (*account.Request, error) {
	r, ok := f.requests[id]
	if !ok {
		return nil, account.Errorf(account.ENOTFOUND, "no request %d", id)
	}
	c := *r
	return &c, nil
}

func (f *fakeAdmin) CloseRequest(_ context.Context, id int64, status, response string, actor account.Actor, _ time.Time, msgs []account.Message) (bool, error) {
	r := f.requests[id]
	if r.Status != "open" {
		return false, nil
	}
	r.Status, r.Response, r.HandledBy = status, response, actor.Name
	f.outbox.queue(msgs...)
	return true, nil
}

func (f *fakeAdmin) ResetSecondFactors(_ context.Context, id int64, _ string, _ account.Actor, _ string, _ time.Time, msgs []account.Message) error {
	f.factorReset = append(f.factorReset, id)
	f.outbox.queue(msgs...)
	return nil
}

func (f *fakeAdmin) EndAllSessions(_ context.Context, id int64, _ string, _ account.Actor, _ string, _ time.Time) (int, error) {
	f.endSessions = append(f.endSessions, id)
	return 2, nil
}

func (f *fakeAdmin) LockHistory(_ context.Context, id int64, _ int) ([]account.LockRecord, error) {
	f.historyOf = id
	return []account.LockRecord{{Kind: "temporary"}}, nil
}

func (f *fakeAdmin) RecordRefused(_ context.Context, actor account.Actor, action, target string, _ time.Time) error {
	f.refused = append(f.refused, actor.Name+" "+action+" "+target)
	return nil
}

// fakeAlerts answers how many automatic locks there were and records the alerts raised.
type fakeAlerts struct {
	locks  int
	since  time.Time
	raised [][]account.Message
}

func (f *fakeAlerts) AutomaticLocksSince(_ context.Context, since time.Time) (int, error) {
	f.since = since
	return f.locks, nil
}

func (f *fakeAlerts) RaiseAlert(_ context.Context, _ string, _ int, _ time.Time, _ time.Duration, msgs []account.Message) (bool, error) {
	f.raised = append(f.raised, msgs)
	return true, nil
}

// fakeTokens keeps API tokens by hash.
type fakeTokens struct {
	account.TokenStore
	byHash  map[string]*account.APIToken
	lookups int
	revoked []string
}

func (f *fakeTokens) CreateToken(_ context.Context, name string, role account.Role, hash []byte, _ account.Actor, now time.Time) (*account.APIToken, error) {
	if f.byHash == nil {
		f.byHash = map[string]*account.APIToken{}
	}
	t := &account.APIToken{ID: int64(len(f.byHash) + 1), Name: name, Role: role, CreatedAt: now}
	f.byHash[string(hash)] = t
	return t, nil
}

func (f *fakeTokens) Tokens(context.Context) ([]account.APIToken, error) {
	var out []account.APIToken
	for _, t := range f.byHash {
		out = append(out, *t)
	}
	return out, nil
}

func (f *fakeTokens) RevokeToken(_ context.Context, name string, _ account.Actor, now time.Time) error {
	for _, t := range f.byHash {
		if t.Name == name {
			t.RevokedAt = &now
			f.revoked = append(f.revoked, name)
			return nil
		}
	}
	return account.Errorf(account.ENOTFOUND, "no token %q", name)
}

func (f *fakeTokens) TokenByHash(_ context.Context, hash []byte, _ time.Time) (*account.APIToken, error) {
	f.lookups++
	t, ok := f.byHash[string(hash)]
	if !ok || t.RevokedAt != nil {
		return nil, account.Errorf(account.ENOTFOUND, "unknown token")
	}
	return t, nil
}

// fakeAccountPage keeps devices and sessions of the account page.
type fakeAccountPage struct {
	account.AccountPageStore
	accounts *fakeAccounts
	outbox   *outbox
	devices  []account.Device
	sessions []account.Session
	lock     *account.LockInfo
	asked    []account.OverviewQuery
	changed  []string // new password hashes
	kept     string
}

// Overview answers from the devices and sessions kept, as many as asked, and the lock kept when
// asked; it records what was asked.
func (f *fakeAccountPage) Overview(_ context.Context, _ int64, q account.OverviewQuery) (*account.AccountOverview, error) {
	f.asked = append(f.asked, q)
	o := &account.AccountOverview{Devices: f.devices[:min(q.Listed, len(f.devices))], DeviceCount: len(f.devices),
		Sessions: f.sessions[:min(q.Listed, len(f.sessions))], SessionCount: len(f.sessions)}
	if q.WithLock {
		o.Lock = f.lock
	}
	return o, nil
}

func (f *fakeAccountPage) ForgetDevice(_ context.Context, _, id int64, _ string, _ time.Time) (bool, error) {
	for i, d := range f.devices {
		if d.ID == id {
			f.devices = slices.Delete(f.devices, i, i+1)
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeAccountPage) EndSession(_ context.Context, _ int64, id, _ string, _ time.Time) (bool, error) {
	for i, s := range f.sessions {
		if s.ID == id {
			f.sessions = slices.Delete(f.sessions, i, i+1)
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeAccountPage) EndOtherSessions(_ context.Context, id int64, _ string, keep account.KeptSession, _ string, _ time.Time) (int, int64, error) {
	if !f.live(id, keep) {
		return 0, 0, account.ErrSessionEnded
	}
	ended := 0
	f.sessions = slices.DeleteFunc(f.sessions, func(x account.Session) bool {
		if x.ID != keep.Handle {
			ended++
			return true
		}
		return false
	})
	a := f.accounts.byID[id]
	a.SessionEpoch++
	return ended, a.SessionEpoch, nil
}

// live says whether keep is among the sessions and carries the account's epoch.
func (f *fakeAccountPage) live(id int64, keep account.KeptSession) bool {
	return slices.ContainsFunc(f.sessions, func(x account.Session) bool { return x.ID == keep.Handle }) &&
		account.SessionCurrent(f.accounts.byID[id].SessionEpoch, keep.Epoch)
}

func (f *fakeAccountPage) ChangePassword(_ context.Context, id int64, _, hash string, keep account.KeptSession, _ string, _ time.Time, notify []account.Message) (int64, error) {
	if keep.Handle != "" && !f.live(id, keep) {
		return 0, account.ErrSessionEnded
	}
	a := f.accounts.byID[id]
	a.PasswordHash = hash
	a.SessionEpoch++
	f.changed = append(f.changed, hash)
	f.kept = keep.Handle
	f.outbox.queue(notify...)
	return a.SessionEpoch, nil
}

// fakeContact changes contacts in the account table.
type fakeContact struct {
	account.ContactStore
	accounts *fakeAccounts
	outbox   *outbox
	kept     []account.KeptSession // the session each change was asked from
}

func (f *fakeContact) UpdateContact(_ context.Context, id int64, _, channel, value string, keep account.KeptSession, _ string, _ time.Time, notify []account.Message) error {
	f.kept = append(f.kept, keep)
	a := f.accounts.byID[id]
	if channel == account.ChannelSMS {
		a.Phone = value
	} else {
		a.Email = value
	}
	f.outbox.queue(notify...)
	return nil
}

// fakeMaintenance keeps maintenance windows.
type fakeMaintenance struct {
	windows   []account.Maintenance
	asked     time.Duration
	cancelled []int64
}

func (f *fakeMaintenance) NextMaintenance(_ context.Context, now time.Time, ahead time.Duration) (*account.Maintenance, error) {
	f.asked = ahead
	for _, m := range f.windows {
		if m.EndsAt.After(now) && m.StartsAt.Before(now.Add(ahead)) {
			return &m, nil
		}
	}
	return nil, nil
}

func (f *fakeMaintenance) ScheduleMaintenance(_ context.Context, m account.Maintenance, actor account.Actor, _ time.Time) error {
	m.ID, m.CreatedBy = int64(len(f.windows)+1), actor.Name
	f.windows = append(f.windows, m)
	return nil
}

func (f *fakeMaintenance) Maintenances(_ context.Context, now time.Time) ([]account.Maintenance, error) {
	var out []account.Maintenance
	for _, m := range f.windows {
		if m.EndsAt.After(now) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeMaintenance) CancelMaintenance(_ context.Context, id int64, _ account.Actor, _ time.Time) error {
	f.cancelled = append(f.cancelled, id)
	return nil
}

// fakeAPI records API calls and answers the audit reads.
type fakeAPI struct {
	calls   []string
	queries []account.AuditQuery
	chain   int64
}

func (f *fakeAPI) RecordAPIRequest(_ context.Context, actor account.Actor, method, path string, status int, _ time.Time) error {
	f.calls = append(f.calls, actor.Name+" "+method+" "+path+" "+strconv.Itoa(status))
	return nil
}

func (f *fakeAPI) AuditEvents(_ context.Context, q account.AuditQuery) ([]*audit.Event, error) {
	f.queries = append(f.queries, q)
	return []*audit.Event{{}}, nil
}

func (f *fakeAPI) VerifyAudit(context.Context) (int64, error) { return f.chain, nil }
