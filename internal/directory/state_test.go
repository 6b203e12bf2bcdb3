package directory

import (
	"strconv"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// gt writes t as ppolicy does.
func gt(t time.Time) string { return t.UTC().Format("20060102150405Z") }

// ft writes t as an AD FILETIME attribute.
func ft(t time.Time) string {
	return strconv.FormatInt(t.Unix()*1e7+int64(t.Nanosecond()/100)+windowsEpochOffset, 10)
}

// adDuration writes d as an AD interval attribute (negative 100 ns counts).
func adDuration(d time.Duration) string { return strconv.FormatInt(-int64(d/100), 10) }

func TestDerivePPolicy(t *testing.T) {
	fiveMin := Policy{Lockout: true, MaxFailures: 3, LockoutDuration: 5 * time.Minute}
	tests := []struct {
		name      string
		attrs     LockAttributes
		policy    Policy
		want      State
		wantUntil time.Time
		wantAt    time.Time
		failures  int
	}{
		{name: "no lock attributes is active", want: StateActive, policy: fiveMin},
		{name: "failures below the threshold stay active with their count",
			attrs:  LockAttributes{PwdFailureTime: []string{"20260310115900.123456Z", "20260310115930.5Z"}},
			policy: fiveMin, want: StateActive, failures: 2},
		{name: "the administrator's lock time is frozen",
			attrs: LockAttributes{PwdAccountLockedTime: "000001010000Z"}, policy: fiveMin, want: StateFrozen},
		{name: "an administrator's lock stays frozen with no duration either",
			attrs: LockAttributes{PwdAccountLockedTime: "000001010000Z"}, want: StateFrozen},
		{name: "a lock with a duration ends at lock time plus duration",
			attrs:  LockAttributes{PwdAccountLockedTime: gt(now.Add(-2 * time.Minute)), PwdFailureTime: []string{"a", "b", "c"}},
			policy: fiveMin, want: StateLockedTemporarily, wantAt: now.Add(-2 * time.Minute),
			wantUntil: now.Add(3 * time.Minute), failures: 3},
		{name: "a lock whose duration has passed is active again",
			attrs:  LockAttributes{PwdAccountLockedTime: gt(now.Add(-5 * time.Minute)), PwdFailureTime: []string{"a", "b", "c"}},
			policy: fiveMin, want: StateActive},
		{name: "a lock without a duration lasts until someone lifts it",
			attrs:  LockAttributes{PwdAccountLockedTime: gt(now.Add(-48 * time.Hour))},
			policy: Policy{Lockout: true, MaxFailures: 3}, want: StateLocked, wantAt: now.Add(-48 * time.Hour)},
		{name: "a lock time with fractions and an offset is read",
			attrs:  LockAttributes{PwdAccountLockedTime: "20260310130000.0+0100"},
			policy: fiveMin, want: StateLockedTemporarily, wantAt: now,
			wantUntil: now.Add(5 * time.Minute)},
		{name: "an unreadable lock time is still a lock",
			attrs: LockAttributes{PwdAccountLockedTime: "yesterday"}, policy: fiveMin, want: StateLocked},
		{name: "past pwdEndTime is expired, before the lock",
			attrs:  LockAttributes{PwdEndTime: gt(now.Add(-time.Hour)), PwdAccountLockedTime: "000001010000Z"},
			policy: fiveMin, want: StateExpired},
		{name: "a future pwdEndTime changes nothing",
			attrs: LockAttributes{PwdEndTime: gt(now.Add(time.Hour))}, policy: fiveMin, want: StateActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Derive(OpenLDAP, tt.attrs, tt.policy, now)
			if got.State != tt.want || !got.LockedUntil.Equal(tt.wantUntil) || !got.LockedAt.Equal(tt.wantAt) ||
				got.FailedAttempts != tt.failures {
				t.Fatalf("got %+v, want state %s at %v until %v with %d failures", got, tt.want, tt.wantAt, tt.wantUntil, tt.failures)
			}
		})
	}
}

func TestDerivePPolicyPasswordExpiry(t *testing.T) {
	changed := now.Add(-80 * 24 * time.Hour)
	got := Derive(OpenLDAP, LockAttributes{PwdChangedTime: gt(changed)}, Policy{MaxPasswordAge: 90 * 24 * time.Hour}, now)
	if want := changed.Add(90 * 24 * time.Hour); !got.PasswordExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v", got.PasswordExpiresAt, want)
	}
	if got := Derive(OpenLDAP, LockAttributes{PwdChangedTime: gt(changed)}, Policy{}, now); !got.PasswordExpiresAt.IsZero() {
		t.Fatalf("without pwdMaxAge the password expires at %v, want never", got.PasswordExpiresAt)
	}
	if got := Derive(OpenLDAP, LockAttributes{PwdReset: "TRUE"}, Policy{}, now); !got.PasswordMustChange {
		t.Fatal("pwdReset TRUE does not ask for a new password")
	}
}

