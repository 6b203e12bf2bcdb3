package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/notify"
)

// SetSearchWalk changes how many index entries a search walks before it asks an index, so that
// tests reach every path with a few accounts.
func (s *Admin) SetSearchWalk(n int) { s.walkRows = n }

// SearchWalkBound is how many windows a page of a search that no index serves walks, at most.
const SearchWalkBound = searchWalkBound

// IndexableTrigrams and IsBigram are what a search hands to its indexes.
func IndexableTrigrams(query string) []string {
	var out []string
	for _, g := range indexableTrigrams(query) {
		out = append(out, g.raw)
	}
	return out
}

var IsBigram = isBigram

// WithoutSearchSample keeps the store from ever sampling, so that every trigram of a query goes
// to the index.
func (s *Admin) WithoutSearchSample() { s.trigrams.takenAt = time.Now().Add(1000 * time.Hour) }

// Enqueue queues messages inside the caller's transaction tx, as the stores do with their changes.
func Enqueue(ctx context.Context, tx pgx.Tx, msgs ...notify.Message) error {
	return unavailable("outbox enqueue", enqueue(ctx, tx, msgs))
}

// LoseClaimAnswer makes the outbox take the claim that leased its messages until until as one
// whose answer was lost with the connection.
func (o *Outbox) LoseClaimAnswer(until time.Time) { o.remember(until) }
