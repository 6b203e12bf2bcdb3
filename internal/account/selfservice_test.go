package account_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// withSMS configures an SMS gateway.
func withSMS(d *account.Deps) { d.Options.SMS = true }

// send asks for a code in flow by channel.
func send(t *testing.T, w *world, flow *account.Flow, channel string) {
	t.Helper()
	err := w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: flow.Login, Channel: channel, Purpose: flow.Purpose,
		Client: "192.0.2.1", Flow: flow.Nonce})
	if err != nil {
		t.Fatal(err)
	}
}

func proof(flow *account.Flow, code string) account.Proof {
	return account.Proof{Flow: flow, Code: code, Client: "192.0.2.1"}
}

func locked(a *account.Account) { a.State = account.StateLocked }

// SendCode answers the same for a known and an unknown login, after the same work; only the known
// one is sent a code.
func TestSendCodeAnswersAlikeForUnknownLogins(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	for _, login := range []string{"alice", "nobody"} {
		err := w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: login, Purpose: account.PurposeUnlock, Client: "192.0.2.1"})
		if err != nil {
			t.Fatalf("SendCode(%s) = %v, want nil", login, err)
		}
	}
	if len(w.outbox.msgs) != 1 || w.outbox.lastCode("alice@example.com") == "" {
		t.Errorf("queued %+v, want one code to alice", w.outbox.msgs)
	}
	if len(w.codes.notSent) != 1 || w.codes.notSent[0].Reason != "unknown_user" || w.codes.notSent[0].Login != "nobody" {
		t.Errorf("not sent %+v, want the unknown login recorded", w.codes.notSent)
	}
	if w.work.units != 2 || len(w.codes.locks) != 2 || w.codes.locks[1] != "login:nobody|" {
		t.Errorf("%d units of work, send locks %q; want both requests under a send lock", w.work.units, w.codes.locks)
	}
	m := w.outbox.msgs[0]
	if m.Channel != account.ChannelEmail || m.Data["Purpose"] != "unlock" || m.Data["Minutes"] != "10" || m.Lang != "en" {
		t.Errorf("message %+v", m)
	}
}

// Codes go only where they can: an SMS needs a phone and a gateway; a second code within the resend
// interval is not sent, silently, unless it goes by another channel.
func TestSendCodeNotSent(t *testing.T) {
	w := newWorld(t, withSMS)
	w.add("alice")
	w.add("bob", func(a *account.Account) { a.Phone = "+14155550100" })
	req := func(login, channel string) error {
		return w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: login, Channel: channel, Purpose: account.PurposeUnlock, Client: "192.0.2.1"})
	}
	steps := []struct {
		login, channel string
		advance        time.Duration
		want           string // the reason it was not sent; "" when sent
	}{
		{"alice", account.ChannelSMS, 0, "no_contact"},
		{"bob", account.ChannelEmail, 0, ""},
		{"bob", account.ChannelEmail, 30 * time.Second, "limited"},
		{"bob", account.ChannelSMS, 0, ""},
		{"bob", account.ChannelSMS, 0, "limited"},
		{"bob", account.ChannelEmail, 31 * time.Second, ""},
	}
	for i, s := range steps {
		w.clock.Advance(s.advance)
		sent, notSent := len(w.outbox.msgs), len(w.codes.notSent)
		if err := req(s.login, s.channel); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		got := ""
		if len(w.codes.notSent) > notSent {
			got = w.codes.notSent[notSent].Reason
		}
		if got != s.want || (s.want == "") != (len(w.outbox.msgs) == sent+1) {
			t.Errorf("step %d (%s by %s): not sent for %q, %d queued; want %q", i, s.login, s.channel, got, len(w.outbox.msgs)-sent, s.want)
		}
	}
	if sms := w.outbox.to("+14155550100", "code"); len(sms) != 1 || sms[0].Channel != account.ChannelSMS {
		t.Errorf("SMS %+v, want one", sms)
	}
	// Without a gateway, no SMS.
	w = newWorld(t)
	w.add("bob", func(a *account.Account) { a.Phone = "+14155550100" })
	if err := req("bob", account.ChannelSMS); err != nil || len(w.outbox.msgs) != 0 || w.codes.notSent[0].Reason != "no_contact" {
		t.Errorf("SMS without a gateway: %v, queued %d, not sent %+v", err, len(w.outbox.msgs), w.codes.notSent)
	}
}