func TestDeriveActiveDirectory(t *testing.T) {
	thirty := Policy{Lockout: true, MaxFailures: 5, LockoutDuration: 30 * time.Minute}
	lockedAt := now.Add(-10 * time.Minute)
	tests := []struct {
		name      string
		attrs     LockAttributes
		policy    Policy
		want      State
		wantUntil time.Time
		failures  int
	}{
		{name: "a normal account is active", attrs: LockAttributes{UserAccountControl: "512", LockoutTime: "0"},
			policy: thirty, want: StateActive},
		{name: "ACCOUNTDISABLE is disabled", attrs: LockAttributes{UserAccountControl: "514"}, policy: thirty, want: StateDisabled},
		{name: "disabled wins over a lock",
			attrs:  LockAttributes{UserAccountControl: "514", LockoutTime: ft(lockedAt)},
			policy: thirty, want: StateDisabled},
		{name: "a lockoutTime within the duration is a temporary lock",
			attrs:  LockAttributes{UserAccountControl: "512", LockoutTime: ft(lockedAt), BadPwdCount: "5"},
			policy: thirty, want: StateLockedTemporarily, wantUntil: lockedAt.Add(30 * time.Minute), failures: 5},
		{name: "a lockoutTime past the duration is active",
			attrs:  LockAttributes{UserAccountControl: "512", LockoutTime: ft(now.Add(-31 * time.Minute)), BadPwdCount: "5"},
			policy: thirty, want: StateActive},
		{name: "a lock with the domain's no-end duration is locked",
			attrs:  LockAttributes{UserAccountControl: "512", LockoutTime: ft(now.Add(-72 * time.Hour))},
			policy: adPolicy("-9223372036854775808", "5", "0"), want: StateLocked},
		{name: "a lock with a zero duration is locked",
			attrs:  LockAttributes{UserAccountControl: "512", LockoutTime: ft(now.Add(-72 * time.Hour))},
			policy: adPolicy("0", "5", "0"), want: StateLocked},
		{name: "the DC's UF_LOCKOUT is believed over our arithmetic",
			attrs: LockAttributes{UserAccountControl: "512", LockoutTime: ft(now.Add(-31 * time.Minute)),
				UserAccountControlComputed: "16"},
			policy: thirty, want: StateLockedTemporarily, wantUntil: now.Add(-time.Minute)},
		{name: "the DC's UF_LOCKOUT without a lockoutTime to count from is locked",
			attrs:  LockAttributes{UserAccountControl: "512", UserAccountControlComputed: "16"},
			policy: thirty, want: StateLocked},
		{name: "the DC's computed flags without UF_LOCKOUT are active despite a lockoutTime",
			attrs:  LockAttributes{UserAccountControl: "512", LockoutTime: ft(lockedAt), UserAccountControlComputed: "0"},
			policy: thirty, want: StateActive},
		{name: "accountExpires in the past is expired",
			attrs:  LockAttributes{UserAccountControl: "512", AccountExpires: ft(now.Add(-time.Hour))},
			policy: thirty, want: StateExpired},
		{name: "accountExpires never (max int64) is active",
			attrs:  LockAttributes{UserAccountControl: "512", AccountExpires: "9223372036854775807"},
			policy: thirty, want: StateActive},
		{name: "accountExpires 0 is never",
			attrs: LockAttributes{UserAccountControl: "512", AccountExpires: "0"}, policy: thirty, want: StateActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Derive(ActiveDirectory, tt.attrs, tt.policy, now)
			if got.State != tt.want || !got.LockedUntil.Equal(tt.wantUntil) || got.FailedAttempts != tt.failures {
				t.Fatalf("got %+v, want %s until %v with %d failures", got, tt.want, tt.wantUntil, tt.failures)
			}
		})
	}
}

func TestDeriveActiveDirectoryPasswordExpiry(t *testing.T) {
	set := now.Add(-20 * 24 * time.Hour)
	policy := adPolicy(adDuration(30*time.Minute), "5", adDuration(42*24*time.Hour))
	got := Derive(ActiveDirectory, LockAttributes{UserAccountControl: "512", PwdLastSet: ft(set)}, policy, now)
	if want := set.Add(42 * 24 * time.Hour); !got.PasswordExpiresAt.Equal(want) {
		t.Fatalf("expires %v, want %v", got.PasswordExpiresAt, want)
	}
	got = Derive(ActiveDirectory, LockAttributes{UserAccountControl: "66048", PwdLastSet: ft(set)}, policy, now)
	if !got.PasswordExpiresAt.IsZero() {
		t.Fatalf("DONT_EXPIRE_PASSWORD still expires at %v", got.PasswordExpiresAt)
	}
	got = Derive(ActiveDirectory, LockAttributes{UserAccountControl: "512", PwdLastSet: "0"}, policy, now)
	if !got.PasswordMustChange || !got.PasswordExpiresAt.IsZero() {
		t.Fatalf("pwdLastSet 0: %+v, want a password that must change", got)
	}
	got = Derive(ActiveDirectory, LockAttributes{UserAccountControl: "512", PwdLastSet: ft(set)},
		adPolicy("0", "0", "-9223372036854775808"), now)
	if !got.PasswordExpiresAt.IsZero() {
		t.Fatalf("maxPwdAge never still expires at %v", got.PasswordExpiresAt)
	}
}

