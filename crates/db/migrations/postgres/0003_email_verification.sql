-- E-mail verification (issue 8): an address is used for recovery and notices only
-- once its owner opened a mailed link. Keep in step with the other engine's folder.

ALTER TABLE users ADD COLUMN email_verified_at BIGINT;

-- One row per mailed verification link. `purpose` is `register` (no account yet:
-- the account is created from this row when the link is used, so a registration
-- with a taken address and one with a new address look the same) or `change` (an
-- existing account asked to move to `email`; applied when the link is used).
CREATE TABLE email_verifications (
    id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    username TEXT,
    password_hash TEXT,
    referred_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    invalidated_at BIGINT
);
CREATE INDEX email_verifications_user ON email_verifications(user_id);
CREATE INDEX email_verifications_email ON email_verifications(email);
