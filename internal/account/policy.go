package account

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/unlockd/unlockd/internal/lockout"
)

// Policy is every tunable rule of CONTRACT.md: the lockout rules plus codes, reset links, passwords
// and unlocking. It is stored in PostgreSQL as the keys that differ from DefaultPolicy.
type Policy struct {
	Lockout               lockout.Policy
	CodeLength            int
	CodeTTL               time.Duration
	CodeMaxAttempts       int
	CodeResendInterval    time.Duration
	ResetTTL              time.Duration
	PasswordMinLength     int
	UnlockMethodsRequired int
	ResetClearsLock       bool

	// DirectoryExpiryWarning is how long before a directory password expires its owner is
	// warned; 0: never.
	DirectoryExpiryWarning time.Duration
}

// DefaultPolicy is the policy before anyone changes it.
func DefaultPolicy() Policy {
	return Policy{
		Lockout:               lockout.DefaultPolicy(),
		CodeLength:            6,
		CodeTTL:               10 * time.Minute,
		CodeMaxAttempts:       5,
		CodeResendInterval:    60 * time.Second,
		ResetTTL:              30 * time.Minute,
		PasswordMinLength:     15,
		UnlockMethodsRequired: 1,
		ResetClearsLock:       true,

		DirectoryExpiryWarning: 14 * 24 * time.Hour,
	}
}

// PolicyKeys lists every key in the order of CONTRACT.md.
func PolicyKeys() []string {
	return append(lockout.Keys(), "code.length", "code.ttl", "code.max_attempts", "code.resend_interval",
		"reset.ttl", "password.min_length", "unlock.methods_required", "unlock.reset_clears_lock", KeyDirectoryExpiryWarning)
}

// PolicyHelp explains each key, for `policy show` and the policy editor.
var PolicyHelp = map[string]string{
	lockout.KeyThreshold:       "consecutive failed sign-ins that lock the account",
	lockout.KeyDuration:        "length of the first temporary lock",
	lockout.KeyBackoff:         "each further temporary lock lasts this many times longer",
	lockout.KeyMaxDuration:     "cap on one temporary lock",
	lockout.KeyMaxTemporary:    "temporary locks allowed within lockout.memory before the account needs verification",
	lockout.KeyMemory:          "how long past temporary locks are remembered",
	lockout.KeyIgnoreRepeated:  "the same wrong password again does not count",
	"code.length":              "digits in one-time codes",
	"code.ttl":                 "lifetime of a one-time code",
	"code.max_attempts":        "wrong entries that burn a code",
	"code.resend_interval":     "minimum gap between two codes to one account",
	"reset.ttl":                "lifetime of a reset link",
	"password.min_length":      "minimum password length in characters (8 with a second factor)",
	"unlock.methods_required":  "verified methods needed to unlock or reset",
	"unlock.reset_clears_lock": "a completed password reset also unlocks",
	KeyDirectoryExpiryWarning:  "how long before a directory password expires its owner is warned (14d; 0: never)",
}

// KeyDirectoryExpiryWarning is the policy key of Policy.DirectoryExpiryWarning.
const KeyDirectoryExpiryWarning = "directory.expiry_warning"

// Set changes one key. Ranges are checked by Validate, once every change is applied.
func (p *Policy) Set(key, value string) error {
	value = strings.TrimSpace(value)
	err := p.Lockout.Set(key, value)
	if !errors.Is(err, lockout.ErrUnknownKey) {
		if err != nil {
			return lockoutSetError(key, value, err)
		}
		return nil
	}
	switch key {
	case "code.length":
		return setInt(key, value, &p.CodeLength)
	case "code.ttl":
		return setDuration(key, value, &p.CodeTTL)
	case "code.max_attempts":
		return setInt(key, value, &p.CodeMaxAttempts)
	case "code.resend_interval":
		return setDuration(key, value, &p.CodeResendInterval)
	case "reset.ttl":
		return setDuration(key, value, &p.ResetTTL)
	case "password.min_length":
		return setInt(key, value, &p.PasswordMinLength)
	case "unlock.methods_required":
		return setInt(key, value, &p.UnlockMethodsRequired)
	case KeyDirectoryExpiryWarning:
		return setDays(key, value, &p.DirectoryExpiryWarning)
	case "unlock.reset_clears_lock":
		b, err := strconv.ParseBool(value)
		if err != nil || (value != "true" && value != "false") {
			return Fail(EINVALID, "err_policy_not_bool", map[string]any{"Key": key, "Value": value}, "%s must be true or false, not %q", key, value)
		}
		p.ResetClearsLock = b
		return nil
	}
	return Fail(EINVALID, "err_policy_unknown_key", map[string]any{"Key": key}, "unknown policy key %q (known: %s)", key, strings.Join(PolicyKeys(), ", "))
}