// One client may ask for SendLimitClient codes, links or help an hour, whoever they are for.
func TestSendCodeClientLimit(t *testing.T) {
	w := newWorld(t)
	for i := range account.SendLimitClient {
		if err := w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "nobody" + string(rune('a'+i%26)), Client: "192.0.2.1"}); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if err := w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "alice", Client: "192.0.2.1"}); err != account.ErrThrottled {
		t.Fatalf("request %d: %v, want ErrThrottled", account.SendLimitClient+1, err)
	}
	if err := w.svc.SelfService.StartReset(ctx, "alice", "192.0.2.1", ""); err != account.ErrThrottled {
		t.Errorf("a reset link past the limit: %v, want ErrThrottled", err)
	}
	if _, err := w.svc.SelfService.RequestHelp(ctx, "alice", "", "", "192.0.2.1", ""); err != account.ErrThrottled {
		t.Errorf("help past the limit: %v, want ErrThrottled", err)
	}
	if err := w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "alice", Client: "198.51.100.7"}); err != nil {
		t.Errorf("another client: %v", err)
	}
}

// A code works only in the flow and for the purpose it was sent for.
func TestCodesAreBoundToTheirFlowAndPurpose(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", locked)
	flow := startFlow(t, w, account.PurposeUnlock, "alice")
	code := w.outbox.lastCode("alice@example.com")

	other, _ := account.NewFlow(account.PurposeUnlock, "alice", account.ChannelEmail)
	if _, err := w.svc.SelfService.UnlockWithCode(ctx, proof(other, code)); err != account.ErrBadCode {
		t.Errorf("the code in another flow: %v, want ErrBadCode", err)
	}
	status := *flow
	status.Purpose = account.PurposeStatus
	if _, err := w.svc.SelfService.StatusWithCode(ctx, proof(&status, code)); err != account.ErrBadCode {
		t.Errorf("an unlock code for the status: %v, want ErrBadCode", err)
	}
	if _, err := w.svc.SelfService.UnlockWithCode(ctx, proof(&account.Flow{Purpose: account.PurposeUnlock, Login: "alice"}, code)); err != account.ErrBadCode {
		t.Errorf("a flow without a nonce: %v, want ErrBadCode", err)
	}
	if a.State != account.StateLocked {
		t.Fatalf("the account is %s", a.State)
	}
	res, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, code))
	if err != nil || res.Outcome != account.UnlockDone {
		t.Fatalf("the code in its own flow: %+v, %v", res, err)
	}
}

// The right code unlocks an automatically locked account, offers a reset link and tells the owner;
// a wrong one never counts towards the lockout.
func TestUnlockWithCode(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", locked)
	flow := startFlow(t, w, account.PurposeUnlock, "alice")
	code := w.outbox.lastCode("alice@example.com")
	if _, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, wrongCode(code))); err != account.ErrBadCode {
		t.Fatalf("a wrong code: %v", err)
	}
	if len(w.lockout.reservations) != 0 || len(w.lockout.failed) != 0 {
		t.Error("a wrong unlock code counted as a sign-in attempt")
	}
	res, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, code))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != account.UnlockDone || res.ResetToken == "" || strings.Join(res.Verified, ",") != "email" || a.State != account.StateActive {
		t.Fatalf("result %+v, state %s; want unlocked with a reset link", res, a.State)
	}
	if len(w.outbox.to("alice@example.com", "unlocked")) != 1 || w.selfService.unlocks[0] != "email" {
		t.Errorf("unlock messages %+v, methods %q", w.outbox.msgs, w.selfService.unlocks)
	}
	link := w.selfService.links[0]
	if link.Message != nil || link.Actor.Name != "user:alice" || string(link.Hash) != string(w.selfService.links[0].Hash) {
		t.Errorf("reset link %+v, want one shown on the page, asked by the owner", link)
	}
	if got, err := w.svc.SelfService.ResetAccount(ctx, res.ResetToken); err != nil || got.ID != a.ID {
		t.Errorf("the offered reset link: %v, %v", got, err)
	}
}

