package lockout

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func TestDefaultPolicyIsValid(t *testing.T) {
	p := DefaultPolicy()
	if err := p.Validate(); err != nil {
		t.Fatalf("DefaultPolicy().Validate() = %v", err)
	}
	want := Policy{Threshold: 10, Duration: 15 * time.Minute, Backoff: 2, MaxDuration: time.Hour, MaxTemporary: 3, Memory: 24 * time.Hour, IgnoreRepeated: true}
	if p != want {
		t.Fatalf("DefaultPolicy() = %+v, want %+v", p, want)
	}
}

func TestOutcomeString(t *testing.T) {
	tests := []struct {
		o    Outcome
		want string
	}{
		{NoLock, "no_lock"},
		{LockTemporarily, "lock_temporarily"},
		{LockHard, "lock_hard"},
		{Outcome(7), "Outcome(7)"},
		{Outcome(-1), "Outcome(-1)"},
	}
	for _, tt := range tests {
		if got := tt.o.String(); got != tt.want {
			t.Errorf("Outcome(%d).String() = %q, want %q", int(tt.o), got, tt.want)
		}
	}
}

func TestAfterFailure(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		name            string
		p               Policy
		failures        int
		recentTemporary int
		want            Decision
	}{
		{"first failure", p, 1, 0, Decision{Outcome: NoLock}},
		{"one below threshold", p, 9, 0, Decision{Outcome: NoLock}},
		{"below threshold ignores history", p, 9, 5, Decision{Outcome: NoLock}},
		{"at threshold locks", p, 10, 0, Decision{LockTemporarily, t0.Add(15 * time.Minute), 15 * time.Minute}},
		{"raced past threshold locks the same", p, 11, 0, Decision{LockTemporarily, t0.Add(15 * time.Minute), 15 * time.Minute}},
		{"second lock backs off", p, 10, 1, Decision{LockTemporarily, t0.Add(30 * time.Minute), 30 * time.Minute}},
		{"third lock backs off", p, 10, 2, Decision{LockTemporarily, t0.Add(time.Hour), time.Hour}},
		{"after MaxTemporary locks goes hard", p, 10, 3, Decision{Outcome: LockHard}},
		{"well beyond MaxTemporary stays hard", p, 12, 50, Decision{Outcome: LockHard}},
		{"threshold 1 locks on first failure", Policy{Threshold: 1, Duration: 2 * time.Second, Backoff: 1, MaxDuration: 2 * time.Second, MaxTemporary: 1, Memory: time.Hour}, 1, 0, Decision{LockTemporarily, t0.Add(2 * time.Second), 2 * time.Second}},
		{"MaxTemporary 1 hard on second", Policy{Threshold: 1, Duration: 2 * time.Second, Backoff: 1, MaxDuration: 2 * time.Second, MaxTemporary: 1, Memory: time.Hour}, 1, 1, Decision{Outcome: LockHard}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AfterFailure(tt.p, tt.failures, tt.recentTemporary, t0)
			if got != tt.want {
				t.Fatalf("AfterFailure(failures=%d, recent=%d) = %+v, want %+v", tt.failures, tt.recentTemporary, got, tt.want)
			}
		})
	}
}

// TestAfterFailureThresholdBoundary walks every threshold so an off-by-one in
// either direction shows up regardless of the configured value.
func TestAfterFailureThresholdBoundary(t *testing.T) {
	for _, threshold := range []int{1, 2, 3, 5, 10, 100, 1000} {
		p := DefaultPolicy()
		p.Threshold = threshold
		if got := AfterFailure(p, threshold-1, 0, t0).Outcome; got != NoLock {
			t.Errorf("threshold %d: failures %d = %v, want NoLock", threshold, threshold-1, got)
		}
		if got := AfterFailure(p, threshold, 0, t0).Outcome; got != LockTemporarily {
			t.Errorf("threshold %d: failures %d = %v, want LockTemporarily", threshold, threshold, got)
		}
	}
}

