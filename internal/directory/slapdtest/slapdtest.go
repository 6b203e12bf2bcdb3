// Package slapdtest runs a real OpenLDAP server for tests (package slapd: Debian's slapd as a
// throwaway instance on a free port, with the ppolicy overlay, a default policy that locks and a
// service account with just the rights unlockd needs), one per test, with helpers that fail the
// test instead of returning errors. When slapd is missing a test is skipped, or fails when CI=true.
// It imports testing: tests only.
package slapdtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/directory/slapd"
)

// The fixed names of every instance.
const (
	Suffix          = slapd.Suffix
	PeopleDN        = slapd.PeopleDN
	PolicyDN        = slapd.PolicyDN
	ServiceDN       = slapd.ServiceDN
	ServicePassword = slapd.ServicePassword
	AdminDN         = slapd.AdminDN
	AdminPassword   = slapd.AdminPassword
)

// ModuleDir is where Debian keeps slapd's loadable modules (back_mdb, ppolicy).
const ModuleDir = slapd.ModuleDir

// ErrNoSlapd means slapd or its modules are not installed.
var ErrNoSlapd = slapd.ErrNoSlapd

// Policy is the default password policy of an instance (the ppolicy entry at PolicyDN).
type Policy = slapd.Policy

// Person is someone to add.
type Person = slapd.Person

// DefaultPolicy locks after 3 failures for 5 minutes, wants 8 characters, remembers 3 passwords
// and lets passwords live 90 days.
func DefaultPolicy() Policy { return slapd.DefaultPolicy() }

// PersonDN is the DN a person with this uid gets.
func PersonDN(uid string) string { return slapd.PersonDN(uid) }

// Preloaded is the uid of the i-th preloaded person.
func Preloaded(i int) string { return slapd.Preloaded(i) }

// Find returns slapd's and slapadd's paths.
func Find() (slapdPath, slapadd string, err error) { return slapd.Find() }

// Server is one running slapd, with the test helpers below.
type Server struct{ *slapd.Server }

// Start builds an instance in dir (which must be empty or absent), with preload people already in
// it (see Preloaded), and starts it. Stop ends it.
func Start(ctx context.Context, dir string, policy Policy, preload int) (*Server, error) {
	s, err := slapd.Start(ctx, dir, policy, preload)
	if err != nil {
		return nil, err
	}
	return &Server{s}, nil
}

// InCI reports whether a missing slapd must fail the tests instead of skipping them.
func InCI() bool { v := os.Getenv("CI"); return v == "true" || v == "1" }

// New starts an instance for one test and stops it when the test ends. Without slapd the test is
// skipped, or fails with CI=true.
func New(tb testing.TB, policy Policy) *Server {
	tb.Helper()
	return start(tb, policy, 0, time.Minute)
}

// NewPreloaded is New with n people loaded before slapd starts (slapadd is much faster than adding
// them one by one): Preloaded(i) names the i-th, from 0; every 50th is locked since an hour ago.
func NewPreloaded(tb testing.TB, policy Policy, n int) *Server {
	tb.Helper()
	return start(tb, policy, n, 10*time.Minute)
}

func start(tb testing.TB, policy Policy, preload int, timeout time.Duration) *Server {
	tb.Helper()
	if _, _, err := slapd.Find(); err != nil {
		if InCI() {
			tb.Fatalf("prerequisite missing (CI=true, so this fails instead of skipping): %v", err)
		}
		tb.Skipf("prerequisite missing: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := Start(ctx, tb.TempDir(), policy, preload)
	if err != nil {
		tb.Fatalf("slapdtest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// MustAddPerson adds p or fails the test.
func (s *Server) MustAddPerson(tb testing.TB, p Person) string {
	tb.Helper()
	dn, err := s.AddPerson(p)
	if err != nil {
		tb.Fatal(err)
	}
	return dn
}

// MustFailBinds binds as dn with a wrong password n times, as an attacker or a forgetful owner
// would: ppolicy counts each, and locks at the policy's pwdMaxFailure.
func (s *Server) MustFailBinds(tb testing.TB, dn string, n int) {
	tb.Helper()
	if err := s.FailBinds(dn, n); err != nil {
		tb.Fatal(err)
	}
}

// MustFreeze sets ppolicy's administrator lock on dn.
func (s *Server) MustFreeze(tb testing.TB, dn string) {
	tb.Helper()
	if err := s.Freeze(dn); err != nil {
		tb.Fatal(err)
	}
}

// MustSetPasswordChanged makes dn's password as old as if it was set at at (pwdChangedTime).
func (s *Server) MustSetPasswordChanged(tb testing.TB, dn string, at time.Time) {
	tb.Helper()
	if err := s.SetPasswordChanged(dn, at); err != nil {
		tb.Fatal(err)
	}
}

// MustAttribute reads one attribute's values of dn.
func (s *Server) MustAttribute(tb testing.TB, dn, attr string) []string {
	tb.Helper()
	e, err := s.Attributes(dn, attr)
	if err != nil {
		tb.Fatal(err)
	}
	return e.GetAttributeValues(attr)
}
