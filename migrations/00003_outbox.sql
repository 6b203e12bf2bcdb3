-- +goose Up
-- Outgoing messages (the transactional outbox). A change and the message it causes commit in one
-- transaction; workers deliver from here, so a message survives a restart and a mail-server outage.
-- data holds the template's data (a JSON object of strings), which may include a one-time code or a
-- reset link: it is emptied once the message is sent or given up.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         text NOT NULL CHECK (channel IN ('email', 'sms', 'webhook')),
    recipient       text NOT NULL CHECK (length(recipient) BETWEEN 1 AND 320),
    template        text NOT NULL CHECK (template ~ '^[a-z][a-z0-9_]{0,63}$'),
    lang            text NOT NULL DEFAULT 'en',
    data            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- '-infinity' until the first failure: due at once, whatever the clock of the worker that claims it.
    next_attempt_at timestamptz NOT NULL DEFAULT '-infinity',
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    leased_until    timestamptz,
    sent_at         timestamptz,
    last_error      text NOT NULL DEFAULT '',
    dead_at         timestamptz,
    CHECK (sent_at IS NULL OR dead_at IS NULL)
);
-- What workers look for: pending messages in the order they become due.
CREATE INDEX outbox_pending_idx ON outbox (next_attempt_at, id) WHERE sent_at IS NULL AND dead_at IS NULL;

-- +goose Down
DROP TABLE outbox;
