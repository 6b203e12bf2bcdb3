package account

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
)

// OwnAccount is the signed-in person's own account: what it shows, devices, sessions, the
// password and the contacts.
type OwnAccount struct {
	*kit
	guard       *guard
	book        *codebook
	lockout     LockoutStore
	accountPage AccountPageStore
	contact     ContactStore
	codes       CodeStore
	work        UnitOfWork
	hasher      Hasher
}

// Device is a browser where the owner signed in before.
type Device struct {
	ID         int64
	UserAgent  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	LockedOut  bool
}

// Session is one signed-in browser.
type Session struct {
	ID        string // a short public handle, not the token
	CreatedAt time.Time
	Expiry    time.Time
}

// AccountPageStore reads and changes what the account page shows.
type AccountPageStore interface {
	// Overview reads what the account page shows in one round trip: see OverviewQuery.
	Overview(ctx context.Context, accountID int64, q OverviewQuery) (*AccountOverview, error)
	ForgetDevice(ctx context.Context, accountID, deviceID int64, client string, now time.Time) (bool, error)
	EndSession(ctx context.Context, accountID int64, sessionID, client string, now time.Time) (bool, error)
	// EndOtherSessions ends every session of the account but keep's and audits it. It returns how
	// many ended and the account's new session epoch, which the kept session must take; or
	// ErrSessionEnded, having changed nothing, when keep is no longer live and current.
	EndOtherSessions(ctx context.Context, accountID int64, username string, keep KeptSession, client string, now time.Time) (int, int64, error)
	// ChangePassword sets a new hash, ends the account's other sessions (all but keep's), queues the
	// notices and audits it. It returns the account's new session epoch, which the kept session
	// must take; or ErrSessionEnded, having changed nothing, when keep is no longer live and current
	// (an empty keep.Handle keeps no session, and is not checked).
	ChangePassword(ctx context.Context, accountID int64, username, hash string, keep KeptSession, client string, now time.Time, notify []Message) (int64, error)
}

// OverviewQuery says how much of an account the account page reads: the second factors always;
// the History most recent sign-ins; the Listed most recently seen devices and most recent live
// sessions at Now, the one whose handle is ThisSession first; how many devices and sessions there
// are in all (counted with the rows listed: Listed is at least 1); and the open lock when WithLock.
type OverviewQuery struct {
	Now         time.Time
	History     int
	Listed      int
	ThisSession string
	WithLock    bool
}

// How much the account page lists, and the page of all devices and sessions. A long-used account
// has dozens of each: the account page shows the latest and links to the rest.
const (
	accountPageHistory = 15
	accountPageListed  = 5
	// MaxListedBrowsers is how many devices, and how many sessions, the page of them all lists;
	// signing out everywhere else reaches the rest.
	MaxListedBrowsers = 100
)

// AccountOverview is everything the account page shows besides the account itself.
type AccountOverview struct {
	Factors  FactorStatus
	History  []SignInEvent
	Devices  []Device
	Sessions []Session
	// DeviceCount and SessionCount are how many there are, listed or not.
	DeviceCount, SessionCount int
	Lock                      *LockInfo
}

// Overview gathers the account page; thisSession is the handle of the session asking, which is
// always listed.
func (s *OwnAccount) Overview(ctx context.Context, a *Account, thisSession string) (*AccountOverview, error) {
	now := s.now()
	return s.accountPage.Overview(ctx, a.ID, OverviewQuery{Now: now, History: accountPageHistory, Listed: accountPageListed,
		ThisSession: thisSession, WithLock: a.EffectiveState(now) != StateActive})
}

// Browsers lists the account's known devices and live sessions, MaxListedBrowsers of each at most,
// thisSession's first, with its second factors: the page of all browsers, and the dashboard's
// view of an account.
func (s *OwnAccount) Browsers(ctx context.Context, a *Account, thisSession string) (*AccountOverview, error) {
	return s.accountPage.Overview(ctx, a.ID, OverviewQuery{Now: s.now(), Listed: MaxListedBrowsers, ThisSession: thisSession})
}

