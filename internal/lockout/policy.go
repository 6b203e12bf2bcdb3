package lockout

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy is one lockout configuration. See DefaultPolicy for the defaults and
// Validate for the accepted ranges.
type Policy struct {
	// Threshold is the number of consecutive failed sign-ins that locks the account.
	Threshold int
	// Duration is the length of the first temporary lock within Memory.
	Duration time.Duration
	// Backoff multiplies the length of each further temporary lock.
	Backoff int
	// MaxDuration caps a single temporary lock.
	MaxDuration time.Duration
	// MaxTemporary is how many temporary locks may start within Memory; the
	// next lock is the hard "locked" state.
	MaxTemporary int
	// Memory is how long past temporary locks count towards escalation.
	Memory time.Duration
	// IgnoreRepeated makes a failure with the same wrong password as the
	// previous failure not count again, so a client retrying a saved wrong
	// password does not burn the whole allowance. The comparison itself is
	// the caller's; this package only carries the setting.
	IgnoreRepeated bool
}

// Keys of the string key/value form used by the CLI and the policy table.
const (
	KeyThreshold      = "lockout.threshold"
	KeyDuration       = "lockout.duration"
	KeyBackoff        = "lockout.backoff"
	KeyMaxDuration    = "lockout.max_duration"
	KeyMaxTemporary   = "lockout.max_temporary"
	KeyMemory         = "lockout.memory"
	KeyIgnoreRepeated = "lockout.ignore_repeated_password"
)

// Keys returns every policy key in a stable order, for listings.
func Keys() []string {
	return []string{
		KeyThreshold, KeyDuration, KeyBackoff, KeyMaxDuration,
		KeyMaxTemporary, KeyMemory, KeyIgnoreRepeated,
	}
}

// ErrUnknownKey is wrapped by Set for a key that is not a lockout policy key.
var ErrUnknownKey = errors.New("unknown policy key")

// Upper bounds beyond which a value is almost certainly a typo (a missing
// unit, an extra zero) that would effectively disable lockout or lock users
// out for good.
const (
	maxThreshold    = 1000
	maxLockDuration = 30 * 24 * time.Hour
	maxMemory       = 365 * 24 * time.Hour
	maxMaxTemporary = 100
)

// DefaultPolicy returns the policy used when nothing is configured.
func DefaultPolicy() Policy {
	return Policy{
		Threshold:      10,
		Duration:       15 * time.Minute,
		Backoff:        2,
		MaxDuration:    time.Hour,
		MaxTemporary:   3,
		Memory:         24 * time.Hour,
		IgnoreRepeated: true,
	}
}

// Problem is one value Validate refuses: Key, the bound it breaks ("min", "max", "positive", or
// "min_key" for at least the value of Other) with its Limit, and the value Got, all as text.
type Problem struct {
	Key, Bound, Limit, Other, Got string
	text                          string
}

func (p *Problem) Error() string { return p.text }

// Set's refusals of a value that does not parse, wrapped with the key and value.
var (
	ErrNotInteger  = errors.New("is not an integer")
	ErrNotDuration = errors.New(`is not a duration like "15m" or "2s"`)
	ErrNotBool     = errors.New("is not true or false")
)

