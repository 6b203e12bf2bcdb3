-- +goose Up
-- The guess ledger's windowed counters: second-factor guesses on the unlock pages (per account, or
-- per known device of the account) and every code, link or request a client asks for. A row is
-- reserved in one statement before anything is checked, so concurrent requests in any number of
-- processes never pass a limit.
CREATE TABLE guess_counters (
    scope        text NOT NULL,
    subject      text NOT NULL,
    window_start timestamptz NOT NULL,
    count        integer NOT NULL CHECK (count >= 0),
    PRIMARY KEY (scope, subject)
);
CREATE INDEX guess_counters_window_idx ON guess_counters (window_start);

-- A code belongs to the browser flow that asked for it (the HMAC of the flow's nonce), and to the
-- known device it was asked from, if any: wrong entries in another flow never reach it, and a new
-- code elsewhere does not supersede it. Codes without a flow (sent when staff create an account)
-- are open to any flow of their account and purpose.
ALTER TABLE codes ADD COLUMN flow_hash bytea;
ALTER TABLE codes ADD COLUMN device_id bigint REFERENCES devices (id) ON DELETE SET NULL;
CREATE INDEX codes_flow_idx ON codes (account_id, purpose, flow_hash, created_at DESC);

-- When the last sign-in attempt that was let through was counted: an account (or known device) at
-- its threshold whose failure was never written is locked by the rules once that attempt is
-- certainly over, instead of refusing every password forever while staying "active".
ALTER TABLE accounts ADD COLUMN last_attempt_at timestamptz;
ALTER TABLE devices ADD COLUMN last_attempt_at timestamptz;
-- failed_attempts counts the attempts let through to a check (so no number of concurrent ones
-- checks more than the threshold); failures_recorded counts those that were checked and wrong, and
-- decides the lock, so that a right password checked at the same time is not locked out by the
-- attempts beside it.
ALTER TABLE accounts ADD COLUMN failures_recorded integer NOT NULL DEFAULT 0 CHECK (failures_recorded >= 0);
UPDATE accounts SET failures_recorded = failed_attempts WHERE state = 'active';

-- +goose Down
ALTER TABLE devices DROP COLUMN last_attempt_at;
ALTER TABLE accounts DROP COLUMN failures_recorded;
ALTER TABLE accounts DROP COLUMN last_attempt_at;
DROP INDEX codes_flow_idx;
ALTER TABLE codes DROP COLUMN device_id;
ALTER TABLE codes DROP COLUMN flow_hash;
DROP TABLE guess_counters;
