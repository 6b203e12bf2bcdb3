package account_test

import (
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// Asking again in the same flow within the resend interval asks nothing and says when; the same
// login keeps its flow (and its code), another login gets a new one.
func TestAskCodeWaitsForTheResendInterval(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	for _, login := range []string{"alice", "nobody"} {
		f, err := account.RestartFlow(nil, account.PurposeUnlock, login, account.ChannelEmail)
		if err != nil {
			t.Fatal(err)
		}
		asked, next, err := w.svc.SelfService.AskCode(ctx, f, account.CodeRequest{Client: "192.0.2.1"})
		if err != nil || !asked || !f.AskedAt.Equal(w.clock.Now()) || !next.Equal(w.clock.Now().Add(time.Minute)) {
			t.Fatalf("%s: first ask = %v %v %v, asked at %v", login, asked, next, err, f.AskedAt)
		}
		w.clock.Advance(20 * time.Second)
		again, err := account.RestartFlow(f, account.PurposeUnlock, " "+login+" ", account.ChannelEmail)
		if err != nil || again.Nonce != f.Nonce {
			t.Fatalf("%s: starting over for the same login made a new flow", login)
		}
		sent := len(w.outbox.msgs)
		asked, next2, err := w.svc.SelfService.AskCode(ctx, again, account.CodeRequest{Client: "192.0.2.1"})
		if err != nil || asked || !next2.Equal(next) || len(w.outbox.msgs) != sent {
			t.Errorf("%s: asking again at once = %v %v %v, %d messages more", login, asked, next2, err, len(w.outbox.msgs)-sent)
		}
		// Another method may be asked at once.
		again.Method = account.ChannelSMS
		if n := again.NextAsk(again.Method, time.Minute); !n.IsZero() {
			t.Errorf("%s: another method waits until %v", login, n)
		}
		w.clock.Advance(time.Minute)
	}
	f, _ := account.RestartFlow(nil, account.PurposeUnlock, "alice", account.ChannelEmail)
	g, _ := account.RestartFlow(f, account.PurposeUnlock, "bob", account.ChannelEmail)
	if g.Nonce == f.Nonce || !g.AskedAt.IsZero() {
		t.Error("a flow restarted for another login kept the old one")
	}
	f.AccountID, f.Verified = 7, []string{"email"}
	if h, _ := account.RestartFlow(f, account.PurposeUnlock, "alice", account.ChannelSMS); h.AccountID != 0 || h.Verified != nil {
		t.Error("starting over kept what was proven")
	}
}

// What was proven at /status counts for unlocking the same account, fresh, once.
func TestUnlockAfterStatus(t *testing.T) {
	w := newWorld(t)
	a := w.add("alice", locked)
	w.add("bob", locked)
	status, _ := account.NewFlow(account.PurposeStatus, "alice", account.ChannelEmail)
	if err := w.svc.SelfService.SendCode(ctx, account.CodeRequest{Login: "alice", Purpose: account.PurposeStatus, Client: "192.0.2.1", Flow: status.Nonce}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.SelfService.StatusWithCode(ctx, account.Proof{Flow: status, Code: w.outbox.lastCode("alice@example.com"), Client: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	if status.AccountID != a.ID || len(status.Verified) != 1 || !status.ProvenAt.Equal(w.clock.Now()) {
		t.Fatalf("the status flow after its code: %+v", status)
	}
	unlock := func(s *account.Flow) (*account.UnlockResult, error) {
		f, _ := account.NewFlow(account.PurposeUnlock, s.Login, s.Method)
		return w.svc.SelfService.UnlockAfterStatus(ctx, s, account.Proof{Flow: f, Client: "192.0.2.1"})
	}
	// Not fresh: refused like a wrong code.
	w.clock.Advance(11 * time.Minute)
	if _, err := unlock(status); err != account.ErrBadCode || a.State != account.StateLocked {
		t.Fatalf("a stale proof: %v, alice %s", err, a.State)
	}
	w.clock.Advance(-11 * time.Minute)
	// A flow with nothing proven, or proven for nobody, does nothing.
	bare, _ := account.NewFlow(account.PurposeStatus, "bob", account.ChannelEmail)
	if _, err := unlock(bare); err != account.ErrBadCode {
		t.Errorf("nothing proven: %v", err)
	}
	res, err := unlock(status)
	if err != nil || res.Outcome != account.UnlockDone || a.State != account.StateActive || res.ResetToken == "" {
		t.Fatalf("unlock after status = %+v, %v; alice %s", res, err, a.State)
	}
}