// What a proven unlock does depends on the state: an administrator decides on a freeze, an active
// account has nothing to unlock.
func TestUnlockWithCodeByState(t *testing.T) {
	until := t0.Add(time.Hour)
	tests := []struct {
		state account.State
		until *time.Time
		want  account.UnlockOutcome
	}{
		{account.StateLockedTemporarily, &until, account.UnlockDone},
		{account.StateLocked, nil, account.UnlockDone},
		{account.StateActive, nil, account.UnlockNotLocked},
		{account.StateFrozen, &until, account.UnlockNeedsAdmin},
		{account.StateDisabled, nil, account.UnlockNeedsAdmin},
		{account.StateExpired, nil, account.UnlockNeedsAdmin},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			w := newWorld(t)
			a := w.add("alice", locked)
			w.selfService.lock = &account.LockInfo{Kind: "freeze", UserMessage: "call the help desk"}
			flow := startFlow(t, w, account.PurposeUnlock, "alice")
			// The state the code finds when it is entered (an administrator may act meanwhile).
			a.State, a.LockedUntil = tt.state, tt.until
			res, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, w.outbox.lastCode("alice@example.com")))
			if err != nil || res.Outcome != tt.want {
				t.Fatalf("UnlockWithCode = %+v, %v; want %s", res, err, tt.want)
			}
			if (res.Lock != nil) != (tt.want == account.UnlockNeedsAdmin) {
				t.Errorf("lock %+v: shown only when an administrator must decide", res.Lock)
			}
			if (a.State == account.StateActive) != (tt.want != account.UnlockNeedsAdmin) {
				t.Errorf("the account is %s", a.State)
			}
		})
	}
}

// unlock.methods_required 2 takes two different methods in the same flow for the same account.
func TestUnlockNeedsTheMethodsThePolicyRequires(t *testing.T) {
	w := newWorld(t, withSMS)
	a := w.add("alice", func(a *account.Account) { a.State, a.Phone = account.StateLocked, "+14155550100" })
	w.setPolicy(func(p *account.Policy) { p.UnlockMethodsRequired = 2 })
	flow := startFlow(t, w, account.PurposeUnlock, "alice")
	res, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, w.outbox.lastCode("alice@example.com")))
	if err != nil || res.Outcome != account.UnlockNeedsMore || strings.Join(flow.Verified, ",") != "email" {
		t.Fatalf("one method: %+v, %v, flow %+v; want needs_more", res, err, flow)
	}
	// The same method again does not count twice.
	w.clock.Advance(time.Minute)
	send(t, w, flow, account.ChannelEmail)
	res, err = w.svc.SelfService.UnlockWithCode(ctx, proof(flow, w.outbox.lastCode("alice@example.com")))
	if err != nil || res.Outcome != account.UnlockNeedsMore {
		t.Fatalf("the same method twice: %+v, %v; want needs_more", res, err)
	}
	send(t, w, flow, account.ChannelSMS)
	res, err = w.svc.SelfService.UnlockWithCode(ctx, proof(flow, w.outbox.lastCode("+14155550100")))
	if err != nil || res.Outcome != account.UnlockDone || a.State != account.StateActive {
		t.Fatalf("a second method: %+v, %v; want unlocked", res, err)
	}
	if w.selfService.unlocks[0] != "email+sms" {
		t.Errorf("unlocked by %q, want email+sms", w.selfService.unlocks[0])
	}
}

// Methods proven in a flow for one account never count for another.
func TestUnlockProofsCountOnlyForTheirAccount(t *testing.T) {
	w := newWorld(t, withSMS)
	w.add("alice", locked)
	w.setPolicy(func(p *account.Policy) { p.UnlockMethodsRequired = 2 })
	flow := startFlow(t, w, account.PurposeUnlock, "alice")
	flow.AccountID, flow.Verified = 99, []string{"sms"}
	res, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, w.outbox.lastCode("alice@example.com")))
	if err != nil || res.Outcome != account.UnlockNeedsMore || strings.Join(res.Verified, ",") != "email" {
		t.Fatalf("UnlockWithCode = %+v, %v; want needs_more with email alone", res, err)
	}
}

