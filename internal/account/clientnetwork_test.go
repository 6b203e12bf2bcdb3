package account_test

import (
	"fmt"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
)

func TestClientNetwork(t *testing.T) {
	for _, tt := range []struct{ client, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2::7", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::7", "2001:db8:1:3::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"", ""},
		{"not an address", "not an address"},
	} {
		if got := account.ClientNetwork(tt.client); got != tt.want {
			t.Errorf("ClientNetwork(%q) = %q, want %q", tt.client, got, tt.want)
		}
	}
}

// A host that takes a fresh IPv6 address of its /64 for each try is one client to the spraying
// throttle: it is throttled after as many accounts as one address is. Another /64 is another
// client.
func TestSprayingFromOneIPv6NetworkIsOneClient(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	for i := range account.ClientAccountLimit {
		req := account.SignInRequest{Login: fmt.Sprintf("nobody%d", i), Password: "guess", ClientIP: fmt.Sprintf("2001:db8:1:2::%x", i+1)}
		if _, err := w.svc.Gate.SignIn(ctx, req); err != account.ErrBadCredentials {
			t.Fatalf("try %d: %v, want ErrBadCredentials", i, err)
		}
	}
	fresh := account.SignInRequest{Login: "alice", Password: "right password", ClientIP: "2001:db8:1:2:aaaa:bbbb:cccc:dddd"}
	if _, err := w.svc.Gate.SignIn(ctx, fresh); err != account.ErrThrottled {
		t.Fatalf("a fresh address of the same /64: %v, want ErrThrottled", err)
	}
	fresh.ClientIP = "2001:db8:1:3::1"
	if _, err := w.svc.Gate.SignIn(ctx, fresh); err != nil {
		t.Errorf("another /64: %v", err)
	}
}

// The spraying throttle tells nothing of whether a login is an account's: a wrong sign-in code and
// a repeated wrong password count for the client whether the login exists or not, so a client one
// account short of the limit is throttled after either, for a real login and an unknown one alike.
func TestSprayingThrottleTellsNoAccountFromAnUnknownLogin(t *testing.T) {
	const prober = "198.51.100.9"
	tries := map[string]func(w *world, login string) error{
		"a wrong sign-in code": func(w *world, login string) error {
			flow := startFlow(t, w, account.PurposeSignIn, "alice")
			_, err := w.svc.Gate.SignInWithCode(ctx, account.SignInRequest{Login: login, ClientIP: prober, Flow: flow.Nonce}, "000000")
			if err != account.ErrBadCode {
				return fmt.Errorf("SignInWithCode = %v, want ErrBadCode", err)
			}
			return nil
		},
		"a repeated wrong password": func(w *world, login string) error {
			// Wrong once from elsewhere, then again from the prober.
			for _, client := range []string{"192.0.2.1", prober} {
				_, err := w.svc.Gate.SignIn(ctx, account.SignInRequest{Login: login, Password: "Summer2026", ClientIP: client})
				if err != account.ErrBadCredentials {
					return fmt.Errorf("SignIn from %s = %v, want ErrBadCredentials", client, err)
				}
			}
			return nil
		},
	}
	for name, try := range tries {
		for _, login := range []string{"alice", "nobody"} {
			w := newWorld(t)
			w.add("alice")
			for i := range account.ClientAccountLimit - 1 {
				w.lockout.fail(account.ClientNetwork(prober), fmt.Sprintf("login:other%d", i))
			}
			if err := try(w, login); err != nil {
				t.Fatalf("%s for %s: %v", name, login, err)
			}
			probe := account.SignInRequest{Login: "someone", Password: "x", ClientIP: prober}
			if _, err := w.svc.Gate.SignIn(ctx, probe); err != account.ErrThrottled {
				t.Errorf("after %s for %s the client is not throttled (%v): the throttle tells whether %s exists", name, login, err, login)
			}
		}
	}
}

// Codes, links and help asked for from fresh addresses of one IPv6 /64 count as from one client.
func TestSendLimitCountsAnIPv6NetworkAsOneClient(t *testing.T) {
	w := newWorld(t)
	for i := range account.SendLimitClient {
		req := account.CodeRequest{Login: fmt.Sprintf("nobody%d", i), Client: fmt.Sprintf("2001:db8:7::%x", i+1)}
		if err := w.svc.SelfService.SendCode(ctx, req); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	if err := w.svc.SelfService.StartReset(ctx, "alice", "2001:db8:7::ffff", ""); err != account.ErrThrottled {
		t.Errorf("a reset link from a fresh address of the /64: %v, want ErrThrottled", err)
	}
	if err := w.svc.SelfService.StartReset(ctx, "alice", "2001:db8:8::1", ""); err != nil {
		t.Errorf("another /64: %v", err)
	}
}

// A known device of the account retrying a stale saved password is not counted for the client,
// as none of its attempts are: behind one office address, the owners' phones do not throttle
// everyone.
func TestARepeatedPasswordFromAKnownDeviceIsNotCountedForTheClient(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	res, err := signIn(w, "alice", "right password")
	if err != nil || res.DeviceToken == "" {
		t.Fatalf("sign-in: %+v, %v", res, err)
	}
	phone := account.SignInRequest{Login: "alice", Password: "last year's password", ClientIP: "192.0.2.1", DeviceToken: res.DeviceToken}
	for i := range 2 {
		if _, err := w.svc.Gate.SignIn(ctx, phone); err != account.ErrBadCredentials {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	if last := w.lockout.rejections[len(w.lockout.rejections)-1]; last.Reason != "repeated_password" || last.Spray.Key != "" {
		t.Errorf("the repeat from the known device was refused as %+v; want a repeated password not counted", last)
	}
}
