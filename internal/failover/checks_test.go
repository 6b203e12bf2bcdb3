package failover

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/unlockd/unlockd/internal/servetest"
)

// checkMessages holds the mail to the queue: every message queued is delivered and recorded as
// sent (none left leased, none given up), the mail catcher has exactly as many messages for each
// address as were queued for it (none lost, none twice), and each code request answered as sent
// queued exactly one.
func checkMessages(t *testing.T, ctx context.Context, db *pgx.Conn, s *stack, answers []answer) {
	t.Helper()
	waitForDelivery(t, ctx, db)
	queued := map[string]int{}
	rows, err := db.Query(ctx, `SELECT recipient, count(*) FROM outbox WHERE channel = 'email' GROUP BY recipient`)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for rows.Next() {
		var to string
		var n int
		if err := rows.Scan(&to, &n); err != nil {
			t.Fatal(err)
		}
		queued[strings.ToLower(to)] = n
		total += n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	received := waitForMail(t, s, total)
	for to, n := range queued {
		if received[to] != n {
			t.Errorf("%s: %d messages queued, %d received", to, n, received[to])
		}
	}
	for to, n := range received {
		if queued[to] == 0 {
			t.Errorf("%s: %d messages received, none queued", to, n)
		}
	}
	for _, a := range answers {
		to := a.account + "@example.com"
		if a.op == "code" && a.err == nil && (a.status == http.StatusSeeOther && queued[to] != 1 || queued[to] > 1) {
			t.Errorf("code request for %s answered %d: %d messages queued", a.account, a.status, queued[to])
		}
	}
	t.Logf("%d messages queued, each received once", total)
}

// waitForDelivery waits until no message is waiting or leased: every one is recorded as sent.
func waitForDelivery(t *testing.T, ctx context.Context, db *pgx.Conn) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var pending, dead int
		if err := db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE sent_at IS NULL AND dead_at IS NULL),
			count(*) FILTER (WHERE dead_at IS NOT NULL) FROM outbox`).Scan(&pending, &dead); err != nil {
			t.Fatal(err)
		}
		if dead > 0 {
			t.Fatalf("%d messages given up", dead)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still unsent (or sent and not recorded) 60 s after the load", pending)
		}
	}
}

// waitForMail waits until the mail catcher holds at least want messages, then a moment more for any
// that would come twice, and counts them by recipient.
func waitForMail(t *testing.T, s *stack, want int) map[string]int {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); len(s.mail.Messages(t)) < want; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(time.Second)
	received := map[string]int{}
	for _, m := range s.mail.Messages(t) {
		for _, to := range m.Recipients() {
			received[strings.ToLower(to)]++
		}
	}
	return received
}

// checkFailoverMetrics holds each process's metrics to what happened: its pool reached another
// server than before.
func checkFailoverMetrics(t *testing.T, s *stack) {
	t.Helper()
	for i, p := range s.servers {
		changes := metric(t, p, `unlockd_database_server_changes_total{pool="primary"}`)
		unavailable := metric(t, p, `unlockd_database_unavailable_total{kind="connect",pool="primary"}`)
		t.Logf("server %d: %v change(s) of database server, %v connection(s) no host accepted", i, changes, unavailable)
		if changes < 1 {
			t.Errorf("server %d: no change of database server in its metrics", i)
		}
	}
}

// metric reads one series of a process's /metrics; 0 when absent.
func metric(t *testing.T, p *servetest.Process, series string) float64 {
	t.Helper()
	res, err := http.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	return 0
}