// An authenticator or recovery code unlocks too; wrong entries are bounded by the ledger and never
// lock the account.
func TestUnlockWithFactor(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", locked)
	codes, err := w.svc.SecondFactors.NewRecoveryCodes(ctx, a, "", "192.0.2.1", "")
	if err != nil {
		t.Fatal(err)
	}
	flow, _ := account.NewFlow(account.PurposeUnlock, "alice", "recovery")
	for i := range account.MaxFactorGuesses {
		if _, err := w.svc.SelfService.UnlockWithFactor(ctx, proof(flow, "AAAA-AAAA-AAAA-AAA"+string(rune('A'+i)))); err != account.ErrBadCode {
			t.Fatalf("wrong entry %d: %v", i+1, err)
		}
	}
	if len(w.factors.failures) != account.MaxFactorGuesses || w.factors.failures[0] != "recovery" || len(w.lockout.failed) != 0 {
		t.Errorf("factor failures %q, sign-in failures %d", w.factors.failures, len(w.lockout.failed))
	}
	if _, err := w.svc.SelfService.UnlockWithFactor(ctx, proof(flow, codes[0])); err != account.ErrBadCode || a.State != account.StateLocked {
		t.Fatalf("the right code past the allowance: %v, state %s; want ErrBadCode", err, a.State)
	}
	if len(w.factors.recovery[a.ID]) != account.RecoveryCodeCount {
		t.Error("a code past the allowance was checked and used")
	}
	// A fresh allowance: the right code unlocks and its guess is given back.
	w.ledger.counts = map[string]int{}
	res, err := w.svc.SelfService.UnlockWithFactor(ctx, proof(flow, codes[0]))
	if err != nil || res.Outcome != account.UnlockDone || a.State != account.StateActive {
		t.Fatalf("the right recovery code: %+v, %v", res, err)
	}
	if n := w.ledger.counts["factor_guess|account:1"]; n != 0 {
		t.Errorf("the ledger holds %d guesses after a right one, want 0", n)
	}
	if w.selfService.unlocks[0] != "recovery" {
		t.Errorf("unlocked by %q", w.selfService.unlocks[0])
	}
}

// The status page takes a status code and shows the lock of a locked account.
func TestStatusWithCode(t *testing.T) {
	w := newWorld(t)
	w.add("alice", func(a *account.Account) { a.State, a.Phone = account.StateLocked, "+14155550100" })
	w.selfService.lock = &account.LockInfo{Kind: "hard", Source: "automatic"}
	flow := startFlow(t, w, account.PurposeStatus, "alice")
	code := w.outbox.lastCode("alice@example.com")
	if _, err := w.svc.SelfService.StatusWithCode(ctx, proof(flow, wrongCode(code))); err != account.ErrBadCode {
		t.Fatalf("a wrong code: %v", err)
	}
	v, err := w.svc.SelfService.StatusWithCode(ctx, proof(flow, code))
	if err != nil {
		t.Fatal(err)
	}
	if v.State != account.StateLocked || v.SignIn != account.SignInNoOne || v.Lock == nil || v.Lock.Kind != "hard" {
		t.Errorf("status %+v", v)
	}
	if v.MaskedPhone == "" || strings.Contains(v.MaskedPhone, "5550100") || strings.Contains(v.MaskedEmail, "alice@") {
		t.Errorf("masked %q, %q", v.MaskedEmail, v.MaskedPhone)
	}
}

// A reset link goes only to the address on file of an account that may use it.
func TestStartReset(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	w.add("dora", func(a *account.Account) { a.State = account.StateDisabled })
	for _, login := range []string{"alice", "nobody", "dora", "alice"} {
		if err := w.svc.SelfService.StartReset(ctx, login, "192.0.2.1", "zh-CN"); err != nil {
			t.Fatalf("StartReset(%s) = %v", login, err)
		}
	}
	mails := w.outbox.to("alice@example.com", "reset_link")
	if len(mails) != 1 || len(w.outbox.msgs) != 1 || mails[0].Lang != "zh-CN" || !strings.HasPrefix(mails[0].Data["Link"], "http://127.0.0.1:8080/reset/") {
		t.Fatalf("queued %+v, want one link to alice", w.outbox.msgs)
	}
	var reasons []string
	for _, n := range w.codes.notSent {
		reasons = append(reasons, n.Reason)
	}
	if got := strings.Join(reasons, ","); got != "unknown_user,not_allowed,limited" {
		t.Errorf("not sent: %s", got)
	}
	token := strings.TrimPrefix(mails[0].Data["Link"], "http://127.0.0.1:8080/reset/")
	if a, err := w.svc.SelfService.ResetAccount(ctx, token); err != nil || a.Username != "alice" {
		t.Errorf("the mailed link: %v, %v", a, err)
	}
}

