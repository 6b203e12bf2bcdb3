-- +goose Up
-- Authenticator (TOTP) secrets, sealed with a key derived from the server key. last_step is the
-- newest time step used, so a code works once.
CREATE TABLE totp_secrets (
    account_id  bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed      bytea NOT NULL,
    last_step   bigint NOT NULL DEFAULT 0,
    enrolled_at timestamptz NOT NULL
);

-- Recovery codes: only their SHA-256 is kept; each works once.
CREATE TABLE recovery_codes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX recovery_codes_account_idx ON recovery_codes (account_id) WHERE used_at IS NULL;

-- +goose Down
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
