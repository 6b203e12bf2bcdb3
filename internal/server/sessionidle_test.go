package server_test

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account/accounttest"
)

// A session is saved to move its idle deadline once a minute at most, not at every request; and
// each save gives it the whole idle timeout from then, never more.
func TestASessionMovesItsIdleDeadlineOnceAMinuteAtMost(t *testing.T) {
	t.Parallel()
	clock := accounttest.NewClock(time.Now())
	h := newHarness(t, withClock(clock.Now))
	h.addAccount("alice")
	c, cookie := h.signedInClient("alice")
	hash := sha256.Sum256([]byte(cookie))
	expiry := func() time.Time {
		t.Helper()
		var e time.Time
		if err := h.db.Pool.QueryRow(context.Background(), `SELECT expiry FROM sessions WHERE token_hash = $1`, hash[:]).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	first := expiry()
	if first.After(time.Now().Add(30 * time.Minute)) {
		t.Fatalf("a session saved now expires at %v: past the 30 minutes of idle timeout", first)
	}
	for range 3 {
		time.Sleep(5 * time.Millisecond)
		if !h.signedIn(c) {
			t.Fatal("signed out")
		}
	}
	if got := expiry(); !got.Equal(first) {
		t.Fatalf("requests within a minute saved the session again: expiry %v, then %v", first, got)
	}
	clock.Advance(2 * time.Minute)
	if !h.signedIn(c) {
		t.Fatal("signed out")
	}
	if got := expiry(); !got.After(first) || got.After(time.Now().Add(30*time.Minute)) {
		t.Fatalf("a request two minutes on: expiry %v, then %v; want later, within 30 minutes from now", first, got)
	}
}
