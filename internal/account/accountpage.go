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
	guard         *guard
	book          *codebook
	lockout       LockoutStore
	selfService   SelfServiceStore
	accountPage   AccountPageStore
	contact       ContactStore
	codes         CodeStore
	work          UnitOfWork
	hasher        Hasher
	secondFactors FactorStore
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
	Devices(ctx context.Context, accountID int64) ([]Device, error)
	ForgetDevice(ctx context.Context, accountID, deviceID int64, client string, now time.Time) (bool, error)
	Sessions(ctx context.Context, accountID int64, now time.Time) ([]Session, error)
	EndSession(ctx context.Context, accountID int64, sessionID, client string, now time.Time) (bool, error)
	// ChangePassword sets a new hash, ends the account's other sessions (keepSession is the current
	// one's handle), queues the notices and audits it. It returns the account's new session epoch,
	// which the kept session must take.
	ChangePassword(ctx context.Context, accountID int64, username, hash, keepSession, client string, now time.Time, notify []Message) (int64, error)
}

// AccountOverview is everything the account page shows besides the account itself.
type AccountOverview struct {
	Factors  FactorStatus
	History  []SignInEvent
	Devices  []Device
	Sessions []Session
	Lock     *LockInfo
}

// Overview gathers the account page.
func (s *OwnAccount) Overview(ctx context.Context, a *Account) (*AccountOverview, error) {
	var o AccountOverview
	var err error
	if o.Factors.TOTP, o.Factors.RecoveryLeft, err = s.secondFactors.SecondFactors(ctx, a.ID); err != nil {
		return nil, err
	}
	if o.History, err = s.selfService.RecentSignIns(ctx, a.ID, 15); err != nil {
		return nil, err
	}
	if o.Devices, err = s.accountPage.Devices(ctx, a.ID); err != nil {
		return nil, err
	}
	if o.Sessions, err = s.accountPage.Sessions(ctx, a.ID, s.now()); err != nil {
		return nil, err
	}
	if a.EffectiveState(s.now()) != StateActive {
		if o.Lock, err = s.selfService.CurrentLock(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	return &o, nil
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
	// that does not answer changes nothing.
	var epoch int64
	err = s.work.Atomic(ctx, func(ctx context.Context) error {
		var err error
		if epoch, err = s.accountPage.ChangePassword(ctx, a.ID, a.Username, hash, keepSession, client, now, notify); err != nil || !a.InDirectory() {
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
