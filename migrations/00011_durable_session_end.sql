-- +goose Up
-- An ended session stays ended (SECURITY.md 27), even when a request of it saves it afterwards.
-- Ending a session leaves its row as a tombstone (ended_at set, data cleared) until the session's
-- deadline, past which anything saved under its token would be expired anyway; a save never revives
-- a tombstone. deadline is the session's absolute end, read from its data when it is saved.
-- The session data is encrypted from now on (SECURITY.md 29): the rows of before are plaintext, so
-- they go (their browsers sign in again).
DELETE FROM sessions;
ALTER TABLE sessions
    ADD COLUMN deadline timestamptz NOT NULL,
    ADD COLUMN ended_at timestamptz,
    ADD CONSTRAINT sessions_ended_empty CHECK (ended_at IS NULL OR data = ''::bytea);
-- Bumped whenever all of an account's sessions end; a session remembers the account's epoch of its
-- sign-in and is refused once the two differ, so a sign-in that was decided before the end but whose
-- session is saved after it does not come back.
ALTER TABLE accounts ADD COLUMN session_epoch bigint NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE accounts DROP COLUMN session_epoch;
-- The code of before reads neither tombstones nor encrypted data.
DELETE FROM sessions;
ALTER TABLE sessions
    DROP CONSTRAINT sessions_ended_empty,
    DROP COLUMN ended_at,
    DROP COLUMN deadline;
