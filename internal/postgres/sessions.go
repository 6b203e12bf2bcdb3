package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/secret"
)

// SessionAccountKey is the session value holding the signed-in account's id. The store copies it to
// a column so that every session of an account can be ended at once.
const SessionAccountKey = "account_id"

// SessionStore is an scs store that keeps only the SHA-256 of each session token, and each session's
// data encrypted under a key of its token and the server key (secret.SealSession), so a copy of the
// table reveals neither a way in nor what sessions hold (SECURITY.md 29).
type SessionStore struct {
	db    *DB
	codec scs.Codec
	key   []byte
}

// NewSessionStore returns a session store; codec must be the session manager's codec, and key the
// server's secret key.
func NewSessionStore(db *DB, codec scs.Codec, key []byte) *SessionStore {
	return &SessionStore{db: db, codec: codec, key: key}
}

var _ scs.CtxStore = (*SessionStore)(nil)

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// FindCtx returns a live session's data. An ended session is not found, nor one whose data does not
// open (the server key changed, or the row was tampered with): the browser starts afresh.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	var sealed []byte
	err := s.db.conn(ctx).QueryRow(ctx, `SELECT data FROM sessions WHERE token_hash = $1 AND ended_at IS NULL AND expiry > $2`,
		tokenHash(token), s.db.now()).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable("find session", err)
	}
	data, err := secret.OpenSession(s.key, token, sealed)
	if err != nil {
		return nil, false, nil
	}
	return data, true, nil
}

// CommitCtx saves a session. It inserts a token never seen and updates a live one, but never
// revives an ended one (SECURITY.md 27): a request that was in flight when its session ended saves
// nothing. An ended session's row stays (a tombstone) until the session's deadline; after that
// whatever a late request saves under its token would be expired already, so it is not stored.
func (s *SessionStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	ctx, cancel := outliveTheClient(ctx)
	defer cancel()
	deadline, values, err := s.codec.Decode(b)
	if err != nil {
		return fmt.Errorf("commit session: %w", err)
	}
	var accountID *int64
	if id, ok := values[SessionAccountKey].(int64); ok && id > 0 {
		accountID = &id
	}
	if deadline.Before(expiry) {
		expiry = deadline
	}
	now := s.db.now()
	if !expiry.After(now) {
		return nil
	}
	// account_id is read above, before sealing: ending an account's sessions needs it in the clear.
	sealed, err := secret.SealSession(s.key, token, b)
	if err != nil {
		return fmt.Errorf("commit session: %w", err)
	}
	_, err = s.db.conn(ctx).Exec(ctx, `INSERT INTO sessions (token_hash, data, expiry, deadline, account_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (token_hash) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry,
			deadline = EXCLUDED.deadline, account_id = EXCLUDED.account_id
		WHERE sessions.ended_at IS NULL`,
		tokenHash(token), sealed, expiry, deadline, accountID, now)
	return unavailable("commit session", err)
}

// endSessions ends the sessions the condition that follows it selects: each becomes a tombstone,
// its data cleared, kept until its deadline so that no late save brings it back. Every way a
// session ends goes through it.
const endSessions = `UPDATE sessions SET ended_at = now(), data = ''::bytea, expiry = deadline
	WHERE ended_at IS NULL AND `

// DeleteCtx ends a session: logout, and the old id when scs renews a session's token.
func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	ctx, cancel := outliveTheClient(ctx)
	defer cancel()
	_, err := s.db.conn(ctx).Exec(ctx, endSessions+`token_hash = $1`, tokenHash(token))
	return unavailable("delete session", err)
}

// sessionWriteTimeout bounds a session's save or end once its request's client has gone.
const sessionWriteTimeout = 5 * time.Second

// outliveTheClient is the context of a session's save or end: the request's client hanging up
// does not cancel it, so what the request did goes with its session. Otherwise a browser that
// signed out everywhere else, say, and hung up just after, would find its own session ended too:
// the new epoch it was to carry was never saved. A database that does not answer still ends it,
// after sessionWriteTimeout.
func outliveTheClient(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), sessionWriteTimeout)
}

