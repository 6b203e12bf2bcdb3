package directory

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// State is an account state in the words of the account domain ("active", "locked", ...), as the
// directory's own attributes decide it. A directory has no pending_verification.
type State string

const (
	StateActive            State = "active"
	StateLockedTemporarily State = "locked_temporarily"
	StateLocked            State = "locked"
	StateFrozen            State = "frozen"
	StateDisabled          State = "disabled"
	StateExpired           State = "expired"
)

// LockAttributes are the attributes that decide a person's state, as the directory wrote them.
// Only the fields of the directory's kind are filled.
type LockAttributes struct {
	// OpenLDAP ppolicy
	PwdAccountLockedTime string   // a lock's time; "000001010000Z" is an administrator's lock
	PwdFailureTime       []string // one value per counted failure
	PwdChangedTime       string
	PwdReset             string // "TRUE": the password must be changed at the next sign-in
	PwdEndTime           string // after it, the account may not sign in

	// Active Directory
	LockoutTime                string // FILETIME of the lock; "0" or absent when not locked
	BadPwdCount                string
	UserAccountControl         string
	UserAccountControlComputed string // msDS-User-Account-Control-Computed: the DC's own verdict
	PwdLastSet                 string // FILETIME; "0" means the password must be changed
	AccountExpires             string // FILETIME; 0 and 0x7FFFFFFFFFFFFFFF mean never
}

// Policy is the part of the directory's password policy that decides states and expiry.
type Policy struct {
	Lockout         bool          // ppolicy pwdLockout; AD lockoutThreshold > 0
	MaxFailures     int           // failures that lock: pwdMaxFailure, lockoutThreshold
	LockoutDuration time.Duration // 0: a lock lasts until someone lifts it
	MaxPasswordAge  time.Duration // 0: passwords do not expire
}

// Status is what Derive concludes.
type Status struct {
	State              State
	LockedAt           time.Time // when the directory locked the account; zero for an administrator's lock
	LockedUntil        time.Time // set for StateLockedTemporarily only
	FailedAttempts     int       // failures the directory counts now
	PasswordExpiresAt  time.Time // zero when the password does not expire
	PasswordMustChange bool      // the directory asks for a new password at the next sign-in
}

// AdministratorLock is the ppolicy lock time that means "locked until an administrator lifts it".
const AdministratorLock = "000001010000Z"

// Active Directory userAccountControl and msDS-User-Account-Control-Computed flags.
const (
	adAccountDisable      = 0x2
	adLockout             = 0x10
	adDontExpirePassword  = 0x10000
	adPasswordExpiredFlag = 0x800000
)

// Derive decides a person's state from the directory's attributes and policy at now. It is pure:
// the same attributes, policy and time give the same status, whatever the directory does meanwhile.
// When several states apply, the strongest wins: disabled, expired, frozen, locked, locked_temporarily.
func Derive(kind Kind, a LockAttributes, p Policy, now time.Time) Status {
	if kind == ActiveDirectory {
		return deriveAD(a, p, now)
	}
	return derivePPolicy(a, p, now)
}

func derivePPolicy(a LockAttributes, p Policy, now time.Time) Status {
	s := Status{State: StateActive, FailedAttempts: len(a.PwdFailureTime)}
	s.PasswordMustChange = strings.EqualFold(a.PwdReset, "TRUE")
	if changed, ok := parseGeneralizedTime(a.PwdChangedTime); ok && p.MaxPasswordAge > 0 {
		s.PasswordExpiresAt = changed.Add(p.MaxPasswordAge)
	}
	if end, ok := parseGeneralizedTime(a.PwdEndTime); ok && !now.Before(end) {
		s.State = StateExpired
		return s
	}
	switch locked := strings.TrimSpace(a.PwdAccountLockedTime); {
	case locked == "":
	case locked == AdministratorLock:
		s.State = StateFrozen
	default:
		at, ok := parseGeneralizedTime(locked)
		if !ok {
			// An unreadable lock is still a lock: the directory refuses binds while it is there.
			s.State = StateLocked
			return s
		}
		s.LockedAt = at
		if p.LockoutDuration <= 0 {
			s.State = StateLocked
			return s
		}
		until := at.Add(p.LockoutDuration)
		if now.Before(until) {
			s.State, s.LockedUntil = StateLockedTemporarily, until
		} else {
			// The lock has lapsed: ppolicy removes the attribute at the next bind.
			s.LockedAt = time.Time{}
			s.FailedAttempts = 0
		}
	}
	return s
}

