package account_test

import (
	"errors"
	"testing"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// A refused password says why, as the message id the pages show: the rule it broke, or for a
// guessable one the pattern that makes it guessable, so the person knows what to change.
func TestCheckNewPasswordSaysWhy(t *testing.T) {
	svc := account.New(unusedDeps())
	alice := &account.Account{Username: "alice", Email: "alice.adams@example.com", DisplayName: "Alice Adams", Phone: "+14155550100"}
	// min is 15, or 8 as for an account with a second factor, where short guessable passwords are
	// refused by their pattern rather than their length.
	tests := []struct {
		password string
		min      int
		want     string // "" when the password is accepted
	}{
		{"short", 15, account.PasswordTooShort},
		{"password1234567890", 15, "password_weak_common"},
		{"qwertyuiopasdfgh", 15, "password_weak_common"},
		{"informationsystem", 15, "password_weak_word"},
		{"christophermichael", 15, "password_weak_name"},
		{"abcabcabcabcabcabc", 15, "password_weak_repeat"},
		{"abcdefghijklmnopqrstu", 15, "password_weak_sequence"},
		{"/.,mnbvcxz;lkjhgf", 15, "password_weak_keyboard"},
		{"13.05.1987", 8, "password_weak_date"},
		{"my name is alice adams", 15, account.PasswordContext},
		{"call me on +14155550100", 15, account.PasswordContext},
		{"4l1c34d4ms", 8, account.PasswordContext},
		{"paper boats on a winter canal", 15, ""},
	}
	for _, tt := range tests {
		err := svc.SelfService.CheckNewPassword(alice, tt.password, tt.password, tt.min)
		var problem *account.PasswordProblem
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q refused: %v", tt.password, err)
		case tt.want == "":
		case !errors.As(err, &problem):
			t.Errorf("%q: got %v, want %s", tt.password, err, tt.want)
		case problem.ID != tt.want:
			score, reason := secret.PasswordStrength(tt.password, nil)
			t.Errorf("%q: refused as %s, want %s (strength %d, %q)", tt.password, problem.ID, tt.want, score, reason)
		}
	}
}

// Every reason the strength check gives has its own message.
func TestEveryStrengthReasonHasAMessage(t *testing.T) {
	for _, reason := range []string{secret.ReasonCommonPassword, secret.ReasonWord, secret.ReasonName, secret.ReasonPersonal,
		secret.ReasonRepeat, secret.ReasonSequence, secret.ReasonKeyboard, secret.ReasonDate} {
		if id := account.WeakPasswordMessages[reason]; id == "" || id == account.PasswordWeak {
			t.Errorf("reason %q has no message of its own", reason)
		}
	}
}