// ForgetDevice removes a known device: it gets no allowance of its own any more.
func (s *OwnAccount) ForgetDevice(ctx context.Context, a *Account, deviceID int64, client string) error {
	ok, err := s.accountPage.ForgetDevice(ctx, a.ID, deviceID, client, s.now())
	if err == nil && !ok {
		return Errorf(ENOTFOUND, "no such device")
	}
	return err
}

// EndSession signs one of the account's browsers out.
func (s *OwnAccount) EndSession(ctx context.Context, a *Account, sessionID, client string) error {
	ok, err := s.accountPage.EndSession(ctx, a.ID, sessionID, client, s.now())
	if err == nil && !ok {
		return Errorf(ENOTFOUND, "no such session")
	}
	return err
}

// EndOtherSessions signs out every browser of the account but the one asking (thisSession, a
// handle; a is the account as the asking session was checked against, its epoch current). It
// returns how many were signed out and the account's new session epoch, which the asking session
// must take; ErrSessionEnded when the asking session ended meanwhile.
//
// Once asked, it is carried out whether or not the browser waits for the answer: a client that
// hangs up as it commits would leave its own session's new epoch unknown, and be signed out too.
func (s *OwnAccount) EndOtherSessions(ctx context.Context, a *Account, thisSession, client string) (int, int64, error) {
	ctx = context.WithoutCancel(ctx)
	return s.accountPage.EndOtherSessions(ctx, a.ID, a.Username, askingSession(a, thisSession), client, s.now())
}

// reauthenticate checks a signed-in owner's current password as a counted attempt: ErrWrongPassword
// when it is wrong or the account is locked meanwhile.
func (s *OwnAccount) reauthenticate(ctx context.Context, a *Account, current, client string) error {
	if a.PasswordHash == "" && !s.directory.checks(a) {
		return ErrWrongPassword
	}
	policy, err := s.lockout.Policy(ctx)
	if err != nil {
		return err
	}
	current = current[:min(len(current), 4*MaxPasswordLength)]
	req := SignInRequest{Login: a.Username, Password: current, ClientIP: client, reauthentication: true}
	reject := Rejection{AccountID: &a.ID, Username: a.Username, Client: client, Now: s.now()}
	_, err = s.guard.attempt(ctx, a, req, policy, reject, s.passwordMAC(a.ID, current), func(ctx context.Context) (bool, string, error) {
		if s.directory.checks(a) {
			// The directory checks it, and counts a failure too; an expired password still proves
			// the owner, who is replacing it.
			ok, _, err := s.directory.checkPassword(ctx, a, current)
			return ok, "password", err
		}
		ok, _, err := s.hasher.Verify(ctx, current, a.PasswordHash)
		return ok, "password", err
	})
	if errors.Is(err, ErrBadCredentials) {
		return ErrWrongPassword
	}
	return err
}

// ErrWrongPassword answers a wrong current password on the change form.
var ErrWrongPassword = &Error{Code: EUNAUTHORIZED, Message: "The current password is not correct."}

// ErrSessionEnded answers an owner's change asked from a session that ended while the request was
// on its way (see KeptSession): nothing was changed, and the browser must sign in again.
var ErrSessionEnded = &Error{Code: EUNAUTHORIZED, Message: "This browser was signed out meanwhile; nothing was changed."}

