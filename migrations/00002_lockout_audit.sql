-- +goose Up
-- Policy values that differ from the built-in defaults, one row per key.
CREATE TABLE policy (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL
);

-- Every lock an account has had: history survives the unlock.
CREATE TABLE locks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('temporary', 'hard', 'freeze', 'disable')),
    source       text NOT NULL CHECK (source IN ('automatic', 'administrator', 'policy')),
    reason       text NOT NULL DEFAULT '',
    user_message text NOT NULL DEFAULT '',
    actor        text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    until        timestamptz,
    lifted_at    timestamptz,
    lifted_by    text NOT NULL DEFAULT '',
    lift_reason  text NOT NULL DEFAULT ''
);
CREATE INDEX locks_account_idx ON locks (account_id, started_at DESC);
CREATE INDEX locks_open_idx ON locks (account_id) WHERE lifted_at IS NULL;

-- Keyed HMACs of recent wrong passwords, so a device retrying a stale saved password counts once.
CREATE TABLE failed_passwords (
    account_id bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    mac        bytea NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, mac)
);

-- Browsers where the owner signed in before (the device-cookie pattern): each has its own allowance.
CREATE TABLE devices (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    nonce_hash   bytea NOT NULL UNIQUE,
    failures     integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    user_agent   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX devices_account_idx ON devices (account_id);

-- Which accounts each client failed to sign in to, and when last: one client failing on many accounts
-- is password spraying, throttled for every process at once.
CREATE TABLE client_failures (
    client    text NOT NULL,
    login_key text NOT NULL,
    last_at   timestamptz NOT NULL,
    PRIMARY KEY (client, login_key)
);
CREATE INDEX client_failures_last_idx ON client_failures (last_at);

-- The audit log: append-only, hash-chained. account_id has no foreign key so that history outlives
-- the account.
CREATE TABLE audit_events (
    id         bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    account_id bigint,
    username   text NOT NULL DEFAULT '',
    client_ip  text NOT NULL DEFAULT '',
    details    text NOT NULL DEFAULT '{}',
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL
);
CREATE INDEX audit_events_account_idx ON audit_events (account_id, id) WHERE account_id IS NOT NULL;
CREATE INDEX audit_events_at_idx ON audit_events (at);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
DROP TABLE client_failures;
DROP TABLE devices;
DROP TABLE failed_passwords;
DROP TABLE locks;
DROP TABLE policy;