// Validate refuses values that would disable or break lockout. It reports
// every problem at once (joined), each naming its key, so an operator fixes
// a policy in one round.
func (p Policy) Validate() error {
	var errs []error
	bad := func(key, bound, other string, limit, got any, format string, args ...any) {
		l := ""
		if limit != nil {
			l = fmt.Sprint(limit)
		}
		errs = append(errs, &Problem{Key: key, Bound: bound, Limit: l, Other: other, Got: fmt.Sprint(got),
			text: fmt.Sprintf(key+" "+format, args...)})
	}

	switch {
	case p.Threshold < 1:
		bad(KeyThreshold, "min", "", 1, p.Threshold, "must be at least 1, got %d", p.Threshold)
	case p.Threshold > maxThreshold:
		bad(KeyThreshold, "max", "", maxThreshold, p.Threshold, "must be at most %d, got %d", maxThreshold, p.Threshold)
	}
	switch {
	case p.Duration <= 0:
		bad(KeyDuration, "positive", "", nil, p.Duration, "must be positive, got %s", p.Duration)
	case p.Duration > maxLockDuration:
		bad(KeyDuration, "max", "", maxLockDuration, p.Duration, "must be at most %s, got %s", maxLockDuration, p.Duration)
	}
	if p.Backoff < 1 {
		bad(KeyBackoff, "min", "", 1, p.Backoff, "must be at least 1, got %d", p.Backoff)
	}
	switch {
	case p.MaxDuration <= 0:
		bad(KeyMaxDuration, "positive", "", nil, p.MaxDuration, "must be positive, got %s", p.MaxDuration)
	case p.MaxDuration > maxLockDuration:
		bad(KeyMaxDuration, "max", "", maxLockDuration, p.MaxDuration, "must be at most %s, got %s", maxLockDuration, p.MaxDuration)
	case p.MaxDuration < p.Duration:
		bad(KeyMaxDuration, "min_key", KeyDuration, p.Duration, p.MaxDuration, "must be at least %s (%s), got %s", KeyDuration, p.Duration, p.MaxDuration)
	}
	switch {
	case p.MaxTemporary < 1:
		bad(KeyMaxTemporary, "min", "", 1, p.MaxTemporary, "must be at least 1, got %d", p.MaxTemporary)
	case p.MaxTemporary > maxMaxTemporary:
		bad(KeyMaxTemporary, "max", "", maxMaxTemporary, p.MaxTemporary, "must be at most %d, got %d", maxMaxTemporary, p.MaxTemporary)
	}
	switch {
	case p.Memory <= 0:
		bad(KeyMemory, "positive", "", nil, p.Memory, "must be positive, got %s", p.Memory)
	case p.Memory > maxMemory:
		bad(KeyMemory, "max", "", maxMemory, p.Memory, "must be at most %s, got %s", maxMemory, p.Memory)
	}
	return errors.Join(errs...)
}

// Set applies one key=value onto p. Durations are Go durations ("2s", "15m")
// so a bare number, whose unit would be a guess, is refused; bools are
// exactly "true" or "false". Set checks syntax only and leaves p unchanged on
// error: ranges involve several keys (MaxDuration against Duration), so call
// Validate once all keys are applied.
func (p *Policy) Set(key, value string) error {
	v := strings.TrimSpace(value)
	switch key {
	case KeyThreshold:
		return setInt(key, v, &p.Threshold)
	case KeyBackoff:
		return setInt(key, v, &p.Backoff)
	case KeyMaxTemporary:
		return setInt(key, v, &p.MaxTemporary)
	case KeyDuration:
		return setDuration(key, v, &p.Duration)
	case KeyMaxDuration:
		return setDuration(key, v, &p.MaxDuration)
	case KeyMemory:
		return setDuration(key, v, &p.Memory)
	case KeyIgnoreRepeated:
		switch v {
		case "true":
			p.IgnoreRepeated = true
		case "false":
			p.IgnoreRepeated = false
		default:
			return fmt.Errorf("%s: %q %w", key, value, ErrNotBool)
		}
		return nil
	}
	return fmt.Errorf("%w: %q", ErrUnknownKey, key)
}

func setInt(key, v string, dst *int) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%s: %q %w", key, v, ErrNotInteger)
	}
	*dst = n
	return nil
}

func setDuration(key, v string, dst *time.Duration) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s: %q %w", key, v, ErrNotDuration)
	}
	*dst = d
	return nil
}

// Values returns every key with its value in the form Set accepts.
func (p Policy) Values() map[string]string {
	return map[string]string{
		KeyThreshold:      strconv.Itoa(p.Threshold),
		KeyDuration:       p.Duration.String(),
		KeyBackoff:        strconv.Itoa(p.Backoff),
		KeyMaxDuration:    p.MaxDuration.String(),
		KeyMaxTemporary:   strconv.Itoa(p.MaxTemporary),
		KeyMemory:         p.Memory.String(),
		KeyIgnoreRepeated: strconv.FormatBool(p.IgnoreRepeated),
	}
}
