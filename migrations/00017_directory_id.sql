-- +goose Up
-- directory_id is the directory's own identifier of the person a directory account is for
-- (OpenLDAP entryUUID, Active Directory objectGUID), which no rename, move or reuse of a username
-- changes. A username given to someone else arrives with another identifier: the account is then
-- the new person's, and nothing of the one before (second factors, devices, sessions) is theirs.
-- NULL for local accounts, and until a sync or a read of the person records it.
ALTER TABLE accounts ADD COLUMN directory_id text;

-- +goose Down
ALTER TABLE accounts DROP COLUMN directory_id;