// lockoutSetError is a lockout key's refused value, with the message of its kind.
func lockoutSetError(key, value string, err error) error {
	data := map[string]any{"Key": key, "Value": value}
	switch {
	case errors.Is(err, lockout.ErrNotInteger):
		return Fail(EINVALID, "err_policy_not_number", data, "%v", err)
	case errors.Is(err, lockout.ErrNotDuration):
		return Fail(EINVALID, "err_policy_not_duration", data, "%v", err)
	case errors.Is(err, lockout.ErrNotBool):
		return Fail(EINVALID, "err_policy_not_bool", data, "%v", err)
	}
	return Errorf(EINVALID, "%v", err)
}

func setInt(key, value string, dst *int) error {
	n, err := strconv.Atoi(value)
	if err != nil {
		return Fail(EINVALID, "err_policy_not_number", map[string]any{"Key": key, "Value": value}, "%s must be a whole number, not %q", key, value)
	}
	*dst = n
	return nil
}

func setDuration(key, value string, dst *time.Duration) error {
	d, err := time.ParseDuration(value)
	if err != nil {
		return Fail(EINVALID, "err_policy_not_duration", map[string]any{"Key": key, "Value": value}, "%s must be a duration such as 90s, 15m or 1h, not %q", key, value)
	}
	*dst = d
	return nil
}

// setDays reads a duration that may also be whole days ("14d"), as a password's lifetime is.
func setDays(key, value string, dst *time.Duration) error {
	if n, ok := strings.CutSuffix(value, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days >= -maxDays && days <= maxDays {
			*dst = time.Duration(days) * day
			return nil
		}
	}
	return setDuration(key, value, dst)
}

const (
	day     = 24 * time.Hour
	maxDays = 100000 // beyond it a count of days overflows no duration, and Validate refuses it anyway
)

// formatDays writes a duration of whole days as days ("14d"), any other as Go does.
func formatDays(d time.Duration) string {
	if d != 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return d.String()
}

// Values returns every key's value as text, in the form Set accepts.
func (p Policy) Values() map[string]string {
	v := p.Lockout.Values()
	v["code.length"] = strconv.Itoa(p.CodeLength)
	v["code.ttl"] = p.CodeTTL.String()
	v["code.max_attempts"] = strconv.Itoa(p.CodeMaxAttempts)
	v["code.resend_interval"] = p.CodeResendInterval.String()
	v["reset.ttl"] = p.ResetTTL.String()
	v["password.min_length"] = strconv.Itoa(p.PasswordMinLength)
	v["unlock.methods_required"] = strconv.Itoa(p.UnlockMethodsRequired)
	v["unlock.reset_clears_lock"] = strconv.FormatBool(p.ResetClearsLock)
	v[KeyDirectoryExpiryWarning] = formatDays(p.DirectoryExpiryWarning)
	return v
}

