-- +goose Up
-- The zone a person reads times in, chosen on /account (empty: the organisation's, UNLOCKD_TIMEZONE),
-- and the zone each queued message writes its times in.
ALTER TABLE accounts ADD COLUMN time_zone text NOT NULL DEFAULT '' CHECK (length(time_zone) <= 64);
ALTER TABLE outbox ADD COLUMN time_zone text NOT NULL DEFAULT '' CHECK (length(time_zone) <= 64);

-- +goose Down
ALTER TABLE outbox DROP COLUMN time_zone;
ALTER TABLE accounts DROP COLUMN time_zone;
