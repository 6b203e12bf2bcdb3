package failover

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/unlockd/unlockd/internal/pgtest"
)

// recoveryLimit is how soon after the standby's promotion both processes must answer again by
// themselves; the README states what it measures (see the test's log).
const recoveryLimit = 20 * time.Second

// Two unlockd processes under a mixed load (wrong and right passwords, code requests that queue
// mail, API reads) while the primary crashes and its synchronous standby is promoted: meanwhile
// every answer is a success or 503 with Retry-After, never a 500 and never a session whose
// sign-in was not recorded; both processes answer again by themselves within seconds; every
// queued message is sent exactly once; the audit chain verifies; the lockout counters hold exactly
// the wrong passwords answered as counted, plus at most those answered 503.
func TestUnlockdSurvivesAFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	began := time.Now()
	s := newStack(t, ctx)
	wrong, right, code := accountNames()
	s.importAccounts(ctx, append(append(append([]string{}, wrong...), right...), code...), password)
	s.serve()
	s.serve()
	t.Logf("clusters, mail catcher, build and two processes ready in %s", time.Since(began).Round(time.Millisecond))

	l := newLoad(s.servers, s.token)
	loadCtx, stopLoad := context.WithCancel(ctx)
	loaded := make(chan struct{})
	go func() { defer close(loaded); l.run(loadCtx, 4) }()
	defer func() { stopLoad(); <-loaded }()

	time.Sleep(3 * time.Second)
	crashed := time.Now()
	if err := s.primary.Crash(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the failover's detection, which an operator or a manager takes
	if err := s.standby.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	recovered := waitForRecovery(t, l, promoted)
	time.Sleep(2 * time.Second) // some load on the new primary
	stopLoad()
	<-loaded

	answers := l.snapshot()
	t.Logf("%d requests; primary crashed, standby promoted %s later; answers 503 from %s", len(answers),
		promoted.Sub(crashed).Round(time.Millisecond), outage(answers, crashed))
	for i, d := range recovered {
		t.Logf("server %d answered again %s after the promotion (%s after the crash)", i, d.Round(time.Millisecond),
			(promoted.Sub(crashed) + d).Round(time.Millisecond))
	}
	t.Logf("%d requests sent after the promotion were answered 503", unavailableSince(answers, promoted))
	checkAnswers(t, answers)
	newPrimary := pgtest.Connect(t, ctx, s.standby.URL("unlockd"))
	checkLockoutCounts(t, ctx, newPrimary, answers)
	checkSignIns(t, ctx, newPrimary, s, answers)
	checkMessages(t, ctx, newPrimary, s, answers)
	if out := s.cli(ctx, "", "audit", "verify"); !strings.HasPrefix(out, "ok:") {
		t.Errorf("audit verify: %s", out)
	}
	checkFailoverMetrics(t, s)
}

// waitForRecovery waits until every server has answered a request sent after the promotion with
// something other than 503, and returns how long after the promotion each did.
func waitForRecovery(t *testing.T, l *load, promoted time.Time) []time.Duration {
	t.Helper()
	for deadline := promoted.Add(recoveryLimit); ; time.Sleep(50 * time.Millisecond) {
		recovered := make([]time.Duration, len(l.servers))
		missing := 0
		for i := range l.servers {
			if d, ok := firstSuccess(l.snapshot(), i, promoted); ok {
				recovered[i] = d
			} else {
				missing++
			}
		}
		if missing == 0 {
			return recovered
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d servers did not answer again within %s of the promotion", missing, len(l.servers), recoveryLimit)
		}
	}
}

// firstSuccess is how long after since the first request sent to server since then was answered
// with something other than 503.
func firstSuccess(answers []answer, server int, since time.Time) (time.Duration, bool) {
	var first time.Time
	for _, a := range answers {
		if a.server == server && a.err == nil && !a.sent.Before(since) && a.status != http.StatusServiceUnavailable &&
			(first.IsZero() || a.done.Before(first)) {
			first = a.done
		}
	}
	return first.Sub(since), !first.IsZero()
}

// unavailableSince counts the requests sent at or after since that were answered 503.
func unavailableSince(answers []answer, since time.Time) int {
	n := 0
	for _, a := range answers {
		if !a.sent.Before(since) && a.status == http.StatusServiceUnavailable {
			n++
		}
	}
	return n
}

// outage says when the 503s began and ended, from the crash.
func outage(answers []answer, crashed time.Time) string {
	var first, last time.Time
	n := 0
	for _, a := range answers {
		if a.status != http.StatusServiceUnavailable {
			continue
		}
		n++
		if first.IsZero() || a.done.Before(first) {
			first = a.done
		}
		if a.done.After(last) {
			last = a.done
		}
	}
	if n == 0 {
		return "nowhere"
	}
	return strconv.Itoa(n) + " times, " + first.Sub(crashed).Round(time.Millisecond).String() + " to " +
		last.Sub(crashed).Round(time.Millisecond).String() + " after the crash"
}