// A reset link that does not work always gets the same answer; a long one is not even looked up.
func TestResetAccountWithABadLink(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	if err := w.svc.SelfService.StartReset(ctx, "alice", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(w.outbox.msgs[0].Data["Link"], "http://127.0.0.1:8080/reset/")
	for _, bad := range []string{"", strings.Repeat("a", 101), token + "x"} {
		if _, err := w.svc.SelfService.ResetAccount(ctx, bad); err != account.ErrBadResetLink {
			t.Errorf("ResetAccount(%.10q) = %v, want ErrBadResetLink", bad, err)
		}
	}
	if w.selfService.lookups != 1 {
		t.Errorf("%d lookups, want only the link of a possible length looked up", w.selfService.lookups)
	}
	w.clock.Advance(account.DefaultPolicy().ResetTTL)
	if _, err := w.svc.SelfService.ResetAccount(ctx, token); err != account.ErrBadResetLink {
		t.Errorf("an expired link: %v, want ErrBadResetLink", err)
	}
}

// A reset sets the new password once it passes the rules, unlocks, tells the owner, and works once.
func TestCompleteReset(t *testing.T) {
	w := newWorld(t, withSMS)
	a := w.add("alice", func(a *account.Account) { a.State, a.Phone = account.StateLocked, "+14155550100" })
	if err := w.svc.SelfService.StartReset(ctx, "alice", "192.0.2.1", ""); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(w.outbox.msgs[0].Data["Link"], "http://127.0.0.1:8080/reset/")
	_, err := w.svc.SelfService.CompleteReset(ctx, token, "short", "short", "192.0.2.1", "")
	var problem *account.PasswordProblem
	if !errors.As(err, &problem) || problem.ID != account.PasswordTooShort || problem.Min != 15 {
		t.Fatalf("a short password: %v, want too short (15)", err)
	}
	const pw = "paper boats on a winter canal"
	got, err := w.svc.SelfService.CompleteReset(ctx, token, pw, pw, "192.0.2.1", "")
	if err != nil || got.ID != a.ID {
		t.Fatalf("CompleteReset = %v, %v", got, err)
	}
	if a.PasswordHash != "hash:"+pw || a.State != account.StateActive {
		t.Errorf("hash %q, state %s", a.PasswordHash, a.State)
	}
	if len(w.outbox.to("alice@example.com", "password_changed")) != 1 || len(w.outbox.to("+14155550100", "password_changed")) != 1 ||
		len(w.outbox.to("alice@example.com", "unlocked")) != 1 {
		t.Errorf("queued %+v, want the change told by email and SMS, and the unlock", w.outbox.msgs)
	}
	if _, err := w.svc.SelfService.CompleteReset(ctx, token, pw, pw, "192.0.2.1", ""); err != account.ErrBadResetLink {
		t.Errorf("the link a second time: %v, want ErrBadResetLink", err)
	}
}

// The rules for a new password, in order: valid text, length, confirmation, the person's own
// words, strength.
func TestCheckNewPassword(t *testing.T) {
	w := newWorld(t)
	alice := &account.Account{Username: "alice", Email: "alice.adams@example.com", DisplayName: "Alice Adams", Phone: "+14155550100"}
	long := strings.Repeat("é", account.MaxPasswordLength)
	tests := []struct {
		name, password, confirm string
		min                     int
		want                    string
	}{
		{"accepted", "paper boats on a winter canal", "", 15, ""},
		{"too short", "paper boats", "", 15, account.PasswordTooShort},
		{"short is fine with a lower minimum", "paper boats", "", 8, ""},
		{"256 characters", long, "", 15, ""},
		{"too long", long + "é", "", 15, account.PasswordTooLong},
		{"mismatch", "paper boats on a winter canal", "paper boats on a winter canaL", 15, account.PasswordMismatch},
		{"contains the username", "ALICE likes winter canals", "", 15, account.PasswordContext},
		{"contains the email's name", "hello alice.adams my friend", "", 15, account.PasswordContext},
		{"contains the product", "my unlockd is a boat", "", 15, account.PasswordContext},
		{"invalid text", "paper boats \xff on a canal", "", 15, account.PasswordWeak},
		{"weak", "my password is a canal", "", 15, "password_weak_common"},
	}
	for _, tt := range tests {
		confirm := tt.confirm
		if confirm == "" {
			confirm = tt.password
		}
		err := w.svc.SelfService.CheckNewPassword(alice, tt.password, confirm, tt.min)
		var problem *account.PasswordProblem
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.want != "" && (!errors.As(err, &problem) || problem.ID != tt.want):
			t.Errorf("%s: got %v, want %s", tt.name, err, tt.want)
		}
	}
	// A short username is no word to avoid.
	bo := &account.Account{Username: "bo", Email: "x@example.com"}
	if err := w.svc.SelfService.CheckNewPassword(bo, "bo rows boats on canals", "bo rows boats on canals", 15); err != nil {
		t.Errorf("a password containing a 2-letter username: %v", err)
	}
}

