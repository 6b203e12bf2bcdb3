package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unlockd/unlockd/internal/account"
	"github.com/unlockd/unlockd/internal/audit"
)

// CreateToken stores a new API token.
func (s *Tokens) CreateToken(ctx context.Context, name string, role account.Role, hash []byte, actor account.Actor, now time.Time) (*account.APIToken, error) {
	t := &account.APIToken{Name: name, Role: role, CreatedAt: now}
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			name, string(role), hash, now).Scan(&t.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.TokenCreated, ClientIP: actor.Client,
			Details: audit.Details("name", name, "role", string(role))})
	})
	if _, ok := isUniqueViolation(err); ok {
		return nil, account.Fail(account.ECONFLICT, "err_token_exists", map[string]any{"Name": name}, "a token named %q exists; revoke it first", name)
	}
	return t, unavailable("create token", err)
}

// Tokens lists tokens.
func (s *Tokens) Tokens(ctx context.Context) ([]account.APIToken, error) {
	rows, err := s.db.conn(ctx).Query(ctx, `SELECT id, name, role, created_at, last_used_at, revoked_at FROM api_tokens ORDER BY lower(name), id`)
	if err != nil {
		return nil, unavailable("tokens", err)
	}
	defer rows.Close()
	var out []account.APIToken
	for rows.Next() {
		var t account.APIToken
		var role string
		if err := rows.Scan(&t.ID, &t.Name, &role, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt); err != nil {
			return nil, err
		}
		t.Role = account.Role(role)
		out = append(out, t)
	}
	return out, unavailable("tokens", rows.Err())
}

// RevokeToken revokes the live token of that name.
func (s *Tokens) RevokeToken(ctx context.Context, name string, actor account.Actor, now time.Time) error {
	err := s.db.Transact(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_at = $2 WHERE lower(name) = lower($1) AND revoked_at IS NULL`, name, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return account.Fail(account.ENOTFOUND, "err_token_not_found", map[string]any{"Name": name}, "no live token named %q", name)
		}
		return appendAudit(ctx, tx, &audit.Event{At: now, Actor: actor.Name, Action: audit.TokenRevoked, ClientIP: actor.Client,
			Details: audit.Details("name", name)})
	})
	var ae *account.Error
	if errors.As(err, &ae) {
		return err
	}
	return unavailable("revoke token", err)
}

// TokenByHash finds a live token and notes its use.
func (s *Tokens) TokenByHash(ctx context.Context, hash []byte, now time.Time) (*account.APIToken, error) {
	var t account.APIToken
	var role string
	err := s.db.conn(ctx).QueryRow(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL
		RETURNING id, name, role, created_at, last_used_at`, hash, now).Scan(&t.ID, &t.Name, &role, &t.CreatedAt, &t.LastUsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, account.Errorf(account.ENOTFOUND, "unknown token")
	}
	if err != nil {
		return nil, unavailable("token", err)
	}
	t.Role = account.Role(role)
	return &t, nil
}