// Validate refuses values that would disable a protection or make the product unusable.
func (p Policy) Validate() error {
	var problems []*Error
	if err := p.Lockout.Validate(); err != nil {
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			problems = append(problems, lockoutProblem(e))
		}
	}
	check := func(ok bool, key string, lo, hi, got any, format string, args ...any) {
		if !ok {
			problems = append(problems, Fail(EINVALID, "err_policy_range", map[string]any{"Key": key, "Min": fmt.Sprint(lo),
				"Max": fmt.Sprint(hi), "Value": fmt.Sprint(got)}, format, args...))
		}
	}
	check(p.CodeLength >= 6 && p.CodeLength <= 10, "code.length", 6, 10, p.CodeLength, "code.length must be 6 to 10 digits, got %d", p.CodeLength)
	check(p.CodeTTL >= 30*time.Second && p.CodeTTL <= time.Hour, "code.ttl", "30s", "1h", p.CodeTTL, "code.ttl must be 30s to 1h, got %s", p.CodeTTL)
	check(p.CodeMaxAttempts >= 1 && p.CodeMaxAttempts <= 10, "code.max_attempts", 1, 10, p.CodeMaxAttempts, "code.max_attempts must be 1 to 10, got %d", p.CodeMaxAttempts)
	check(p.CodeResendInterval >= time.Second && p.CodeResendInterval <= time.Hour, "code.resend_interval", "1s", "1h", p.CodeResendInterval, "code.resend_interval must be 1s to 1h, got %s", p.CodeResendInterval)
	check(p.ResetTTL >= time.Minute && p.ResetTTL <= 24*time.Hour, "reset.ttl", "1m", "24h", p.ResetTTL, "reset.ttl must be 1m to 24h, got %s", p.ResetTTL)
	check(p.PasswordMinLength >= 8 && p.PasswordMinLength <= 64, "password.min_length", 8, 64, p.PasswordMinLength, "password.min_length must be 8 to 64, got %d", p.PasswordMinLength)
	check(p.UnlockMethodsRequired >= 1 && p.UnlockMethodsRequired <= 2, "unlock.methods_required", 1, 2, p.UnlockMethodsRequired, "unlock.methods_required must be 1 or 2, got %d", p.UnlockMethodsRequired)
	check(p.DirectoryExpiryWarning >= 0 && p.DirectoryExpiryWarning <= 90*day, KeyDirectoryExpiryWarning, "0", "90d",
		formatDays(p.DirectoryExpiryWarning), "%s must be 0 (no warnings) to 90d, got %s", KeyDirectoryExpiryWarning, formatDays(p.DirectoryExpiryWarning))
	if len(problems) == 0 {
		return nil
	}
	sort.Slice(problems, func(i, j int) bool { return problems[i].Message < problems[j].Message })
	lines := make([]string, len(problems))
	for i, e := range problems {
		lines[i] = e.Message
	}
	return &Error{Code: EINVALID, Message: strings.Join(lines, "; "), Problems: problems}
}

// lockoutProblem is one of the lockout rules' refusals, with the message of the bound it breaks.
func lockoutProblem(err error) *Error {
	var pr *lockout.Problem
	if !errors.As(err, &pr) {
		return Errorf(EINVALID, "%v", err)
	}
	data := map[string]any{"Key": pr.Key, "Limit": pr.Limit, "Other": pr.Other, "Value": pr.Got}
	switch pr.Bound {
	case "min":
		return Fail(EINVALID, "err_policy_min", data, "%v", err)
	case "max":
		return Fail(EINVALID, "err_policy_max", data, "%v", err)
	case "positive":
		return Fail(EINVALID, "err_policy_positive", data, "%v", err)
	case "min_key":
		return Fail(EINVALID, "err_policy_min_key", data, "%v", err)
	}
	return Errorf(EINVALID, "%v", err)
}

// PolicyFromOverrides applies stored overrides to the defaults. Values are applied together (one
// key may only be valid with another, such as max_duration with duration); a stored value that no
// longer parses or validates is dropped in favour of the default, never of a weaker value.
func PolicyFromOverrides(overrides map[string]string) Policy {
	all := DefaultPolicy()
	ok := true
	for k, v := range overrides {
		ok = ok && all.Set(k, v) == nil
	}
	if ok && all.Validate() == nil {
		return all
	}
	// Some value is bad: keep every override that can be applied validly, in as many passes as it
	// takes for keys that depend on each other.
	p := DefaultPolicy()
	pending := make(map[string]string, len(overrides))
	for k, v := range overrides {
		pending[k] = v
	}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		for _, k := range PolicyKeys() {
			v, found := pending[k]
			if !found {
				continue
			}
			q := p
			if q.Set(k, v) == nil && q.Validate() == nil {
				p, progress = q, true
				delete(pending, k)
			}
		}
	}
	return p
}
