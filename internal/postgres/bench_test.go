package postgres_test

import (
	"context"
	"fmt"
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
