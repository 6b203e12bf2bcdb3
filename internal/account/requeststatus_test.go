package account_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// The requester follows a request by its reference and the login it was filed for: open, then as
// staff decided it with their message.
func TestRequestStatusFound(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	ref, err := w.svc.SelfService.RequestHelp(ctx, "alice", "", "locked out", "192.0.2.1", "")
	if err != nil {
		t.Fatal(err)
	}
	// Typed back loosely: lower case, spaces, no prefix; the login in another letter case.
	typed := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(ref, "UR-"), "-", " "))
	st, err := w.svc.SelfService.RequestStatus(ctx, typed, " ALICE ", "192.0.2.9")
	if err != nil {
		t.Fatalf("RequestStatus(%q) = %v", typed, err)
	}
	if st.Reference != ref || st.Status != "open" || !st.FiledAt.Equal(t0) || st.HandledAt != nil {
		t.Errorf("open request: %+v", st)
	}
	at := t0.Add(time.Hour)
	w.selfService.decisions = map[string]account.RequestState{ref: {Status: "denied", HandledAt: &at, Response: "call the help desk"}}
	st, err = w.svc.SelfService.RequestStatus(ctx, ref, "alice", "192.0.2.9")
	if err != nil || st.Status != "denied" || st.Response != "call the help desk" || !st.HandledAt.Equal(at) {
		t.Errorf("denied request: %+v, %v", st, err)
	}
}

// A wrong reference and a right reference with another login get the one same answer.
func TestRequestStatusNotFoundAndWrongLoginAlike(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	w.add("bob")
	ref, err := w.svc.SelfService.RequestHelp(ctx, "alice", "", "", "192.0.2.1", "")
	if err != nil {
		t.Fatal(err)
	}
	other := "UR-2222-2222"
	if other == ref {
		other = "UR-3333-3333"
	}
	cases := []struct{ name, ref, login string }{
		{"unknown reference", other, "alice"},
		{"another login", ref, "bob"},
		{"an unknown login", ref, "nobody"},
		{"not a reference", "UR-0000-OOOO", "alice"},
	}
	var answers []error
	for _, c := range cases {
		st, err := w.svc.SelfService.RequestStatus(ctx, c.ref, c.login, "192.0.2.9")
		if st != nil || !errors.Is(err, account.ErrNoRequest) {
			t.Errorf("%s: %+v, %v; want ErrNoRequest", c.name, st, err)
		}
		answers = append(answers, err)
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("answers differ: %v and %v", answers[0], a)
		}
	}
	if _, err := w.svc.SelfService.RequestStatus(ctx, " ", "alice", "192.0.2.9"); account.ErrorCode(err) != account.EINVALID {
		t.Errorf("no reference: %v, want EINVALID", err)
	}
}

// Every lookup from a client is counted before anything is read, found or not; past the limit the
// client is refused without a read, and another client is not.
func TestRequestStatusThrottled(t *testing.T) {
	w := newWorld(t)
	w.add("alice")
	ref, err := w.svc.SelfService.RequestHelp(ctx, "alice", "", "", "192.0.2.1", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < account.RequestLookupLimit; i++ {
		login := "nobody"
		if i%2 == 0 {
			login = "alice"
		}
		if _, err := w.svc.SelfService.RequestStatus(ctx, ref, login, "198.51.100.7"); err != nil && !errors.Is(err, account.ErrNoRequest) {
			t.Fatalf("lookup %d: %v", i+1, err)
		}
	}
	reads := w.selfService.reads
	st, err := w.svc.SelfService.RequestStatus(ctx, ref, "alice", "198.51.100.7")
	if st != nil || !errors.Is(err, account.ErrLookupsThrottled) || account.ErrorCode(err) != account.ETHROTTLED {
		t.Fatalf("lookup past the limit: %+v, %v; want ErrLookupsThrottled", st, err)
	}
	if w.selfService.reads != reads {
		t.Error("a refused lookup read the request")
	}
	if n := w.ledger.counts["request_lookups|198.51.100.7"]; n != account.RequestLookupLimit+1 {
		t.Errorf("the ledger counted %d lookups, want %d", n, account.RequestLookupLimit+1)
	}
	if _, err := w.svc.SelfService.RequestStatus(ctx, ref, "alice", "203.0.113.5"); err != nil {
		t.Errorf("another client: %v", err)
	}
}

func TestNormalizeReference(t *testing.T) {
	for in, want := range map[string]string{
		"UR-7KQ2-9XPM":   "UR-7KQ2-9XPM",
		"ur-7kq2-9xpm":   "UR-7KQ2-9XPM",
		" 7KQ2 9XPM ":    "UR-7KQ2-9XPM",
		"7kq29xpm":       "UR-7KQ2-9XPM",
		"URAB-CDEF":      "UR-URAB-CDEF",
		"UR-7KQ2-9XP":    "",
		"UR-7KQ0-9XPM":   "",
		"UR-7KQ2-9XPM-X": "",
		"":               "",
	} {
		got, ok := account.NormalizeReference(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeReference(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
