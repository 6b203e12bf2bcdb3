package postgres_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/postgres"
)

// BenchmarkAuditedRejection is the database side of one refused sign-in: the client's spraying
// count and one hash-chained audit row, in one transaction, from parallel clients. It shows how
// far the chain's serialisation is from limiting sign-ins (which argon2id bounds at ~100/s here).
func BenchmarkAuditedRejection(b *testing.B) {
	db, err := postgres.Open(context.Background(), pgtestURL(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	store := postgres.NewAccountStore(db)
	var seq atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			err := store.RecordRejection(context.Background(), account.Rejection{Username: fmt.Sprintf("user%d", n),
				Reason: "unknown_user", Client: fmt.Sprintf("10.0.%d.%d", n/256%256, n%256), ClientKey: fmt.Sprintf("login:user%d", n), Now: time.Now()})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if n, err := postgres.NewAuditStore(db).Verify(context.Background()); err != nil || n != int64(b.N) {
		b.Fatalf("chain after the benchmark: %d events, %v", n, err)
	}
}

// TestLoadSearchOverAMillionAccounts measures dashboard searches with 1,000,000 accounts in the
// table (make bench; UNLOCKD_LOAD=1). The target is under 50 ms of server time per search.
func TestLoadSearchOverAMillionAccounts(t *testing.T) {
	if os.Getenv("UNLOCKD_LOAD") == "" {
		t.Skip("load test: set UNLOCKD_LOAD=1 (make bench)")
	}
	db := mustDB(t)
	ctx := context.Background()
	start := time.Now()
	if _, err := db.Pool.Exec(ctx, `INSERT INTO accounts (username, email, phone, display_name, state)
		SELECT 'user' || g, 'user' || g || '@corp' || (g % 97) || '.example.com',
		       '+86138' || lpad(g::text, 8, '0'), 'Person ' || md5(g::text),
		       CASE WHEN g % 50 = 0 THEN 'locked' ELSE 'active' END
		FROM generate_series(1, 1000000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE accounts`); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("LOAD: inserted 1,000,000 accounts in %v\n", time.Since(start).Round(time.Second))
	store := postgres.NewAccountStore(db)
	for _, q := range []account.AccountSearch{
		{Query: "user4242", Limit: 50},
		{Query: "corp13.example", Limit: 50},
		{Query: "13800012", Limit: 50},
		{Query: "a1b2", Limit: 50},
		{State: account.StateLocked, Limit: 50},
		{Query: "user99", State: account.StateLocked, Limit: 50},
		{Query: "user", After: "user500000", Limit: 50},
	} {
		var worst time.Duration
		var n int
		for i := 0; i < 5; i++ {
			t0 := time.Now()
			res, err := store.SearchAccounts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			n = len(res)
			worst = max(worst, time.Since(t0))
		}
		verdict := "within 50 ms"
		if worst > 50*time.Millisecond {
			// Reported, not failed: the figure depends on what else the machine runs, and the
			// slow shapes (common substrings across all four columns) are known work.
			verdict = "OVER 50 ms"
		}
		fmt.Printf("LOAD: search %+v: %d results, slowest of 5 %v (%s)\n", q, n, worst.Round(100*time.Microsecond), verdict)
	}
}
