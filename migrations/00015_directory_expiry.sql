-- +goose Up
-- What the directory sync tells people of its own accord. password_expires_at is when the
-- directory's password policy expires the password (ppolicy pwdChangedTime + pwdMaxAge, AD
-- pwdLastSet + maxPwdAge; NULL: never, or a local account). expiry_warned_for is the expiry the
-- last warning was about, so that one expiry gets one warning and a new password a new one.
-- lock_noticed_for is when the directory lock its owner was last told of began, so that one lock
-- is told once, however often a sync sees it begin.
ALTER TABLE accounts ADD COLUMN password_expires_at timestamptz;
ALTER TABLE accounts ADD COLUMN expiry_warned_for timestamptz;
ALTER TABLE accounts ADD COLUMN lock_noticed_for timestamptz;

-- The sync looks for passwords about to expire every round.
CREATE INDEX accounts_password_expiry_idx ON accounts (password_expires_at) WHERE password_expires_at IS NOT NULL;

-- +goose Down
DROP INDEX accounts_password_expiry_idx;
ALTER TABLE accounts DROP COLUMN lock_noticed_for;
ALTER TABLE accounts DROP COLUMN expiry_warned_for;
ALTER TABLE accounts DROP COLUMN password_expires_at;
