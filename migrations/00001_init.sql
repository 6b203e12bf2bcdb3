-- +goose Up
CREATE TABLE accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL CHECK (length(username) BETWEEN 1 AND 64),
    email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    phone           text NOT NULL DEFAULT '' CHECK (phone = '' OR phone ~ '^\+[1-9][0-9]{6,14}$'),
    display_name    text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    role            text NOT NULL DEFAULT 'user'
                    CHECK (role IN ('user', 'helpdesk', 'auditor', 'admin')),
    state           text NOT NULL DEFAULT 'active'
                    CHECK (state IN ('active', 'locked_temporarily', 'locked', 'frozen', 'disabled',
                                     'pending_verification', 'expired')),
    state_reason    text NOT NULL DEFAULT '',
    locked_until    timestamptz,
    password_hash   text NOT NULL DEFAULT '',
    language        text NOT NULL DEFAULT '' CHECK (language IN ('', 'en', 'zh-CN')),
    expires_at      timestamptz,
    failed_attempts integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    last_sign_in_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'locked_temporarily' OR locked_until IS NOT NULL)
);
-- Usernames and email addresses are unique whatever their letter case, and looked up that way.
CREATE UNIQUE INDEX accounts_username_key ON accounts (lower(username));
CREATE UNIQUE INDEX accounts_email_key ON accounts (lower(email));
CREATE UNIQUE INDEX accounts_phone_key ON accounts (phone) WHERE phone <> '';
CREATE INDEX accounts_state_idx ON accounts (state) WHERE state <> 'active';

-- Browser sessions. The token is stored only as its SHA-256, so a copy of this table signs nobody in.
-- account_id lets every session of an account be ended at once.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    data       bytea NOT NULL,
    expiry     timestamptz NOT NULL,
    account_id bigint REFERENCES accounts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);
CREATE INDEX sessions_account_idx ON sessions (account_id) WHERE account_id IS NOT NULL;

-- +goose Down
DROP TABLE sessions;
DROP TABLE accounts;
