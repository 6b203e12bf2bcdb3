-- +goose Up
-- imported_hash_sha256 is the SHA-256 of the password hash an import or the API set last, so that a
-- sync sending that hash again leaves the password alone. The stored hash may have changed since
-- then: upgraded at a sign-in (a bcrypt hash rehashed with argon2id) or replaced by the owner's own
-- reset. The same hash sent again is neither a new password (no session ends, nobody is told) nor
-- a step back to the older hash or the older password.
ALTER TABLE accounts ADD COLUMN imported_hash_sha256 bytea;

-- An account whose hash an import or the API set before the digest was kept: which hash that was
-- is not known, so the next one sent is taken as that one (its digest kept, the password left as
-- it is). An empty digest marks it; NULL is an account whose hash no import or API call ever set.
UPDATE accounts a SET imported_hash_sha256 = '\x'::bytea
WHERE EXISTS (SELECT 1 FROM audit_events e
              WHERE e.action = 'account.imported' AND e.account_id = a.id
                AND e.details::jsonb ->> 'password_hash' = 'true');

-- +goose Down
ALTER TABLE accounts DROP COLUMN imported_hash_sha256;
