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

-- +goose Down
DROP INDEX codes_flow_idx;
ALTER TABLE codes DROP COLUMN device_id;
ALTER TABLE codes DROP COLUMN flow_hash;
DROP TABLE guess_counters;