// TestEscalation replays a sequence of lockouts the way the caller would:
// each lock's start is recorded and counted back in for the next decision.
func TestEscalation(t *testing.T) {
	p := DefaultPolicy()
	var starts []time.Time
	now := t0
	wantOutcomes := []Outcome{LockTemporarily, LockTemporarily, LockTemporarily, LockHard}
	wantDurations := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 0}
	for i, want := range wantOutcomes {
		d := AfterFailure(p, p.Threshold, CountRecent(p, starts, now), now)
		if d.Outcome != want || d.Duration != wantDurations[i] {
			t.Fatalf("lock %d: got %v %s, want %v %s", i, d.Outcome, d.Duration, want, wantDurations[i])
		}
		if d.Outcome == LockTemporarily {
			starts = append(starts, now)
			now = d.Until
		}
	}

	// Once the first lock is forgotten, the next one is temporary again.
	later := starts[0].Add(p.Memory)
	d := AfterFailure(p, p.Threshold, CountRecent(p, starts, later), later)
	if d.Outcome != LockTemporarily || d.Duration != time.Hour {
		t.Fatalf("after memory of first lock: got %v %s, want LockTemporarily 1h", d.Outcome, d.Duration)
	}
}

func TestTemporaryDuration(t *testing.T) {
	def := DefaultPolicy()
	noBackoff := def
	noBackoff.Backoff = 1
	triple := def
	triple.Backoff = 3
	triple.MaxDuration = 30 * day
	hugeBackoff := def
	hugeBackoff.Backoff = math.MaxInt
	tinyBase := Policy{Duration: 1, Backoff: 2, MaxDuration: 30 * day}
	brokenCap := def
	brokenCap.MaxDuration = 0

	tests := []struct {
		name string
		p    Policy
		n    int
		want time.Duration
	}{
		{"first", def, 0, 15 * time.Minute},
		{"second", def, 1, 30 * time.Minute},
		{"third", def, 2, time.Hour},
		{"fourth capped", def, 3, time.Hour},
		{"huge n capped", def, math.MaxInt, time.Hour},
		{"negative n is first", def, -1, 15 * time.Minute},
		{"min int n is first", def, math.MinInt, 15 * time.Minute},
		{"backoff 1 constant", noBackoff, 5, 15 * time.Minute},
		{"backoff 1 huge n", noBackoff, math.MaxInt, 15 * time.Minute},
		{"backoff 3", triple, 2, 135 * time.Minute},
		{"backoff 3 huge n capped", triple, math.MaxInt, 30 * day},
		{"huge backoff capped without overflow", hugeBackoff, 1, time.Hour},
		{"huge backoff huge n", hugeBackoff, math.MaxInt, time.Hour},
		{"1ns doubling reaches cap", tinyBase, 62, 30 * day},
		{"1ns doubling below cap", tinyBase, 10, 1024},
		{"cap below base keeps base", brokenCap, 3, 15 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TemporaryDuration(tt.p, tt.n); got != tt.want {
				t.Fatalf("TemporaryDuration(n=%d) = %s, want %s", tt.n, got, tt.want)
			}
		})
	}
}

// TestTemporaryDurationMonotonic checks for every n up to well past the
// overflow point that lengths never shrink, go negative or exceed the cap.
func TestTemporaryDurationMonotonic(t *testing.T) {
	for _, backoff := range []int{1, 2, 3, 10, 1 << 40} {
		p := Policy{Duration: time.Second, Backoff: backoff, MaxDuration: 30 * day}
		prev := time.Duration(0)
		for n := 0; n < 200; n++ {
			d := TemporaryDuration(p, n)
			if d < prev || d <= 0 || d > p.MaxDuration {
				t.Fatalf("backoff %d n %d: %s after %s", backoff, n, d, prev)
			}
			prev = d
		}
	}
}