// ChangePassword changes the password of a signed-in owner, who proves it with the current one:
// an attempt under the lockout rules like a sign-in (SECURITY.md 4), so the form is no way to guess
// the password past the lock. Other sessions end; the owner is told on every contact. It returns the
// account's new session epoch, which the kept session must take to stay signed in.
func (s *OwnAccount) ChangePassword(ctx context.Context, a *Account, current, password, confirm, keepSession, client, lang string) (int64, error) {
	if err := s.reauthenticate(ctx, a, current, client); err != nil {
		return 0, err
	}
	s.guard.learnLanguage(ctx, a, lang)
	minLen, err := s.guard.minPasswordLength(ctx, a.ID)
	if err != nil {
		return 0, err
	}
	if err := s.checkNewPassword(a, password, confirm, minLen); err != nil {
		return 0, err
	}
	var hash string
	if !a.InDirectory() {
		if hash, err = s.hasher.Hash(ctx, password); err != nil {
			return 0, err
		}
	}
	now := s.now()
	notify := s.passwordChanged(a, lang, now)
	// The directory's password and the record of its change go together: a refusal or a directory
	// that does not answer changes nothing. Once asked, the change is carried out whatever the
	// client does: a directory that took the password cannot be told to forget it, and its record
	// (the other sessions ended, the owner told) must not be rolled back with a request that went.
	ctx = context.WithoutCancel(ctx)
	var epoch int64
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		var err error
		keep := askingSession(a, keepSession)
		if epoch, err = s.accountPage.ChangePassword(ctx, a.ID, a.Username, hash, keep, client, now, notify); err != nil || !a.InDirectory() {
			return err
		}
		return s.directory.setPassword(ctx, a, password, Actor{Name: "user:" + a.Username, Client: client}, "account page")
	})
	return epoch, err
}

// MinPasswordLength is the shortest new password the account may choose.
func (s *OwnAccount) MinPasswordLength(ctx context.Context, accountID int64) (int, error) {
	return s.guard.minPasswordLength(ctx, accountID)
}

// SetLanguage sets the language the owner's messages are written in, as chosen on the account page.
func (s *OwnAccount) SetLanguage(ctx context.Context, a *Account, lang string) error {
	if !ValidLanguage(lang) {
		return Fail(EINVALID, "err_language", nil, "language %q must be en or zh-CN", lang)
	}
	if err := s.guard.accounts.SetLanguage(ctx, a.ID, lang); err != nil {
		return err
	}
	a.Language = lang
	return nil
}

// SetTimeZone sets the zone the owner reads times in, on pages and in messages, as chosen on the
// account page: an IANA name, or "" for the organisation's.
func (s *OwnAccount) SetTimeZone(ctx context.Context, a *Account, zone string) error {
	zone = strings.TrimSpace(zone)
	if err := checkTimeZone(zone); err != nil {
		return err
	}
	if err := s.guard.accounts.SetTimeZone(ctx, a.ID, zone); err != nil {
		return err
	}
	a.TimeZone = zone
	return nil
}

// checkTimeZone refuses a zone a person may not choose (ValidTimeZone), naming it.
func checkTimeZone(zone string) error {
	if !ValidTimeZone(zone) {
		return Fail(EINVALID, "err_time_zone", map[string]any{"Zone": clip(zone, 64)}, "time zone %q is not an IANA zone name such as Asia/Shanghai", zone)
	}
	return nil
}

// ValidTimeZone reports whether zone names a time zone a person may choose: "" (the organisation's)
// or an IANA name (Asia/Shanghai, UTC), not the server's local zone.
func ValidTimeZone(zone string) bool {
	_, ok := TimeZone(zone)
	return zone == "" || ok
}

// TimeZone is the zone a person chose, by its IANA name, loaded once per name for the pages and
// the messages that write times in it; ok is false for "" and for a name that is no zone a person
// may choose (ValidTimeZone).
func TimeZone(name string) (zone *time.Location, ok bool) {
	if name == "" || len(name) > 64 || name == "Local" {
		return nil, false
	}
	if z, ok := loadedZones.Load(name); ok {
		return z.(*time.Location), true
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	loadedZones.Store(name, z)
	return z, true
}

// loadedZones holds the zones loaded by TimeZone, by name: a few dozen at most.
var loadedZones sync.Map
