package postgres_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

var modelSeed = flag.Uint64("model.seed", 0, "seed of TestLockoutMatchesItsModel (0: a new one)")

// modelHangUpKey carries the cancel func of a request whose client hangs up while its secret is checked.
type modelHangUpKey struct{}

// modelHangUpHasher is the real hasher, except that once a check has run it cancels the request that
// asked for it, as a client disconnecting mid-hash does.
type modelHangUpHasher struct{ account.Hasher }

func (h modelHangUpHasher) Verify(ctx context.Context, password, encoded string) (bool, bool, error) {
	ok, rehash, err := h.Hasher.Verify(ctx, password, encoded)
	modelHangUp(ctx)
	return ok, rehash, err
}

func (h modelHangUpHasher) VerifyDummy(ctx context.Context, password string) error {
	err := h.Hasher.VerifyDummy(ctx, password)
	modelHangUp(ctx)
	return err
}

func modelHangUp(ctx context.Context) {
	if cancel, ok := ctx.Value(modelHangUpKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

// modelPolicy is the lockout policy as the model reads it.
type modelPolicy struct {
	threshold, backoff, maxTemporary int
	duration, maxDuration, memory    time.Duration
}

// deviceAllowance: a known device may fail threshold/2 times in a row, at least 3, never more
// than the account's threshold.
func (p modelPolicy) deviceAllowance() int {
	return min(max(p.threshold/2, 3), p.threshold)
}

// lockLength is the length of the n-th (0-based) temporary lock within memory: duration times
// backoff^n, at most max_duration.
func (p modelPolicy) lockLength(n int) time.Duration {
	d := p.duration
	for i := 0; i < n && d < p.maxDuration; i++ {
		d *= time.Duration(p.backoff)
	}
	return min(d, p.maxDuration)
}

// lockModel is one account with one known device under the lockout rules, written from the rules
// as documented (SECURITY.md 1, 3, 5, 26 and package lockout), not from the SQL. Its fields are the
// account as of the last step, with lapsed locks lifted: a temporary lock or freeze whose end has
// come is active with a fresh count.
type lockModel struct {
	p        modelPolicy
	state    account.State
	until    time.Time   // end of a temporary lock or freeze; zero for none
	failures int         // consecutive attempts counted on the account's shared counter
	starts   []time.Time // starts of automatic temporary locks
	device   deviceModel
	reached  map[string]int // which rules the steps exercised, so a dull generator fails
}

// deviceModel is the owner's known device: its own counter and lockout.
type deviceModel struct {
	failures int
	until    time.Time
}

// settle lifts what has lapsed by now: a lock or freeze whose end has come (the count starts
// afresh), and the device's lockout likewise.
func (m *lockModel) settle(now time.Time) {
	if (m.state == account.StateLockedTemporarily || m.state == account.StateFrozen) && !m.until.IsZero() && !now.Before(m.until) {
		m.reached[string(m.state)+" lapsed"]++
		m.state, m.until, m.failures = account.StateActive, time.Time{}, 0
	}
	if !m.device.until.IsZero() && !now.Before(m.device.until) {
		m.reached["device lockout lapsed"]++
		m.device.until, m.device.failures = time.Time{}, 0
	}
}

// recentLocks counts the temporary locks that started within memory before now.
func (m *lockModel) recentLocks(now time.Time) int {
	n := 0
	for _, s := range m.starts {
		if s.After(now.Add(-m.p.memory)) && !s.After(now) {
			n++
		}
	}
	return n
}

// lock applies the rules to a run of failures on an active account: at the threshold it locks,
// temporarily with backoff, or hard once max_temporary temporary locks started within memory.
func (m *lockModel) lock(failures int, now time.Time) {
	if failures < m.p.threshold || m.state != account.StateActive {
		return
	}
	if n := m.recentLocks(now); n >= m.p.maxTemporary {
		m.state, m.until = account.StateLocked, time.Time{}
		m.reached["hard lock"]++
	} else {
		m.state, m.until = account.StateLockedTemporarily, now.Add(m.p.lockLength(n))
		m.starts = append(m.starts, now)
		m.reached[fmt.Sprintf("temporary lock #%d within memory", n+1)]++
	}
}

// reserve counts an attempt before its secret is checked. A known device counts on its own
// allowance while it is not locked out and the account lets the owner's device try (active or
// temporarily locked); otherwise the attempt counts on the account, which only an active account
// allows. counted is false when nothing could be counted.
func (m *lockModel) reserve(known bool, now time.Time) (counted, allowed, onDevice bool) {
	m.settle(now)
	if known {
		d := &m.device
		if d.until.IsZero() && d.failures >= m.p.deviceAllowance() {
			// An attempt that goes over the device's allowance locks the device out, whatever
			// became of the attempts that used it up.
			d.until = now.Add(m.p.duration)
			m.reached["device over its allowance locked out by rule"]++
		}
		if d.until.IsZero() && (m.state == account.StateActive || m.state == account.StateLockedTemporarily) {
			d.failures++
			return true, d.failures <= m.p.deviceAllowance(), true
		}
		m.reached["known device counted on the account"]++
	}
	if m.state != account.StateActive {
		return false, false, false
	}
	before := m.failures
	m.failures++
	if before >= m.p.threshold {
		// An attempt that goes over the threshold locks the account, whatever became of the
		// attempts that reached it.
		m.reached["account over its threshold locked by rule"]++
		m.lock(before, now)
	}
	return true, m.failures <= m.p.threshold, false
}

// attempt is one sign-in with a wrong or the right password; it reports whether it signed in, and
// whether the known device's browser was given a new device cookie. A client that hangs up never
// receives one (stays is false) and keeps its old cookie.
func (m *lockModel) attempt(known, right, stays bool, now time.Time) (signedIn, newDevice bool) {
	counted, allowed, onDevice := m.reserve(known, now)
	if !counted || !allowed {
		return false, false
	}
	switch {
	case !right && onDevice:
		if m.device.failures >= m.p.deviceAllowance() {
			m.device.until = now.Add(m.p.duration)
			m.reached["device locked out"]++
		}
	case !right:
		m.lock(m.failures, now)
	case onDevice:
		m.reached["signed in on the device's allowance while "+string(m.state)]++
		m.device.failures = 0
		if m.state == account.StateActive {
			m.failures = 0
		}
	default:
		m.failures = 0
		if known && stays {
			// Signed in without its device counting: the browser gets a new device cookie.
			m.device, newDevice = deviceModel{}, true
		}
	}
	return right, newDevice
}

// unlock is an administrator's unlock: it lifts a lock or freeze and the count starts afresh.
func (m *lockModel) unlock(now time.Time) bool {
	m.settle(now)
	switch m.state {
	case account.StateLockedTemporarily, account.StateLocked, account.StateFrozen:
		m.state, m.until, m.failures = account.StateActive, time.Time{}, 0
		return true
	}
	return false
}

// freeze is an administrator's freeze, until a time or for good.
func (m *lockModel) freeze(until time.Time, now time.Time) {
	m.settle(now)
	m.state, m.until = account.StateFrozen, until
}

// lockView is what the model and the database are compared on.
type lockView struct {
	State account.State
	Until time.Time
	// Failures is the account's count while it is active, the only state in which the count
	// decides anything: every way out of a lock or freeze starts it afresh.
	Failures       int
	DeviceFailures int
	DeviceUntil    time.Time
	RecentLocks    int
	MayUnknown     bool // whether an unknown browser may try a secret
	MayKnown       bool // whether the owner's known device may
}

func (v lockView) String() string {
	f := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("15:04:05.000")
	}
	return fmt.Sprintf("state=%s until=%s failures=%d device(failures=%d until=%s) recent_locks=%d may(unknown=%v known=%v)",
		v.State, f(v.Until), v.Failures, v.DeviceFailures, f(v.DeviceUntil), v.RecentLocks, v.MayUnknown, v.MayKnown)
}

func (m *lockModel) view(now time.Time) lockView {
	m.settle(now)
	failures := m.failures
	if m.state != account.StateActive {
		failures = 0
	}
	return lockView{State: m.state, Until: m.until, Failures: failures, DeviceFailures: m.device.failures,
		DeviceUntil: m.device.until, RecentLocks: m.recentLocks(now),
		MayUnknown: m.state == account.StateActive,
		MayKnown:   m.state == account.StateActive || m.state == account.StateLockedTemporarily}
}

// dbView reads the account and its known device as the database holds them, with lapsed locks
// read as lifted, as the rules read them.
func (e *engine) dbView(login string, deviceID int64, memory time.Duration) (lockView, string) {
	e.t.Helper()
	ctx := context.Background()
	now := e.clock.Now()
	var v lockView
	var state string
	var until, devUntil *time.Time
	err := e.db.Pool.QueryRow(ctx, `SELECT a.state, a.locked_until, a.failed_attempts,
			d.failures, d.locked_until,
			(SELECT count(*) FROM locks l WHERE l.account_id = a.id AND l.kind = 'temporary' AND l.source = 'automatic'
			   AND l.started_at > $3 AND l.started_at <= $4)
		FROM accounts a JOIN devices d ON d.account_id = a.id AND d.id = $2
		WHERE lower(a.username) = lower($1)`, login, deviceID, now.Add(-memory), now).
		Scan(&state, &until, &v.Failures, &v.DeviceFailures, &devUntil, &v.RecentLocks)
	if err != nil {
		e.t.Fatal(err)
	}
	f := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("15:04:05.000")
	}
	raw := fmt.Sprintf("raw: state=%s until=%s failures=%d device(failures=%d until=%s)",
		state, f(until), v.Failures, v.DeviceFailures, f(devUntil))
	v.State = account.State(state)
	if until != nil {
		v.Until = until.UTC()
	}
	if (v.State == account.StateLockedTemporarily || v.State == account.StateFrozen) && until != nil && !now.Before(*until) {
		v.State, v.Until, v.Failures = account.StateActive, time.Time{}, 0
	}
	if v.State != account.StateActive {
		v.Failures = 0
	}
	if devUntil != nil {
		v.DeviceUntil = devUntil.UTC()
		if !now.Before(*devUntil) {
			v.DeviceUntil, v.DeviceFailures = time.Time{}, 0
		}
	}
	a := e.account(login)
	v.MayUnknown = account.MaySignIn(a.EffectiveState(now), false)
	v.MayKnown = account.MaySignIn(a.EffectiveState(now), true)
	return v, raw
}