var referencePattern = regexp.MustCompile(`^UR-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$`)

// A request for help needs a username and returns a reference people can read out; the answer is
// the same for an unknown login, which is recorded without an account and tells no one.
func TestRequestHelp(t *testing.T) {
	w := newWorld(t, func(d *account.Deps) { d.Options.Webhooks = []string{"https://crm.example.com/hook"} })
	a := w.add("alice")
	if _, err := w.svc.SelfService.RequestHelp(ctx, "  ", "", "", "192.0.2.1", ""); account.ErrorCode(err) != account.EINVALID {
		t.Fatalf("no username: %v, want EINVALID", err)
	}
	ref, err := w.svc.SelfService.RequestHelp(ctx, "alice", " call me ", "locked out\x00 again", "192.0.2.1", "")
	if err != nil || !referencePattern.MatchString(ref) {
		t.Fatalf("RequestHelp = %q, %v", ref, err)
	}
	r := w.selfService.requests[0]
	if r.Reference != ref || r.AccountID == nil || *r.AccountID != a.ID || r.Contact != "call me" || r.Message != "locked out again" {
		t.Errorf("request %+v", r)
	}
	if got := w.outbox.to("alice@example.com", "request_received"); len(got) != 1 || got[0].Data["Reference"] != ref {
		t.Errorf("queued %+v, want the owner told the reference", w.outbox.msgs)
	}
	queued := len(w.outbox.msgs)
	ref2, err := w.svc.SelfService.RequestHelp(ctx, "nobody", "", strings.Repeat("x", 3000), "192.0.2.1", "")
	if err != nil || !referencePattern.MatchString(ref2) || ref2 == ref {
		t.Fatalf("an unknown login: %q, %v", ref2, err)
	}
	r = w.selfService.requests[1]
	if r.AccountID != nil || len([]rune(r.Message)) != 2000 {
		t.Errorf("request %+v, want no account and the message clipped to 2000", r.AccountID)
	}
	if len(w.outbox.msgs) != queued+1 || w.outbox.msgs[queued].Channel != account.ChannelWebhook || w.outbox.msgs[queued].Data["reference"] != ref2 {
		t.Errorf("queued %+v, want only the webhook event", w.outbox.msgs[queued:])
	}
}

// A new account becomes active once its contacts are confirmed: the email, then the phone when
// there is one and SMS works.
func TestVerifyContact(t *testing.T) {
	w := newWorld(t, withSMS)
	a := w.add("alice", func(a *account.Account) { a.State, a.Phone = account.StatePendingVerification, "+14155550100" })
	flow := startFlow(t, w, account.PurposeVerify, "alice")
	if _, err := w.svc.SelfService.VerifyContact(ctx, proof(flow, wrongCode(w.outbox.lastCode("alice@example.com")))); err != account.ErrBadCode {
		t.Fatalf("a wrong code: %v", err)
	}
	got, err := w.svc.SelfService.VerifyContact(ctx, proof(flow, w.outbox.lastCode("alice@example.com")))
	if err != nil || got != account.VerifyNeedsSMS || a.State != account.StatePendingVerification {
		t.Fatalf("the email confirmed: %v, %v, state %s; want needs_phone", got, err, a.State)
	}
	send(t, w, flow, account.ChannelSMS)
	got, err = w.svc.SelfService.VerifyContact(ctx, proof(flow, w.outbox.lastCode("+14155550100")))
	if err != nil || got != account.VerifyDone || a.State != account.StateActive {
		t.Fatalf("both confirmed: %v, %v, state %s; want verified", got, err, a.State)
	}
	if tr := w.states.transitions[0]; tr.Method != account.ChannelSMS || tr.Actor != "user:alice" {
		t.Errorf("transition %+v", tr)
	}
	w.clock.Advance(time.Minute)
	flow = startFlow(t, w, account.PurposeVerify, "alice")
	if got, err := w.svc.SelfService.VerifyContact(ctx, proof(flow, w.outbox.lastCode("alice@example.com"))); err != nil || got != account.VerifyNotNeeded {
		t.Errorf("an active account: %v, %v; want not_needed", got, err)
	}
}

