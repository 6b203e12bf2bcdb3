package account

import (
	"context"
	"time"

	"github.com/unlockd/unlockd/internal/notice"
)

// A lockout wave: at least WaveLocks automatic locks within WaveWindow (a credential-stuffing
// attack). The dashboard shows it; the administrators get one email per wave (at most one an hour).
const (
	WaveLocks  = 20
	WaveWindow = 10 * time.Minute
	waveQuiet  = time.Hour
)

// AlertStore keeps alerts.
type AlertStore interface {
	// AutomaticLocksSince counts automatic locks since then.
	AutomaticLocksSince(ctx context.Context, since time.Time) (int, error)
	// RaiseAlert records an alert of kind unless one was raised within quiet, and then queues msgs;
	// it reports whether it raised one. Several processes agree (one transaction, one lock).
	RaiseAlert(ctx context.Context, kind string, count int, now time.Time, quiet time.Duration, msgs []Message) (bool, error)
}

// LockWave reports how many automatic locks the last WaveWindow saw, and whether that is a wave.
func (s *Oversight) LockWave(ctx context.Context) (int, bool, error) {
	n, err := s.alerts.AutomaticLocksSince(ctx, s.now().Add(-WaveWindow))
	return n, n >= WaveLocks, err
}

// checkWave runs after an automatic lock: at the wave's threshold, the administrators are told once.
// Once this process has seen a wave (and the alert raised, by it or another), the locks of the
// next minute skip the check: during an attack they come many a second.
func (s *guard) checkWave(ctx context.Context, now time.Time) error {
	if seen := s.waveSeen.Load(); seen != 0 && now.UnixNano() >= seen && now.UnixNano()-seen < int64(time.Minute) {
		return nil
	}
	n, err := s.alerts.AutomaticLocksSince(ctx, now.Add(-WaveWindow))
	if err != nil || n < WaveLocks {
		return err
	}
	admins, err := s.states.AccountsWithRole(ctx, RoleAdmin)
	if err != nil {
		return err
	}
	var msgs []Message
	for _, a := range admins {
		if a.EffectiveState(now) != StateActive {
			continue
		}
		msgs = append(msgs, compose(ChannelEmail, a.Email, s.readerOf(a, ""),
			notice.StaffAlert{Count: n, Window: WaveWindow, Link: s.link("/admin")}))
	}
	if _, err = s.alerts.RaiseAlert(ctx, "lock_wave", n, now, waveQuiet, msgs); err == nil {
		s.waveSeen.Store(now.UnixNano())
	}
	return err
}