// The lockout rules, run as random sequences of wrong and right passwords (from an unknown browser
// and from the owner's known device), clients hanging up mid-check, outcomes lost to a crash,
// clock steps, and an administrator's unlock and freeze, leave the database exactly where an
// independent model of the rules says after every step.
func TestLockoutMatchesItsModel(t *testing.T) {
	// At least 30 sequences, and more (up to 90) until every rule below was reached.
	const sequences, maxSequences, steps = 30, 90, 60
	seed := *modelSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -model.seed=%d)", seed, seed)
	e := newEngineWith(t, modelHangUpHasher{secret.NewHasher(fastParams, 8, 100, 10*time.Second)})
	reached := map[string]int{}
	ctx := context.Background()
	cli := account.Actor{Name: "cli"}
	rules := []string{"temporary lock #1 within memory", "temporary lock #2 within memory", "hard lock",
		"locked_temporarily lapsed", "frozen lapsed", "device locked out", "device lockout lapsed",
		"account over its threshold locked by rule", "device over its allowance locked out by rule",
		"known device counted on the account", "signed in on the device's allowance while locked_temporarily"}
	allReached := func() bool {
		for _, rule := range rules {
			if reached[rule] == 0 {
				return false
			}
		}
		return true
	}
	seq := 0
	for ; seq < maxSequences && (seq < sequences || !allReached()); seq++ {
		rng := rand.New(rand.NewPCG(seed, uint64(seq)))
		p := modelPolicy{threshold: 2 + rng.IntN(3), backoff: 2, maxTemporary: 2,
			duration: 2 * time.Second, maxDuration: 5 * time.Second, memory: 10 * time.Minute}
		if _, err := e.svc.Staff.SetPolicy(ctx, map[string]string{
			"lockout.threshold":     fmt.Sprint(p.threshold),
			"lockout.duration":      p.duration.String(),
			"lockout.backoff":       fmt.Sprint(p.backoff),
			"lockout.max_duration":  p.maxDuration.String(),
			"lockout.max_temporary": fmt.Sprint(p.maxTemporary),
			"lockout.memory":        p.memory.String(),
		}, cli); err != nil {
			t.Fatal(err)
		}
		policy, err := e.svc.Staff.Policy(ctx)
		if err != nil {
			t.Fatal(err)
		}
		login := fmt.Sprintf("model%d", seq)
		client := fmt.Sprintf("198.51.100.%d", seq+1)
		e.add(login)
		first, err := e.signIn(login, password, func(r *account.SignInRequest) { r.ClientIP = client })
		if err != nil || first.DeviceToken == "" {
			t.Fatalf("seed %d sequence %d: the owner's first sign-in: %v", seed, seq, err)
		}
		token := first.DeviceToken
		newestDevice := func() int64 {
			var id int64
			if err := e.db.Pool.QueryRow(ctx, `SELECT d.id FROM devices d JOIN accounts a ON a.id = d.account_id
				WHERE a.username = $1 ORDER BY d.id DESC LIMIT 1`, login).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		deviceID := newestDevice()
		m := &lockModel{p: p, state: account.StateActive, reached: reached}
		var history []string
		start := e.clock.Now()

		signIn := func(known, right, hangs bool) (*account.SignInResult, error) {
			pw := password
			if !right {
				e.seq++
				pw = fmt.Sprintf("%s %d", wrong, e.seq)
			}
			req := account.SignInRequest{Login: login, Password: pw, ClientIP: client}
			if known {
				req.DeviceToken = token
			}
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			if hangs {
				rctx = context.WithValue(rctx, modelHangUpKey{}, cancel)
			}
			return e.svc.Gate.SignIn(rctx, req)
		}
		who := func(known bool) string {
			if known {
				return "known device"
			}
			return "unknown browser"
		}

		for step := 0; step < steps; step++ {
			now := e.clock.Now()
			var did string
			fail := func(format string, args ...any) {
				t.Helper()
				t.Fatalf("seed %d sequence %d (threshold %d), step %d %s: %s\nsteps:\n  %s", seed, seq, p.threshold, step, did,
					fmt.Sprintf(format, args...), strings.Join(history, "\n  "))
			}
			r, lostKnown := rng.IntN(100), rng.IntN(2) == 0
			if m.state == account.StateActive && m.failures == p.threshold-1 && rng.IntN(4) == 0 {
				r, lostKnown = 99, false // often lose the outcome of the failure that reaches the threshold
			}
			switch {
			case r < 58: // a password, wrong or right, from either browser
				known, right, hangs := rng.IntN(2) == 0, rng.IntN(10) < 3, rng.IntN(6) == 0
				did = fmt.Sprintf("%s password from the %s", map[bool]string{true: "right", false: "wrong"}[right], who(known))
				if hangs {
					did += ", client hangs up mid-check"
				}
				want, newDevice := m.attempt(known, right, !hangs, now)
				res, err := signIn(known, right, hangs)
				if !hangs {
					if want && err != nil {
						fail("the model signs in, the service refused: %v", err)
					}
					if !want && !errors.Is(err, account.ErrBadCredentials) {
						fail("the model refuses, the service answered %v, %v", res, err)
					}
				}
				if newDevice {
					// The browser signed in on the account's allowance and was given a new device cookie.
					if res == nil || res.DeviceToken == "" {
						fail("no new device cookie after signing in without the device counting: %v", err)
					}
					token, deviceID = res.DeviceToken, newestDevice()
				} else if res != nil && res.DeviceToken != "" && known && !hangs {
					fail("the known device was given a new cookie although its own allowance counted")
				}
			case r < 72: // a small clock step
				d := time.Duration(100+rng.IntN(1400)) * time.Millisecond
				did = "clock +" + d.String()
				e.clock.Advance(d)
			case r < 79: // to the end of a lock, just before it, or past any lock
				d := p.maxDuration + time.Second
				jitter := time.Duration(min(rng.IntN(3), 1)) * time.Millisecond
				if !m.until.IsZero() && m.until.After(now) && rng.IntN(3) > 0 {
					d = m.until.Sub(now) - jitter
				}
				if d < 0 {
					d = 0
				}
				did = "clock +" + d.String()
				e.clock.Advance(d)
			case r < 81: // past the memory of old locks
				d := p.memory + time.Duration(rng.IntN(2))*time.Second
				did = "clock +" + d.String()
				e.clock.Advance(d)
			case r < 86:
				did = "administrator unlock"
				want := m.unlock(now)
				_, err := e.svc.Staff.Unlock(ctx, login, "verified by phone", cli)
				if want && err != nil {
					fail("unlock refused: %v", err)
				}
			case r < 90:
				var until *time.Time
				did = "administrator freeze"
				if rng.IntN(2) == 0 {
					u := now.Add(time.Duration(1+rng.IntN(4)) * time.Second)
					until = &u
					did += " for " + u.Sub(now).String()
				}
				m.freeze(deref(until), now)
				if _, err := e.svc.Staff.Freeze(ctx, login, "review", "", until, cli); err != nil {
					fail("freeze: %v", err)
				}
			default: // an attempt counted by a process that died before writing its outcome
				known := lostKnown
				did = "outcome lost (" + who(known) + ")"
				m.reserve(known, now)
				at := account.Attempt{AccountID: e.account(login).ID, Username: login, Client: client, Policy: policy.Lockout, Now: now}
				if known {
					at.DeviceID = deviceID
				}
				if _, err := e.stores.Lockout.ReserveAttempt(ctx, at); err != nil {
					fail("reserve: %v", err)
				}
				d := time.Duration(rng.IntN(1000)) * time.Millisecond
				did += ", clock +" + d.String()
				e.clock.Advance(d)
			}
			history = append(history, fmt.Sprintf("%3d @%-8s %s", step, now.Sub(start).Round(time.Millisecond), did))
			want := m.view(e.clock.Now())
			got, raw := e.dbView(login, deviceID, p.memory)
			if want != got {
				fail("\n  model:    %v\n  database: %v\n  %s", want, got, raw)
			}
		}
		// The next sequence starts clear of this one's locks and throttles.
		e.clock.Advance(time.Hour)
	}
	t.Logf("%d sequences; rules exercised: %v", seq, reached)
	for _, rule := range rules {
		if reached[rule] == 0 {
			t.Errorf("seed %d: no step reached %q; the sequences do not exercise the rules", seed, rule)
		}
	}
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