func TestCountRecent(t *testing.T) {
	p := DefaultPolicy() // Memory 24h
	tests := []struct {
		name   string
		starts []time.Time
		want   int
	}{
		{"none", nil, 0},
		{"now counts", []time.Time{t0}, 1},
		{"just inside memory", []time.Time{t0.Add(-p.Memory + time.Nanosecond)}, 1},
		{"exactly at memory boundary forgotten", []time.Time{t0.Add(-p.Memory)}, 0},
		{"older than memory", []time.Time{t0.Add(-p.Memory - time.Second)}, 0},
		{"future not counted", []time.Time{t0.Add(time.Nanosecond)}, 0},
		{"mixed", []time.Time{
			t0.Add(-48 * time.Hour),
			t0.Add(-p.Memory),
			t0.Add(-23 * time.Hour),
			t0.Add(-time.Minute),
			t0,
			t0.Add(time.Minute),
		}, 3},
		{"other time zone same instant", []time.Time{t0.In(time.FixedZone("X", 5*3600)).Add(-time.Hour)}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountRecent(p, tt.starts, t0); got != tt.want {
				t.Fatalf("CountRecent = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestDeviceThreshold(t *testing.T) {
	tests := []struct{ threshold, want int }{
		{1, 1},
		{2, 2},
		{3, 3},
		{6, 3},
		{7, 3},
		{8, 4},
		{10, 5},
		{20, 10},
		{1000, 500},
	}
	for _, tt := range tests {
		p := DefaultPolicy()
		p.Threshold = tt.threshold
		got := DeviceThreshold(p)
		if got != tt.want {
			t.Errorf("DeviceThreshold(threshold %d) = %d, want %d", tt.threshold, got, tt.want)
		}
		if got > tt.threshold {
			t.Errorf("DeviceThreshold(threshold %d) = %d, above account threshold", tt.threshold, got)
		}
	}
}

func TestDeviceLocked(t *testing.T) {
	p := DefaultPolicy() // device allowance 5
	tests := []struct {
		failures int
		want     bool
	}{
		{0, false},
		{4, false},
		{5, true},
		{6, true},
	}
	for _, tt := range tests {
		if got := DeviceLocked(p, tt.failures); got != tt.want {
			t.Errorf("DeviceLocked(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	with := func(f func(*Policy)) Policy {
		p := DefaultPolicy()
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		p       Policy
		wantErr string // substring; empty means valid
	}{
		{"default", DefaultPolicy(), ""},
		{"short lock for tests", with(func(p *Policy) { p.Duration = 2 * time.Second; p.MaxDuration = 2 * time.Second }), ""},
		{"short lock with larger cap", with(func(p *Policy) { p.Duration = 2 * time.Second }), ""},
		{"backoff 1", with(func(p *Policy) { p.Backoff = 1 }), ""},
		{"upper bounds inclusive", Policy{Threshold: 1000, Duration: 30 * day, Backoff: 2, MaxDuration: 30 * day, MaxTemporary: 100, Memory: 365 * day}, ""},
		{"lower bounds inclusive", Policy{Threshold: 1, Duration: 1, Backoff: 1, MaxDuration: 1, MaxTemporary: 1, Memory: 1}, ""},

		{"zero threshold", with(func(p *Policy) { p.Threshold = 0 }), "lockout.threshold must be at least 1"},
		{"negative threshold", with(func(p *Policy) { p.Threshold = -3 }), "lockout.threshold must be at least 1"},
		{"absurd threshold", with(func(p *Policy) { p.Threshold = 1001 }), "lockout.threshold must be at most 1000"},
		{"zero duration", with(func(p *Policy) { p.Duration = 0 }), "lockout.duration must be positive"},
		{"negative duration", with(func(p *Policy) { p.Duration = -time.Minute }), "lockout.duration must be positive"},
		{"absurd duration", with(func(p *Policy) { p.Duration = 30*day + 1; p.MaxDuration = 30 * day }), "lockout.duration must be at most"},
		{"zero backoff", with(func(p *Policy) { p.Backoff = 0 }), "lockout.backoff must be at least 1"},
		{"negative backoff", with(func(p *Policy) { p.Backoff = -2 }), "lockout.backoff must be at least 1"},
		{"zero max duration", with(func(p *Policy) { p.MaxDuration = 0 }), "lockout.max_duration must be positive"},
		{"negative max duration", with(func(p *Policy) { p.MaxDuration = -time.Hour }), "lockout.max_duration must be positive"},
		{"absurd max duration", with(func(p *Policy) { p.MaxDuration = 31 * day }), "lockout.max_duration must be at most"},
		{"max duration below duration", with(func(p *Policy) { p.MaxDuration = 10 * time.Minute }), "lockout.max_duration must be at least lockout.duration"},
		{"zero max temporary", with(func(p *Policy) { p.MaxTemporary = 0 }), "lockout.max_temporary must be at least 1"},
		{"negative max temporary", with(func(p *Policy) { p.MaxTemporary = -1 }), "lockout.max_temporary must be at least 1"},
		{"absurd max temporary", with(func(p *Policy) { p.MaxTemporary = 101 }), "lockout.max_temporary must be at most 100"},
		{"zero memory", with(func(p *Policy) { p.Memory = 0 }), "lockout.memory must be positive"},
		{"negative memory", with(func(p *Policy) { p.Memory = -day }), "lockout.memory must be positive"},
		{"absurd memory", with(func(p *Policy) { p.Memory = 366 * day }), "lockout.memory must be at most"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.p, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate(%+v) = nil, want error containing %q", tt.p, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryKey(t *testing.T) {
	err := Policy{}.Validate()
	if err == nil {
		t.Fatal("zero Policy validated")
	}
	for _, k := range Keys() {
		if k == KeyIgnoreRepeated {
			continue // a bool cannot be out of range
		}
		if !strings.Contains(err.Error(), k+" ") {
			t.Errorf("error %q does not name %s", err, k)
		}
	}
}

func TestSetValuesRoundTrip(t *testing.T) {
	policies := []Policy{
		DefaultPolicy(),
		{Threshold: 3, Duration: 2 * time.Second, Backoff: 1, MaxDuration: 2 * time.Second, MaxTemporary: 1, Memory: time.Minute, IgnoreRepeated: true},
		{Threshold: 1000, Duration: 90 * time.Minute, Backoff: 7, MaxDuration: 30 * day, MaxTemporary: 100, Memory: 365 * day},
		{Threshold: 5, Duration: 1500 * time.Millisecond, Backoff: 3, MaxDuration: time.Hour + time.Nanosecond, MaxTemporary: 2, Memory: 36 * time.Hour, IgnoreRepeated: true},
	}
	for _, want := range policies {
		values := want.Values()
		if len(values) != len(Keys()) {
			t.Fatalf("Values() has %d keys, want %d: %v", len(values), len(Keys()), values)
		}
		var got Policy
		for _, k := range Keys() {
			v, ok := values[k]
			if !ok {
				t.Fatalf("Values() misses %s", k)
			}
			if err := got.Set(k, v); err != nil {
				t.Fatalf("Set(%q, %q) = %v", k, v, err)
			}
		}
		if got != want {
			t.Fatalf("round trip: got %+v, want %+v (values %v)", got, want, values)
		}
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		key, value string
		check      func(Policy) bool
	}{
		{KeyThreshold, "5", func(p Policy) bool { return p.Threshold == 5 }},
		{KeyThreshold, " 7 ", func(p Policy) bool { return p.Threshold == 7 }},
		{KeyDuration, "2s", func(p Policy) bool { return p.Duration == 2*time.Second }},
		{KeyDuration, "15m", func(p Policy) bool { return p.Duration == 15*time.Minute }},
		{KeyBackoff, "1", func(p Policy) bool { return p.Backoff == 1 }},
		{KeyMaxDuration, "1h30m", func(p Policy) bool { return p.MaxDuration == 90*time.Minute }},
		{KeyMaxTemporary, "4", func(p Policy) bool { return p.MaxTemporary == 4 }},
		{KeyMemory, "48h", func(p Policy) bool { return p.Memory == 48*time.Hour }},
		{KeyIgnoreRepeated, "true", func(p Policy) bool { return p.IgnoreRepeated }},
		{KeyIgnoreRepeated, "false", func(p Policy) bool { return !p.IgnoreRepeated }},
	}
	for _, tt := range tests {
		p := DefaultPolicy()
		p.IgnoreRepeated = tt.value != "true"
		if err := p.Set(tt.key, tt.value); err != nil {
			t.Errorf("Set(%q, %q) = %v", tt.key, tt.value, err)
			continue
		}
		if !tt.check(p) {
			t.Errorf("Set(%q, %q) gave %+v", tt.key, tt.value, p)
		}
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct {
		key, value string
		unknownKey bool
	}{
		{"lockout.nope", "1", true},
		{"", "1", true},
		{"threshold", "10", true},
		{"LOCKOUT.THRESHOLD", "10", true},
		{KeyThreshold, "", false},
		{KeyThreshold, "ten", false},
		{KeyThreshold, "1.5", false},
		{KeyThreshold, "99999999999999999999999", false},
		{KeyBackoff, "2x", false},
		{KeyMaxTemporary, "3 4", false},
		{KeyDuration, "15", false}, // no unit: refused rather than guessed
		{KeyDuration, "fifteen minutes", false},
		{KeyMaxDuration, "", false},
		{KeyMemory, "1d", false}, // Go durations have no day unit
		{KeyIgnoreRepeated, "yes", false},
		{KeyIgnoreRepeated, "1", false},
		{KeyIgnoreRepeated, "TRUE", false},
		{KeyIgnoreRepeated, "", false},
	}
	for _, tt := range tests {
		p := DefaultPolicy()
		before := p
		err := p.Set(tt.key, tt.value)
		if err == nil {
			t.Errorf("Set(%q, %q) = nil, want error", tt.key, tt.value)
			continue
		}
		if got := errors.Is(err, ErrUnknownKey); got != tt.unknownKey {
			t.Errorf("Set(%q, %q): errors.Is(ErrUnknownKey) = %v, want %v (%v)", tt.key, tt.value, got, tt.unknownKey, err)
		}
		if tt.key != "" && !strings.Contains(err.Error(), tt.key) {
			t.Errorf("Set(%q, %q) error %q does not name the key", tt.key, tt.value, err)
		}
		if p != before {
			t.Errorf("Set(%q, %q) changed the policy on error: %+v", tt.key, tt.value, p)
		}
	}
}

func FuzzSet(f *testing.F) {
	for _, k := range Keys() {
		for _, v := range DefaultPolicy().Values() {
			f.Add(k, v)
		}
	}
	f.Add("lockout.duration", "-2562047h47m16.854775808s")
	f.Add("lockout.threshold", "-9223372036854775808")
	f.Add("x", "")
	f.Fuzz(func(t *testing.T, key, value string) {
		p := DefaultPolicy()
		if err := p.Set(key, value); err != nil {
			return
		}
		// Whatever Set accepted must come back out of Values in a form Set
		// accepts again, unchanged.
		v, ok := p.Values()[key]
		if !ok {
			t.Fatalf("Set accepted key %q that Values does not list", key)
		}
		q := DefaultPolicy()
		if err := q.Set(key, v); err != nil {
			t.Fatalf("Set(%q, %q) refused Values output: %v", key, v, err)
		}
		if p != q {
			t.Fatalf("round trip of %q=%q via %q: %+v != %+v", key, value, v, p, q)
		}
		_ = p.Validate() // must not panic on anything Set lets through
	})
}
