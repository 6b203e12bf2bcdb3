package mailcatcher

import (
	"errors"
	"net"
	"testing"
)

// A mail catcher already answering on an address must not pass for a new one: Start refuses a
// taken address before it runs anything (the binary here does not even exist).
func TestStartRefusesATakenAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	if err := CheckFree(taken); !errors.Is(err, ErrTaken) {
		t.Fatalf("CheckFree(%s) = %v, want ErrTaken", taken, err)
	}
	for _, o := range []Options{{SMTPAddr: taken, WebAddr: "127.0.0.1:0"}, {SMTPAddr: "127.0.0.1:0", WebAddr: taken}} {
		if p, err := Start("/nonexistent/mailpit", o); !errors.Is(err, ErrTaken) {
			if p != nil {
				p.Stop()
			}
			t.Errorf("Start(%+v) = %v, want ErrTaken", o, err)
		}
	}
	l.Close()
	if err := CheckFree(taken); err != nil {
		t.Errorf("CheckFree of a released address: %v", err)
	}
}