// wantStatus is what each kind of request may be answered besides 503.
// A code request goes on to the page where the code is entered.
var wantStatus = map[string]int{"wrong": http.StatusOK, "right": http.StatusSeeOther, "code": http.StatusSeeOther, "api": http.StatusOK}

// checkAnswers holds every answer to the contract: the request's success, or 503 with Retry-After
// and no session.
func checkAnswers(t *testing.T, answers []answer) {
	t.Helper()
	bad := 0
	for _, a := range answers {
		var problem string
		switch {
		case a.err != nil:
			problem = "no answer: " + a.err.Error()
		case a.status == http.StatusServiceUnavailable && a.retryAfter == "":
			problem = "503 without Retry-After"
		case a.status == http.StatusServiceUnavailable && a.op == "right" && a.session != "":
			problem = "503 with a session cookie"
		case a.status != http.StatusServiceUnavailable && a.status != wantStatus[a.op]:
			problem = "status " + strconv.Itoa(a.status)
		case a.op == "right" && a.status == http.StatusSeeOther && a.session == "":
			problem = "a sign-in without a session"
		}
		if problem != "" {
			if bad++; bad <= 10 {
				t.Errorf("%s %s on server %d: %s", a.op, a.account, a.server, problem)
			}
		}
	}
}

// countsByAccount counts the answers of one kind and status per account.
func countsByAccount(answers []answer, op string, status int) map[string]int {
	n := map[string]int{}
	for _, a := range answers {
		if a.op == op && a.err == nil && a.status == status {
			n[a.account]++
		}
	}
	return n
}

// auditCounts counts an action's audit events per account.
func auditCounts(t *testing.T, ctx context.Context, db *pgx.Conn, action string) map[string]int {
	t.Helper()
	rows, err := db.Query(ctx, `SELECT a.username, count(*) FROM audit_events e JOIN accounts a ON a.id = e.account_id
		WHERE e.action = $1 GROUP BY a.username`, action)
	if err != nil {
		t.Fatal(err)
	}
	n, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct {
		name  string
		count int
	}, error) {
		var v struct {
			name  string
			count int
		}
		return v, r.Scan(&v.name, &v.count)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, v := range n {
		out[v.name] = v.count
	}
	return out
}

// checkLockoutCounts holds each account's failure count to the wrong passwords answered: every one
// answered as a failure is counted (and audited), and nothing else is, but for attempts answered
// 503 whose count may have committed before the database went.
func checkLockoutCounts(t *testing.T, ctx context.Context, db *pgx.Conn, answers []answer) {
	t.Helper()
	counted := countsByAccount(answers, "wrong", http.StatusOK)
	uncertain := countsByAccount(answers, "wrong", http.StatusServiceUnavailable)
	audited := auditCounts(t, ctx, db, "sign_in.failed")
	rows, err := db.Query(ctx, `SELECT username, failed_attempts, state FROM accounts WHERE username LIKE 'wrong%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	total, totalUncertain := 0, 0
	for rows.Next() {
		var name, state string
		var stored int
		if err := rows.Scan(&name, &stored, &state); err != nil {
			t.Fatal(err)
		}
		total += counted[name]
		totalUncertain += uncertain[name]
		if stored < counted[name] || stored > counted[name]+uncertain[name] || state != "active" {
			t.Errorf("%s: %d failures stored (%s); %d answered as counted, %d answered 503", name, stored, state, counted[name], uncertain[name])
		}
		if audited[name] < counted[name] || audited[name] > stored {
			t.Errorf("%s: %d failures audited; %d answered as counted, %d stored", name, audited[name], counted[name], stored)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d wrong passwords answered as counted, %d answered 503", total, totalUncertain)
	if total == 0 {
		t.Error("no wrong password was answered: the load did not run")
	}
}

// checkSignIns holds every session granted to a recorded sign-in that the new primary still has.
func checkSignIns(t *testing.T, ctx context.Context, db *pgx.Conn, s *stack, answers []answer) {
	t.Helper()
	audited := auditCounts(t, ctx, db, "sign_in.succeeded")
	for name, granted := range countsByAccount(answers, "right", http.StatusSeeOther) {
		if audited[name] < granted {
			t.Errorf("%s: %d sessions granted, %d sign-ins audited", name, granted, audited[name])
		}
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	checked := 0
	for i, a := range answers {
		if a.op != "right" || a.status != http.StatusSeeOther {
			continue
		}
		req, _ := http.NewRequest(http.MethodGet, s.servers[i%len(s.servers)].URL+"/account", nil)
		req.Header.Set("Cookie", a.session)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("a session granted to %s at %s is gone after the failover: /account answers %d", a.account,
				a.done.Format(time.StampMilli), res.StatusCode)
		}
		checked++
	}
	t.Logf("%d sessions granted, each still valid on the new primary", checked)
}