// The phone first leaves the email to confirm.
func TestVerifyContactPhoneFirst(t *testing.T) {
	w := newWorld(t, withSMS)
	w.add("alice", func(a *account.Account) { a.State, a.Phone = account.StatePendingVerification, "+14155550100" })
	flow, _ := account.NewFlow(account.PurposeVerify, "alice", account.ChannelSMS)
	send(t, w, flow, account.ChannelSMS)
	got, err := w.svc.SelfService.VerifyContact(ctx, proof(flow, w.outbox.lastCode("+14155550100")))
	if err != nil || got != account.VerifyNeedsMail {
		t.Fatalf("the phone confirmed: %v, %v; want needs_email", got, err)
	}
}

// The shortest password is the policy's, or 8 with a second factor.
func TestSelfServiceMinPasswordLength(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	if n, err := w.svc.SelfService.MinPasswordLength(ctx, a.ID); err != nil || n != 15 {
		t.Errorf("without a second factor: %d, %v; want 15", n, err)
	}
	w.factors.recovery[a.ID] = [][]byte{[]byte("h")}
	if n, err := w.svc.OwnAccount.MinPasswordLength(ctx, a.ID); err != nil || n != 8 {
		t.Errorf("with recovery codes: %d, %v; want 8", n, err)
	}
}

// The status page shows where codes go without showing the phone number: whatever its length,
// some of its digits are hidden.
func TestStatusNeverShowsAPhoneNumberInFull(t *testing.T) {
	w := newWorld(t)
	for _, phone := range []string{"+14155550100", "+8613800000000", "+4930123456", "+493012345"} {
		a := &account.Account{ID: 1, Username: "alice", Email: "alice@example.com", Phone: phone, State: account.StateActive}
		v, err := w.svc.SelfService.Status(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, v.MaskedPhone)
		if !strings.Contains(v.MaskedPhone, "*") || digits == phone[1:] {
			t.Errorf("%s is shown as %q: every digit visible", phone, v.MaskedPhone)
		}
	}
}

// The owner who asks for an unlock code for an account only an administrator can unlock is told
// so, with the administrator's message and where to ask, and gets no code; the send counts
// against the limits as a code does.
func TestUnlockCodeForAnAccountOnlyAnAdministratorCanUnlock(t *testing.T) {
	for _, state := range []account.State{account.StateFrozen, account.StateDisabled, account.StateExpired} {
		t.Run(string(state), func(t *testing.T) {
			w := newWorld(t)
			w.add("alice", func(a *account.Account) { a.State = state })
			w.selfService.lock = &account.LockInfo{Kind: "freeze", UserMessage: "call the help desk"}
			startFlow(t, w, account.PurposeUnlock, "alice")
			if code := w.outbox.lastCode("alice@example.com"); code != "" {
				t.Errorf("a code was sent: %s", code)
			}
			m := w.outbox.to("alice@example.com", "needs_admin")
			if len(m) != 1 || m[0].Data["State"] != string(state) || m[0].Data["Link"] != "http://127.0.0.1:8080/help/request" {
				t.Fatalf("messages %+v", w.outbox.msgs)
			}
			if got := m[0].Data["Message"]; (got == "call the help desk") != (state == account.StateFrozen) {
				t.Errorf("the administrator's message %q for a %s account", got, state)
			}
			// Asked again at once: the resend interval holds, as for codes.
			startFlow(t, w, account.PurposeUnlock, "alice")
			if n := len(w.outbox.to("alice@example.com", "needs_admin")); n != 1 {
				t.Errorf("%d notices after asking twice at once", n)
			}
		})
	}
}

