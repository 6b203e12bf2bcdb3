-- +goose Up
-- The dashboard's account search (internal/postgres/search.go) reads these instead of four
-- trigram indexes over four expressions:
--   search_key   the username (ASCII) in lower case and byte order, whatever the database's
--                locale: the order results come in;
--   search_text  everything a search matches, in search_fold's lower case, one field per line,
--                so that no match spans two fields.
-- accounts_search_order holds both, so walking it in order reads no table rows;
-- accounts_search_state does the same within a state other than active (and replaces the plain
-- state index); accounts_search_trgm finds rare substrings, and accounts_search_bigrams the
-- two-character ones beyond ASCII (a Chinese name is often two characters, and a trigram needs
-- three).
--
-- search_fold is the lower case a search compares in, beyond ASCII too whatever the database's
-- locale: ICU's when the server has it (a database made with the C locale lower-cases only ASCII).
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu')
       AND current_setting('server_encoding') = 'UTF8' THEN
        CREATE FUNCTION search_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $f$ SELECT lower(t COLLATE "und-x-icu") $f$;
    ELSE
        CREATE FUNCTION search_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
            AS $f$ SELECT lower(t) $f$;
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE accounts
    ADD COLUMN search_key text COLLATE "C" GENERATED ALWAYS AS (lower(username COLLATE "C")) STORED,
    ADD COLUMN search_text text GENERATED ALWAYS AS (
        search_fold(username || E'\n' || email || E'\n' || display_name || E'\n' || phone)) STORED;
CREATE INDEX accounts_search_order ON accounts (search_key) INCLUDE (id, state, search_text);
CREATE INDEX accounts_search_state ON accounts (state, search_key) INCLUDE (id, search_text)
    WHERE state <> 'active';
CREATE INDEX accounts_search_trgm ON accounts USING gin (search_text gin_trgm_ops);
-- +goose StatementBegin
CREATE FUNCTION account_bigrams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN t ~ '^[[:ascii:]]*$' THEN '{}'::text[] ELSE (
        SELECT coalesce(array_agg(DISTINCT b), '{}')
        FROM (SELECT substr(t, i, 2) AS b FROM generate_series(1, length(t) - 1) AS i) AS pairs
        WHERE b ~ '[^[:ascii:]]' AND b !~ '[[:space:]]') END
$$;
-- +goose StatementEnd
CREATE INDEX accounts_search_bigrams ON accounts USING gin (account_bigrams(search_text));
DROP INDEX accounts_state_idx;
DROP INDEX accounts_username_trgm;
DROP INDEX accounts_email_trgm;
DROP INDEX accounts_name_trgm;
DROP INDEX accounts_phone_trgm;

-- +goose Down
CREATE INDEX accounts_username_trgm ON accounts USING gin (lower(username) gin_trgm_ops);
CREATE INDEX accounts_email_trgm ON accounts USING gin (lower(email) gin_trgm_ops);
CREATE INDEX accounts_name_trgm ON accounts USING gin (lower(display_name) gin_trgm_ops);
CREATE INDEX accounts_phone_trgm ON accounts USING gin (phone gin_trgm_ops);
CREATE INDEX accounts_state_idx ON accounts (state) WHERE state <> 'active';
ALTER TABLE accounts DROP COLUMN search_text, DROP COLUMN search_key;
DROP FUNCTION account_bigrams(text);
DROP FUNCTION search_fold(text);