// Find, Commit and Delete satisfy scs.Store for callers without a context.
func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

func (s *SessionStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

// DeleteExpired removes sessions past their expiry, and ended ones past their deadline; run it now
// and then.
func (s *SessionStore) DeleteExpired(ctx context.Context) (int, error) {
	tag, err := s.db.conn(ctx).Exec(ctx, `DELETE FROM sessions WHERE expiry <= $1`, s.db.now())
	if err != nil {
		return 0, unavailable("delete expired sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

// sessionLive reads whether the account's ($1) session of handle $2 is live.
const sessionLive = `SELECT EXISTS (SELECT 1 FROM sessions WHERE account_id = $1 AND ` + sessionHandle + ` = $2 AND ended_at IS NULL)`

// epochInto scans an account's session epoch into epoch; an account that is gone leaves it 0.
func epochInto(epoch *int64) func(pgx.Row) error {
	return func(row pgx.Row) error {
		if err := row.Scan(epoch); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return nil
	}
}

// queueKeptCheck queues into b, after the statement that takes the account's row, the check that
// the kept session is still live, and returns the verdict to give once b is sent: with the epoch
// the account had before this transaction, account.ErrSessionEnded when keep is no longer live and
// current. A keep with no handle keeps no session, and is not checked.
func queueKeptCheck(b *pgx.Batch, accountID int64, keep account.KeptSession) (verdict func(accountEpoch int64) error) {
	if keep.Handle == "" {
		return func(int64) error { return nil }
	}
	live := false
	b.Queue(sessionLive, accountID, keep.Handle).QueryRow(func(row pgx.Row) error { return row.Scan(&live) })
	return func(accountEpoch int64) error {
		if !live || !account.SessionCurrent(accountEpoch, keep.Epoch) {
			return account.ErrSessionEnded
		}
		return nil
	}
}

// holdSession takes the account's row until the caller's transaction ends, then checks that the
// session asking for an owner's change (keep; none when keep.Handle is empty) is still live and
// current. The change then comes before an end of the account's sessions (which waits for the
// row) or not at all: when an end came first, it returns account.ErrSessionEnded and the caller's
// transaction must change nothing.
func holdSession(ctx context.Context, tx pgx.Tx, accountID int64, keep account.KeptSession) error {
	if keep.Handle == "" {
		return nil
	}
	// Sent together, in this order: the check reads what an end that held the row committed.
	var epoch int64
	var b pgx.Batch
	b.Queue(`SELECT session_epoch FROM accounts WHERE id = $1 FOR NO KEY UPDATE`, accountID).QueryRow(epochInto(&epoch))
	verdict := queueKeptCheck(&b, accountID, keep)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return err
	}
	return verdict(epoch)
}

// endAccountSessions ends every session of an account but keep's (none when keep.Handle is empty),
// inside the caller's transaction, and bumps the account's session epoch: a session carries the
// epoch of its sign-in and is refused once it differs, which also ends a sign-in decided before this
// moment whose session is saved after it. It returns how many ended and the new epoch, which the
// kept session must take. A kept session must itself be live and current once the account's row is
// held: if another end came first, it returns account.ErrSessionEnded and the caller's transaction
// changes nothing. Every path that ends an account's sessions goes through here.
func endAccountSessions(ctx context.Context, tx pgx.Tx, accountID int64, keep account.KeptSession) (ended, epoch int64, err error) {
	// Sent together, in this order. The account's row first: its lock makes two ends of one
	// account's sessions take turns, and the statements after it read what the one before committed.
	var b pgx.Batch
	b.Queue(`UPDATE accounts SET session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch`, accountID).QueryRow(epochInto(&epoch))
	verdict := queueKeptCheck(&b, accountID, keep)
	b.Queue(endSessions+`account_id = $1 AND ($2 = '' OR `+sessionHandle+` <> $2)`, accountID, keep.Handle).Exec(func(tag pgconn.CommandTag) error {
		ended = tag.RowsAffected()
		return nil
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return 0, 0, err
	}
	if err := verdict(epoch - 1); err != nil {
		return 0, 0, err
	}
	return ended, epoch, nil
}
