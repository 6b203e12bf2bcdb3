package site

import (
	"bytes"
	"fmt"
	"html/template"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// BenchmarkRenderAccountPage renders the account page of a long-used account, as the sign-in
// benchmark's account has it: 15 sign-ins, 50 devices and 50 sessions.
func BenchmarkRenderAccountPage(b *testing.B) {
	t, p := longUsedAccountPage(b)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

// The benchmark's page renders: its data restates the shape package server gives the account
// page (this package cannot import that one), so a change of the page's data fails here, in every
// test run, rather than only when the benchmark is run.
func TestLongUsedAccountPageRenders(t *testing.T) {
	tmpl, p := longUsedAccountPage(t)
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", p); err != nil {
		t.Fatal(err)
	}
}

// longUsedAccountPage is the account page's template and the page of a long-used account.
func longUsedAccountPage(b testing.TB) (*template.Template, *Page) {
	v, err := parseViews()
	if err != nil {
		b.Fatal(err)
	}
	bundle, err := loadBundle()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
	o := &account.AccountOverview{Factors: account.FactorStatus{RecoveryLeft: 10}}
	for i := range 15 {
		o.History = append(o.History, account.SignInEvent{At: now.Add(-time.Duration(i) * time.Minute), Succeeded: true, ClientIP: "127.0.0.1", UserAgent: ua})
	}
	for i := range 50 {
		t := now.Add(-time.Duration(i) * time.Minute)
		o.Devices = append(o.Devices, account.Device{ID: int64(i + 1), UserAgent: ua, CreatedAt: t, LastSeenAt: t})
		o.Sessions = append(o.Sessions, account.Session{ID: fmt.Sprintf("%016x", i), CreatedAt: t, Expiry: t.Add(time.Hour)})
	}
	last := now.Add(-time.Hour)
	l := bundle.Localizer("en").In(time.UTC)
	// The page's data as package server gives it: the two long lists ready to print.
	type shownTime struct{ Datetime, Text string }
	type deviceRow struct {
		ID       int64
		Name     string
		LastSeen shownTime
	}
	type sessionRow struct {
		ID    string
		Since shownTime
		This  bool
	}
	data := struct {
		State      account.State
		LastSignIn *time.Time
		Factors    account.FactorStatus
		Overview   *account.AccountOverview
		// OrganisationZone and TimeZones are the zone choice's.
		OrganisationZone string
		TimeZones        []string
		Devices          []deviceRow
		Sessions         []sessionRow
	}{State: account.StateActive, LastSignIn: &last, Factors: o.Factors, Overview: o, OrganisationZone: "UTC", TimeZones: []string{"UTC"}}
	for _, d := range o.Devices {
		data.Devices = append(data.Devices, deviceRow{d.ID, l.Device(d.UserAgent), shownTime{d.LastSeenAt.Format(time.RFC3339), l.Time(d.LastSeenAt)}})
	}
	for i, x := range o.Sessions {
		data.Sessions = append(data.Sessions, sessionRow{x.ID, shownTime{x.CreatedAt.Format(time.RFC3339), l.Time(x.CreatedAt)}, i == 3})
	}
	a := &account.Account{ID: 1, Username: "alice", Email: "alice@example.com", Role: account.RoleUser, State: account.StateActive, Language: "en"}
	return v.pages["account"], &Page{Path: "/account", Lang: "en", L: l, Title: l.T("account_title"), Account: a, Data: data}
}