func deriveAD(a LockAttributes, p Policy, now time.Time) Status {
	s := Status{State: StateActive}
	s.FailedAttempts, _ = strconv.Atoi(strings.TrimSpace(a.BadPwdCount))
	uac, _ := strconv.ParseInt(strings.TrimSpace(a.UserAccountControl), 10, 64)
	computed, computedKnown := parseInt(a.UserAccountControlComputed)

	lastSet, lastSetKnown := parseInt(a.PwdLastSet)
	switch {
	case uac&adDontExpirePassword != 0:
	case lastSetKnown && lastSet == 0:
		s.PasswordMustChange = true
	case lastSetKnown && p.MaxPasswordAge > 0:
		if t, ok := fileTime(lastSet); ok {
			s.PasswordExpiresAt = t.Add(p.MaxPasswordAge)
		}
	}
	if computedKnown && computed&adPasswordExpiredFlag != 0 {
		s.PasswordMustChange = true
	}

	if uac&adAccountDisable != 0 {
		s.State = StateDisabled
		return s
	}
	if expires, ok := parseInt(a.AccountExpires); ok {
		if t, ok := fileTime(expires); ok && !now.Before(t) {
			s.State = StateExpired
			return s
		}
	}
	lockout, _ := parseInt(a.LockoutTime)
	lockedAt, hasLockTime := fileTime(lockout)
	var locked bool
	if computedKnown {
		// The domain controller computes the lock itself, with its own clock: believe it.
		locked = computed&adLockout != 0
	} else {
		locked = hasLockTime && (p.LockoutDuration <= 0 || now.Before(lockedAt.Add(p.LockoutDuration)))
	}
	if !locked {
		if hasLockTime && !computedKnown {
			s.FailedAttempts = 0 // a lapsed lock: the next sign-in starts counting afresh
		}
		return s
	}
	s.LockedAt = lockedAt
	if p.LockoutDuration <= 0 || !hasLockTime {
		// Without a lock time the end is unknown: a lock without an end is the safe reading.
		s.State = StateLocked
		return s
	}
	s.State, s.LockedUntil = StateLockedTemporarily, lockedAt.Add(p.LockoutDuration)
	return s
}

func parseInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil
}

// windowsEpochOffset is 1601-01-01 to 1970-01-01 in 100 ns intervals.
const windowsEpochOffset = 116444736000000000

// fileTime converts a Windows FILETIME (100 ns intervals since 1601, UTC). Zero and the largest
// value mean "none" or "never" in AD and give ok false.
func fileTime(ft int64) (time.Time, bool) {
	if ft <= 0 || ft == math.MaxInt64 {
		return time.Time{}, false
	}
	d := ft - windowsEpochOffset
	return time.Unix(d/1e7, (d%1e7)*100).UTC(), true
}

// adInterval converts an AD interval attribute (lockoutDuration, maxPwdAge: negative 100 ns
// counts). Zero and the most negative value mean "no end" and give 0.
func adInterval(s string) time.Duration {
	n, ok := parseInt(s)
	if !ok || n >= 0 || n == math.MinInt64 {
		return 0
	}
	// Intervals longer than time.Duration can hold are as good as no end.
	if n < math.MinInt64/100 {
		return 0
	}
	return time.Duration(-n) * 100
}

// parseGeneralizedTime reads LDAP GeneralizedTime: YYYYMMDDHH[MM[SS]][.fraction](Z|+hhmm|-hhmm).
func parseGeneralizedTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 11 {
		return time.Time{}, false
	}
	zone := time.UTC
	switch {
	case strings.HasSuffix(s, "Z"):
		s = s[:len(s)-1]
	case len(s) >= 15 && (s[len(s)-5] == '+' || s[len(s)-5] == '-'):
		off := s[len(s)-5:]
		h, err1 := strconv.Atoi(off[1:3])
		m, err2 := strconv.Atoi(off[3:5])
		if err1 != nil || err2 != nil {
			return time.Time{}, false
		}
		secs := h*3600 + m*60
		if off[0] == '-' {
			secs = -secs
		}
		zone = time.FixedZone(off, secs)
		s = s[:len(s)-5]
	default:
		return time.Time{}, false
	}
	frac := ""
	if i := strings.IndexAny(s, ".,"); i >= 0 {
		s, frac = s[:i], s[i+1:]
	}
	var layout string
	switch len(s) {
	case 10:
		layout = "2006010215"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(layout, s, zone)
	if err != nil {
		return time.Time{}, false
	}
	if frac != "" && len(s) == 14 {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		ns, err := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
		if err != nil {
			return time.Time{}, false
		}
		t = t.Add(time.Duration(ns))
	}
	return t.UTC(), true
}
