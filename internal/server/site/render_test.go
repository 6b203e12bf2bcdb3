package site

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
)

// BenchmarkRenderAccountPage renders the account page of a long-used account, as the sign-in
// benchmark's account has it: 15 sign-ins, and the latest 5 of 50 devices and 50 sessions.
func BenchmarkRenderAccountPage(b *testing.B) { benchmarkRender(b, "account") }

// BenchmarkRenderBrowsersPage renders the page of all 50 devices and 50 sessions of that account.
func BenchmarkRenderBrowsersPage(b *testing.B) { benchmarkRender(b, "browsers") }

func benchmarkRender(b *testing.B, page string) {
	v, p := longUsedAccountPage(b, page)
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := v.render(&buf, page, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

// The benchmarks' pages render: their data restates the shape package server gives the pages
// (this package cannot import that one), so a change of the pages' data fails here, in every
// test run, rather than only when the benchmark is run.
func TestLongUsedAccountPagesRender(t *testing.T) {
	for _, page := range []string{"account", "browsers"} {
		v, p := longUsedAccountPage(t, page)
		var buf bytes.Buffer
		if err := v.render(&buf, page, p); err != nil {
			t.Fatal(page, err)
		}
	}
}

// longUsedAccountPage is the views and the data of the account page ("account") or of the page
// of all browsers ("browsers") of a long-used account, in English.
func longUsedAccountPage(b testing.TB, page string) (views, *Page) {
	return longUsedAccountPageIn(b, page, "en")
}

func longUsedAccountPageIn(b testing.TB, page, lang string) (views, *Page) {
	bundle, err := loadBundle()
	if err != nil {
		b.Fatal(err)
	}
	v, err := parseViews(bundle)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ua := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
	listed := 5
	if page == "browsers" {
		listed = account.MaxListedBrowsers
	}
	o := &account.AccountOverview{Factors: account.FactorStatus{RecoveryLeft: 10}, DeviceCount: 50, SessionCount: 50}
	for i := range 15 {
		o.History = append(o.History, account.SignInEvent{At: now.Add(-time.Duration(i) * time.Minute), Succeeded: true, ClientIP: "127.0.0.1", UserAgent: ua})
	}
	for i := range min(50, listed) {
		t := now.Add(-time.Duration(i) * time.Minute)
		o.Devices = append(o.Devices, account.Device{ID: int64(i + 1), UserAgent: ua, CreatedAt: t, LastSeenAt: t})
		o.Sessions = append(o.Sessions, account.Session{ID: fmt.Sprintf("%016x", i), CreatedAt: t, Expiry: t.Add(time.Hour)})
	}
	last := now.Add(-time.Hour)
	l := bundle.Localizer(lang).In(time.UTC)
	// The pages' data as package server gives it: the lists ready to print.
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
	type signInRow struct {
		At        shownTime
		Succeeded bool
		Place     string
		Device    string
	}
	type browserLists struct {
		Devices                   []deviceRow
		Sessions                  []sessionRow
		DeviceCount, SessionCount int
		All                       bool
	}
	browsers := browserLists{DeviceCount: o.DeviceCount, SessionCount: o.SessionCount, All: page == "browsers"}
	for _, d := range o.Devices {
		browsers.Devices = append(browsers.Devices, deviceRow{d.ID, l.Device(d.UserAgent), shownTime{d.LastSeenAt.Format(time.RFC3339), l.Time(d.LastSeenAt)}})
	}
	for i, x := range o.Sessions {
		browsers.Sessions = append(browsers.Sessions, sessionRow{x.ID, shownTime{x.CreatedAt.Format(time.RFC3339), l.Time(x.CreatedAt)}, i == 0})
	}
	a := &account.Account{ID: 1, Username: "alice", Email: "alice@example.com", Role: account.RoleUser, State: account.StateActive, Language: "en"}
	if page == "browsers" {
		data := struct{ Browsers browserLists }{browsers}
		return v, &Page{Path: "/account/devices", Lang: lang, L: l, Title: l.T("browsers_title"), Account: a, Data: data}
	}
	data := struct {
		State      account.State
		LastSignIn *time.Time
		Factors    account.FactorStatus
		Overview   *account.AccountOverview
		// OrganisationZone and TimeZones are the zone choice's.
		OrganisationZone string
		TimeZones        []string
		History          []signInRow
		Browsers         browserLists
	}{State: account.StateActive, LastSignIn: &last, Factors: o.Factors, Overview: o, OrganisationZone: "UTC", TimeZones: []string{"UTC"}, Browsers: browsers}
	for _, e := range o.History {
		data.History = append(data.History, signInRow{shownTime{e.At.Format(time.RFC3339), l.Time(e.At)}, e.Succeeded, l.Place(e.ClientIP), l.Device(e.UserAgent)})
	}
	return v, &Page{Path: "/account", Lang: lang, L: l, Title: l.T("account_title"), Account: a, Data: data}
}
