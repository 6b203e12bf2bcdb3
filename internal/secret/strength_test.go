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
