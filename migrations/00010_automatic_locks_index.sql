-- +goose Up
-- Automatic locks by time: the lockout-wave check after every automatic lock, and the emergency
-- "unlock everything locked since" preview, read them without scanning the whole lock history.
CREATE INDEX locks_automatic_started_idx ON locks (started_at) WHERE source = 'automatic';

-- +goose Down
DROP INDEX locks_automatic_started_idx;
