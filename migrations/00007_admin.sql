-- +goose Up
-- Substring search over a million accounts answers from trigram indexes.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX accounts_username_trgm ON accounts USING gin (lower(username) gin_trgm_ops);
CREATE INDEX accounts_email_trgm ON accounts USING gin (lower(email) gin_trgm_ops);
CREATE INDEX accounts_name_trgm ON accounts USING gin (lower(display_name) gin_trgm_ops);
CREATE INDEX accounts_phone_trgm ON accounts USING gin (phone gin_trgm_ops);
CREATE INDEX audit_events_hourly_idx ON audit_events (action, at);

-- +goose Down
DROP INDEX audit_events_hourly_idx;
DROP INDEX accounts_phone_trgm;
DROP INDEX accounts_name_trgm;
DROP INDEX accounts_email_trgm;
DROP INDEX accounts_username_trgm;