func TestPolicyValues(t *testing.T) {
	tests := []struct {
		name string
		got  Policy
		want Policy
	}{
		{"ppolicy in seconds", ppolicyPolicy("TRUE", "3", "300", "7776000"),
			Policy{Lockout: true, MaxFailures: 3, LockoutDuration: 5 * time.Minute, MaxPasswordAge: 90 * 24 * time.Hour}},
		{"ppolicy without lockout", ppolicyPolicy("FALSE", "", "", ""), Policy{}},
		{"ppolicy duration 0 means until lifted", ppolicyPolicy("TRUE", "3", "0", "0"), Policy{Lockout: true, MaxFailures: 3}},
		{"AD intervals", adPolicy("-18000000000", "5", "-36288000000000"),
			Policy{Lockout: true, MaxFailures: 5, LockoutDuration: 30 * time.Minute, MaxPasswordAge: 42 * 24 * time.Hour}},
		{"AD threshold 0 is no lockout", adPolicy("-18000000000", "0", "0"), Policy{LockoutDuration: 30 * time.Minute}},
		{"AD never", adPolicy("-9223372036854775808", "5", "-9223372036854775808"), Policy{Lockout: true, MaxFailures: 5}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
}

func TestTimeFormats(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"20260310120000Z", now, true},
		{"20260310120000.000001Z", now.Add(time.Microsecond), true},
		{"202603101200Z", now, true},
		{"2026031012Z", now, true},
		{"20260310140000+0200", now, true},
		{"20260310093000-0230", now, true},
		{"20260310120000", time.Time{}, false},
		{"2026-03-10T12:00:00Z", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := parseGeneralizedTime(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseGeneralizedTime(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	n, _ := parseInt(ft(now))
	if got, ok := fileTime(n); !ok || !got.Equal(now) {
		t.Errorf("fileTime round trip: %v, %v", got, ok)
	}
	if got, ok := fileTime(130000000000000000); !ok || got.Year() != 2012 {
		t.Errorf("fileTime(130000000000000000) = %v, want a day of 2012", got)
	}
	for _, never := range []int64{0, 9223372036854775807} {
		if _, ok := fileTime(never); ok {
			t.Errorf("fileTime(%d) is a time; it means none", never)
		}
	}
}

func TestAdPasswordIsQuotedUTF16LE(t *testing.T) {
	if got, want := adPassword("Pä"), "\"\x00P\x00\xe4\x00\"\x00"; got != want {
		t.Fatalf("adPassword = %q, want %q", got, want)
	}
}

func TestRefusalRules(t *testing.T) {
	tests := map[string]Refusal{
		"Password fails quality checking policy":            RefusedQuality,
		"Password is in history of old passwords":           RefusedHistory,
		"Password is not being changed from existing value": RefusedHistory,
		"Password is too young to change":                   RefusedTooYoung,
		"0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!": RefusedQuality,
		"something new": RefusedOther,
	}
	for reason, want := range tests {
		if got := refusal(reason); got.Rule != want || got.Reason != reason {
			t.Errorf("refusal(%q) = %+v, want rule %s", reason, got, want)
		}
	}
}

// Whatever a directory writes into the lock attributes, Derive answers a state of the contract and
// never panics; a temporary lock always has its end, and nothing else has one.
func FuzzDerive(f *testing.F) {
	f.Add("000001010000Z", "20260310115900.123456Z", "130000000000000000", "512", "16", "-18000000000")
	f.Add("20260310120000+0100", "", "0", "514", "", "-9223372036854775808")
	f.Add("2026031012Z", "x", "9223372036854775807", "66048", "8388608", "0")
	f.Fuzz(func(t *testing.T, lockedTime, failure, fileTimeValue, uac, computed, interval string) {
		valid := map[State]bool{StateActive: true, StateLockedTemporarily: true, StateLocked: true,
			StateFrozen: true, StateDisabled: true, StateExpired: true}
		for _, kind := range []Kind{OpenLDAP, ActiveDirectory} {
			a := LockAttributes{PwdAccountLockedTime: lockedTime, PwdFailureTime: []string{failure}, PwdChangedTime: lockedTime,
				PwdEndTime: failure, LockoutTime: fileTimeValue, UserAccountControl: uac, UserAccountControlComputed: computed,
				PwdLastSet: fileTimeValue, AccountExpires: interval, BadPwdCount: failure}
			for _, p := range []Policy{ppolicyPolicy("TRUE", "3", interval, interval), adPolicy(interval, "3", interval)} {
				s := Derive(kind, a, p, now)
				if !valid[s.State] || (s.State == StateLockedTemporarily) != !s.LockedUntil.IsZero() {
					t.Fatalf("%s %+v with %+v: %+v", kind, a, p, s)
				}
			}
		}
	})
}
