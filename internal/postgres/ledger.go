package postgres

import (
	"context"
	"time"
)

// Reserve counts one more against (scope, subject) in a fixed window that starts at the first count
// and lasts window, in one statement: of any number of concurrent callers in any number of
// processes, each sees a different count. It returns the count including this one.
func (s *Ledger) Reserve(ctx context.Context, scope, subject string, window time.Duration, now time.Time) (int, error) {
	var n int
	err := s.db.conn(ctx).QueryRow(ctx, `INSERT INTO guess_counters AS g (scope, subject, window_start, count)
		VALUES ($1, $2, $3, 1)
		ON CONFLICT (scope, subject) DO UPDATE SET
			count = CASE WHEN g.window_start <= $3 - $4::interval THEN 1 ELSE g.count + 1 END,
			window_start = CASE WHEN g.window_start <= $3 - $4::interval THEN $3 ELSE g.window_start END
		RETURNING count`, scope, subject, now, window).Scan(&n)
	return n, unavailable("reserve "+scope, err)
}

// Release takes back one count of (scope, subject): a guess that proved right, or one that was
// never checked.
func (s *Ledger) Release(ctx context.Context, scope, subject string) error {
	_, err := s.db.conn(ctx).Exec(ctx, `UPDATE guess_counters SET count = count - 1
		WHERE scope = $1 AND subject = $2 AND count > 0`, scope, subject)
	return unavailable("release "+scope, err)
}
