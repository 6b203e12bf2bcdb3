package secret

import "testing"

func TestPasswordStrength(t *testing.T) {
	tests := []struct {
		pw      string
		context []string
		strong  bool
	}{
		{"password12345678", nil, false},
		{"qwertyuiopasdfgh", nil, false},
		{"alicealicealice1", []string{"alice"}, false},
		{"correct horse battery staple", nil, true},
		{"紫禁城的红墙在雪后格外安静", nil, true},
		{"Tr0ub4dor&3 is not enough here", nil, true},
	}
	for _, tt := range tests {
		score, _ := PasswordStrength(tt.pw, tt.context)
		if (score >= 3) != tt.strong {
			t.Errorf("PasswordStrength(%q) = %d, want strong=%v", tt.pw, score, tt.strong)
		}
	}
}

// A guessable password comes with the reason a person can act on: the pattern that makes up most of
// it. A strong one, or one that is merely short, has none.
func TestPasswordStrengthReason(t *testing.T) {
	context := []string{"unlockd", "alice", "alice@example.com", "Alice Adams"}
	tests := []struct {
		pw   string
		want string
	}{
		{"password1234567890", ReasonCommonPassword},
		{"1qaz2wsx3edc4rfv", ReasonCommonPassword},
		{"wonderfulelephant", ReasonWord},
		{"michaeljennifer", ReasonName},
		{"4l1c3", ReasonPersonal},
		{"ecila7", ReasonPersonal},
		{"abcabcabcabcabcabc", ReasonRepeat},
		{"aaaaaaaaaaaaaaaaaaa", ReasonRepeat},
		{"abcdefghijklmnop", ReasonSequence},
		{"9876543210", ReasonSequence},
		{"zxcvfr", ReasonKeyboard},
		{"7410258963", ReasonKeyboard},
		{"/.,mnbvcxz", ReasonKeyboard},
		{"19870513", ReasonDate},
		{"13.05.1987", ReasonDate},
		{"xk3$9q", ""},
		{"correct horse battery staple", ""},
	}
	for _, tt := range tests {
		score, reason := PasswordStrength(tt.pw, context)
		if reason != tt.want {
			t.Errorf("PasswordStrength(%q) = %d, %q; want reason %q", tt.pw, score, reason, tt.want)
		}
		if reason != "" && score >= 3 {
			t.Errorf("PasswordStrength(%q) = %d with reason %q: a strong password needs no reason", tt.pw, score, reason)
		}
	}
}
