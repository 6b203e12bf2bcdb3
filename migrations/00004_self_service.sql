-- +goose Up
-- One-time codes: only an HMAC of the code is kept; each code is bound to one account and purpose.
CREATE TABLE codes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    purpose       text NOT NULL CHECK (purpose IN ('signin', 'unlock', 'status', 'verify', 'contact')),
    channel       text NOT NULL CHECK (channel IN ('email', 'sms')),
    destination   text NOT NULL,
    code_hash     bytea NOT NULL,
    client        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    max_attempts  integer NOT NULL CHECK (max_attempts > 0),
    used_at       timestamptz,
    superseded_at timestamptz
);
CREATE INDEX codes_account_idx ON codes (account_id, purpose, created_at DESC);
CREATE INDEX codes_client_idx ON codes (client, created_at);
CREATE INDEX codes_destination_idx ON codes (destination, created_at);

-- Password reset links: only the SHA-256 of the token is kept; only the newest one works.
CREATE TABLE reset_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash    bytea NOT NULL UNIQUE,
    client        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    superseded_at timestamptz
);
CREATE INDEX reset_tokens_account_idx ON reset_tokens (account_id, created_at DESC);
CREATE INDEX reset_tokens_client_idx ON reset_tokens (client, created_at);

-- Requests to the administrators when self-service cannot help.
CREATE TABLE unlock_requests (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference  text NOT NULL UNIQUE,
    account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
    login      text NOT NULL,
    contact    text NOT NULL DEFAULT '',
    message    text NOT NULL DEFAULT '',
    client     text NOT NULL DEFAULT '',
    lang       text NOT NULL DEFAULT 'en',
    created_at timestamptz NOT NULL,
    status     text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'denied')),
    handled_by text NOT NULL DEFAULT '',
    handled_at timestamptz,
    response   text NOT NULL DEFAULT ''
);
CREATE INDEX unlock_requests_open_idx ON unlock_requests (created_at) WHERE status = 'open';
CREATE INDEX unlock_requests_client_idx ON unlock_requests (client, created_at);

-- +goose Down
DROP TABLE unlock_requests;
DROP TABLE reset_tokens;
DROP TABLE codes;
