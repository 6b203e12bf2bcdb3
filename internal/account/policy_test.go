package account

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultPolicyMatchesContract(t *testing.T) {
	want := map[string]string{
		"lockout.threshold": "10", "lockout.duration": "15m0s", "lockout.backoff": "2", "lockout.max_duration": "1h0m0s",
		"lockout.max_temporary": "3", "lockout.memory": "24h0m0s", "lockout.ignore_repeated_password": "true",
		"code.length": "6", "code.ttl": "10m0s", "code.max_attempts": "5", "code.resend_interval": "1m0s",
		"reset.ttl": "30m0s", "password.min_length": "15", "unlock.methods_required": "1", "unlock.reset_clears_lock": "true",
		"directory.expiry_warning": "14d",
	}
	got := DefaultPolicy().Values()
	if len(got) != len(want) || len(PolicyKeys()) != len(want) {
		t.Fatalf("got %d values and %d keys, want %d", len(got), len(PolicyKeys()), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
		if PolicyHelp[k] == "" {
			t.Errorf("%s has no help text", k)
		}
	}
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPolicyRefusesSillyValues(t *testing.T) {
	tests := []struct{ key, value, want string }{
		{"lockout.threshold", "0", "lockout.threshold"},
		{"lockout.threshold", "-3", "lockout.threshold"},
		{"lockout.duration", "0s", "lockout.duration"},
		{"lockout.duration", "-1m", "lockout.duration"},
		{"lockout.backoff", "0", "lockout.backoff"},
		{"lockout.max_temporary", "0", "lockout.max_temporary"},
		{"lockout.memory", "10000h", "lockout.memory"},
		{"code.length", "3", "code.length"},
		{"code.ttl", "240h", "code.ttl"},
		{"code.max_attempts", "0", "code.max_attempts"},
		{"password.min_length", "4", "password.min_length"},
		{"unlock.methods_required", "0", "unlock.methods_required"},
	}
	for _, tt := range tests {
		p := DefaultPolicy()
		err := p.Set(tt.key, tt.value)
		if err == nil {
			err = p.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%s: %v, want a refusal naming %s", tt.key, tt.value, err, tt.want)
		}
	}
	for _, bad := range [][2]string{{"lockout.threshold", "ten"}, {"code.ttl", "10"}, {"no.such.key", "1"}, {"unlock.reset_clears_lock", "yes"}} {
		p := DefaultPolicy()
		if err := p.Set(bad[0], bad[1]); ErrorCode(err) != EINVALID {
			t.Errorf("Set(%s, %s) = %v, want invalid", bad[0], bad[1], err)
		}
	}
}

func TestShortDurationsForTestsAreAccepted(t *testing.T) {
	p := DefaultPolicy()
	for k, v := range map[string]string{"lockout.duration": "2s", "lockout.max_duration": "8s", "lockout.threshold": "3"} {
		if err := p.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStoredOverridesNeverWeakenThePolicy(t *testing.T) {
	p := PolicyFromOverrides(map[string]string{"lockout.threshold": "0", "lockout.duration": "2s", "code.length": "x"})
	if p.Lockout.Threshold != 10 || p.Lockout.Duration.String() != "2s" || p.CodeLength != 6 {
		t.Fatalf("got %+v", p)
	}
}

func TestOverridesThatDependOnEachOtherApplyTogether(t *testing.T) {
	for i := 0; i < 20; i++ { // map order varies
		p := PolicyFromOverrides(map[string]string{"lockout.duration": "2s", "lockout.max_duration": "5s", "lockout.threshold": "3"})
		if p.Lockout.MaxDuration.String() != "5s" || p.Lockout.Duration.String() != "2s" || p.Lockout.Threshold != 3 {
			t.Fatalf("got %+v", p.Lockout)
		}
	}
	p := PolicyFromOverrides(map[string]string{"lockout.max_duration": "5s"}) // invalid alone: 5s < 15m
	if p.Lockout.MaxDuration.String() != "1h0m0s" {
		t.Fatalf("an invalid override applied: %v", p.Lockout.MaxDuration)
	}
}

// directory.expiry_warning takes days, as password lifetimes are counted, or any Go duration; 0
// turns the warnings off; a negative window or one past 90 days is refused.
func TestDirectoryExpiryWarningTakesDays(t *testing.T) {
	for value, want := range map[string]string{"14d": "14d", "336h": "14d", "0": "0s", "0d": "0s", "36h": "36h0m0s", "90d": "90d", " 7d ": "7d"} {
		p := DefaultPolicy()
		if err := p.Set("directory.expiry_warning", value); err != nil {
			t.Errorf("%q: %v", value, err)
			continue
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%q: %v", value, err)
		}
		if got := p.Values()["directory.expiry_warning"]; got != want {
			t.Errorf("%q reads back as %q, want %q", value, got, want)
		}
		// What Values writes, Set reads back to the same window.
		q := DefaultPolicy()
		if err := q.Set("directory.expiry_warning", p.Values()["directory.expiry_warning"]); err != nil || q.DirectoryExpiryWarning != p.DirectoryExpiryWarning {
			t.Errorf("%q: round trip gave %v, %v", value, q.DirectoryExpiryWarning, err)
		}
	}
	for _, bad := range []string{"-1d", "-1h", "91d", "2400h", "1.5d", "d", "two weeks", "99999999999d"} {
		p := DefaultPolicy()
		err := p.Set("directory.expiry_warning", bad)
		if err == nil {
			err = p.Validate()
		}
		if ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), "directory.expiry_warning") {
			t.Errorf("%q: %v, want a refusal naming the key", bad, err)
		}
	}
	if p := PolicyFromOverrides(map[string]string{"directory.expiry_warning": "-3d"}); p.DirectoryExpiryWarning != 14*24*time.Hour {
		t.Errorf("a stored bad window gives %v, want the default", p.DirectoryExpiryWarning)
	}
}
