package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/unlockd/unlockd/internal/postgres"
)

// A claim whose answer is lost with the connection (a failover during the claim) may have leased
// messages that nobody sends: the next claim hands back exactly those, and no other worker's.
func TestMessagesOfAClaimWhoseAnswerWasLostAreDueAgainAtOnce(t *testing.T) {
	db, _ := mustOutboxDB(t)
	ctx := context.Background()
	for _, to := range []string{"lost@example.com", "other@example.com"} {
		if err := db.Enqueue(ctx, codeMessage(to)); err != nil {
			t.Fatal(err)
		}
	}
	mine, theirs := postgres.NewOutbox(db), postgres.NewOutbox(db)
	lost := claimOne(t, mine, "lost@example.com")
	claimOne(t, theirs, "other@example.com")

	var until time.Time
	if err := db.Pool.QueryRow(ctx, `SELECT leased_until FROM outbox WHERE id = $1`, lost).Scan(&until); err != nil {
		t.Fatal(err)
	}
	mine.LoseClaimAnswer(until)
	again, err := mine.Claim(ctx, 10, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].ID != lost || again[0].Attempts != 2 {
		t.Fatalf("after a lost answer the next claim got %+v, want message %d again (attempt 2) and nothing of another claim's", again, lost)
	}
}

// claimOne claims one message, which must be the one to to.
func claimOne(t *testing.T, o *postgres.Outbox, to string) int64 {
	t.Helper()
	got, err := o.Claim(context.Background(), 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].To != to {
		t.Fatalf("claimed %+v, want the message to %s", got, to)
	}
	return got[0].ID
}
