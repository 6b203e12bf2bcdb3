-- +goose Up
-- Alerts raised to the administrators, so that a wave of lockouts sends one email, not one per lock.
CREATE TABLE alerts (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind      text NOT NULL,
    raised_at timestamptz NOT NULL,
    count     integer NOT NULL
);
CREATE INDEX alerts_kind_idx ON alerts (kind, raised_at DESC);

-- Maintenance windows of the business system: sign-in and unlock pause while one runs.
CREATE TABLE maintenance_windows (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL CHECK (ends_at > starts_at),
    message_en text NOT NULL,
    message_zh text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    cancelled_at timestamptz
);
CREATE INDEX maintenance_windows_end_idx ON maintenance_windows (ends_at) WHERE cancelled_at IS NULL;

-- +goose Down
DROP TABLE maintenance_windows;
DROP TABLE alerts;