// A directory account's lock and password are the directory's, which unlockd does not change yet:
// a proven unlock sends the owner to an administrator, a reset sends no link, and staff changes are
// refused, all without touching the account.
func TestDirectoryAccountsAreNotChangedHere(t *testing.T) {
	w := newWorld(t)
	a := w.add("dir.alice", locked, func(a *account.Account) {
		a.Source, a.DirectoryDN = account.SourceDirectory, "uid=dir.alice,ou=people,dc=example,dc=com"
	})
	flow := startFlow(t, w, account.PurposeUnlock, "dir.alice")
	res, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, w.outbox.lastCode("dir.alice@example.com")))
	if err != nil || res.Outcome != account.UnlockNeedsAdmin || a.State != account.StateLocked || res.ResetToken != "" {
		t.Fatalf("UnlockWithCode = %+v, %v, state %s; want sent to an administrator, still locked", res, err, a.State)
	}
	if err := w.svc.SelfService.StartReset(ctx, "dir.alice", "192.0.2.1", "en"); err != nil {
		t.Fatal(err)
	}
	if len(w.outbox.to("dir.alice@example.com", "reset_link")) != 0 || w.codes.notSent[len(w.codes.notSent)-1].Reason != "directory" {
		t.Errorf("a reset of a directory account: links %+v, not sent %+v", w.outbox.msgs, w.codes.notSent)
	}
	_, err = w.svc.Staff.Unlock(ctx, "dir.alice", "ticket 5", admin)
	wantCode(t, err, account.EINVALID)
	wantCode(t, w.svc.Staff.AdminSendReset(ctx, "dir.alice", "ticket 5", admin), account.EINVALID)
	if a.State != account.StateLocked || len(w.selfService.links) != 0 {
		t.Errorf("staff changed the directory account: %s, %d links", a.State, len(w.selfService.links))
	}
}

// Codes entered at /unlock, /status and /verify are bounded across codes as well as each by its
// own attempts: every entry, right or wrong, counts against the allowance of the day of the
// account from the client's network, or of the known device it comes from; past it even the right
// code answers as a wrong one and is left unused. A stranger's entries spend neither the owner's
// network's allowance nor a known device's.
func TestCodeEntriesAreBoundedAcrossCodes(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice")
	res, err := signIn(w, "alice", "right password")
	if err != nil || res.DeviceToken == "" {
		t.Fatalf("sign-in: %+v, %v", res, err)
	}
	device := res.DeviceToken
	a.State = account.StateLocked
	const stranger = "account:1 from 192.0.2.1" // proof's client

	flow := startFlow(t, w, account.PurposeUnlock, "alice")
	code := w.outbox.lastCode("alice@example.com")
	for i := range 3 {
		if _, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, wrongCode(code))); err != account.ErrBadCode {
			t.Fatalf("wrong entry %d: %v", i+1, err)
		}
	}
	if n := w.ledger.counts["code_guess|"+stranger]; n != 3 {
		t.Fatalf("the ledger holds %d entries for the stranger's network, want 3 (%v)", n, w.ledger.counts)
	}
	// The stranger has spent the rest of the day's allowance from that network.
	w.ledger.counts["code_guess|"+stranger] = account.MaxCodeGuesses
	if _, err := w.svc.SelfService.UnlockWithCode(ctx, proof(flow, code)); err != account.ErrBadCode || a.State != account.StateLocked {
		t.Fatalf("the right code past the allowance: %v, state %s; want ErrBadCode", err, a.State)
	}
	w.clock.Advance(5 * time.Minute) // past the resend interval
	status := startFlow(t, w, account.PurposeStatus, "alice")
	statusCode := w.outbox.lastCode("alice@example.com")
	if statusCode == code {
		t.Fatal("no status code was sent")
	}
	if _, err := w.svc.SelfService.StatusWithCode(ctx, proof(status, statusCode)); err != account.ErrBadCode {
		t.Errorf("the right status code past the allowance: %v, want ErrBadCode", err)
	}
	// The owner, from another network, is not kept out: the status code, unused, works there.
	owner := proof(status, statusCode)
	owner.Client = "198.51.100.7"
	if _, err := w.svc.SelfService.StatusWithCode(ctx, owner); err != nil {
		t.Fatalf("the owner's status code from another network: %v", err)
	}
	// Nor from a known device, where the unlock code, left unused, works.
	fromDevice := proof(flow, code)
	fromDevice.DeviceToken = device
	got, err := w.svc.SelfService.UnlockWithCode(ctx, fromDevice)
	if err != nil || got.Outcome != account.UnlockDone || a.State != account.StateActive {
		t.Fatalf("the owner's device: %+v, %v, state %s", got, err, a.State)
	}
	if n := w.ledger.counts["code_guess|device:1"]; n != 1 {
		t.Errorf("the device's allowance holds %d entries, want 1", n)
	}
}
