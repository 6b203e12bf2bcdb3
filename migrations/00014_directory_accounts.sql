-- +goose Up
-- Accounts read from a directory (LDAP, Active Directory): where an account lives, and the
-- directory's name of the person. A local account has no DN; a directory account always has one.
ALTER TABLE accounts ADD COLUMN source text NOT NULL DEFAULT 'local' CHECK (source IN ('local', 'directory'));
ALTER TABLE accounts ADD COLUMN directory_dn text CHECK (length(directory_dn) BETWEEN 1 AND 2048);
ALTER TABLE accounts ADD CONSTRAINT accounts_source_dn_check CHECK ((source = 'directory') = (directory_dn IS NOT NULL));

-- A lock the directory set, as a sync read it, is kept with unlockd's own, told apart by its source.
ALTER TABLE locks DROP CONSTRAINT locks_source_check;
ALTER TABLE locks ADD CONSTRAINT locks_source_check CHECK (source IN ('automatic', 'administrator', 'policy', 'directory'));

-- How far the last finished sync of each directory read (modifyTimestamp or uSNChanged), so that
-- the next one reads only what changed since. A directory is named by its URL and subtree.
CREATE TABLE directory_sync (
    directory text PRIMARY KEY,
    mark      text NOT NULL,
    synced_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE directory_sync;
DELETE FROM locks WHERE source = 'directory';
ALTER TABLE locks DROP CONSTRAINT locks_source_check;
ALTER TABLE locks ADD CONSTRAINT locks_source_check CHECK (source IN ('automatic', 'administrator', 'policy'));
ALTER TABLE accounts DROP CONSTRAINT accounts_source_dn_check;
ALTER TABLE accounts DROP COLUMN directory_dn;
ALTER TABLE accounts DROP COLUMN source;
