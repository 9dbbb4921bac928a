-- Private messaging (issue 11, D7; crates/messaging owns these tables' SQL).
-- Keep in step with ../sqlite/0012_messaging.sql (the parity test).
-- Times are Unix ms; IDs UUID text. Message IDs are UUIDv7, so ordering by ID is
-- ordering by time (and unique: a total order for keyset pagination).

-- One row per unordered pair of users: the pair is stored sorted (user_low <
-- user_high) so UNIQUE catches (a, b) and (b, a) alike. last_message_id is the
-- inbox's sort key, moved forward by every send in the same transaction.
CREATE TABLE conversations (
    id TEXT PRIMARY KEY NOT NULL,
    user_low TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    user_high TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    last_message_id TEXT,
    created_at BIGINT NOT NULL,
    CHECK (user_low < user_high),
    UNIQUE (user_low, user_high)
);
CREATE INDEX conversations_low_inbox ON conversations(user_low, last_message_id);
CREATE INDEX conversations_high_inbox ON conversations(user_high, last_message_id);

-- The payload is opaque bytes: text/plain as UTF-8, end-to-end-encrypted envelopes
-- exactly as the client sent them. The server never re-encodes it.
CREATE TABLE messages (
    id TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    sender_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL
        CHECK (content_type IN ('text/plain', 'application/vnd.rampart.e2ee+json')),
    payload BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
-- Conversation paging and unread counts: (conversation_id, id) ranges.
CREATE INDEX messages_conversation ON messages(conversation_id, id);

-- Per-user read state: the last message read in a conversation; only ever moves
-- forward (the UPDATE is conditional on a greater ID).
CREATE TABLE message_reads (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    last_read_message_id TEXT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

-- blocker does not want messages from blocked (either direction stops a send).
CREATE TABLE user_blocks (
    blocker_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX user_blocks_blocked ON user_blocks(blocked_id);

-- A message reported to staff; one report per reporter and message.
CREATE TABLE message_reports (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    reporter_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at BIGINT NOT NULL,
    closed_at BIGINT,
    UNIQUE (message_id, reporter_id)
);
CREATE INDEX message_reports_status ON message_reports(status, created_at);

-- X3DH: a user's published identity key and signed prekey (replaced on publish).
-- Public keys only; the server cannot decrypt anything with them.
CREATE TABLE prekey_bundles (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    identity_key BYTEA NOT NULL,
    signed_prekey_id BIGINT NOT NULL,
    signed_prekey BYTEA NOT NULL,
    signed_prekey_signature BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One-time prekeys: each row is handed out at most once, by deleting it in the same
-- statement that returns it.
CREATE TABLE one_time_prekeys (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_id BIGINT NOT NULL,
    public_key BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key_id)
);

-- F4: row-level security on the user-scoped tables. A transaction acting for a user
-- sets app.user_id first (Tx::set_context); from then on it sees and writes only the
-- conversations it takes part in, their messages, its own read state, blocks it is
-- a party to and its own reports. Staff tools and cross-user jobs run without a user:
-- the setting is empty and the policy admits every row (as in 0006_marketplace.sql).
-- Prekey tables have no policy: bundles are public material that any user may claim.
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
CREATE POLICY conversations_user ON conversations
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_low, user_high));
-- A participant reads every message of the conversation; writes only as the sender.
ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_user ON messages
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
        OR EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id
                   AND current_setting('app.user_id', true) IN (c.user_low, c.user_high)))
    WITH CHECK (COALESCE(current_setting('app.user_id', true), '') = ''
        OR (sender_id = current_setting('app.user_id', true)
            AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id
                        AND sender_id IN (c.user_low, c.user_high))));
-- Both participants' read states are visible (read receipts); each user writes only
-- their own.
ALTER TABLE message_reads ENABLE ROW LEVEL SECURITY;
CREATE POLICY message_reads_read ON message_reads FOR SELECT
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
        OR EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_id
                   AND current_setting('app.user_id', true) IN (c.user_low, c.user_high)));
CREATE POLICY message_reads_insert ON message_reads FOR INSERT
    WITH CHECK (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
CREATE POLICY message_reads_update ON message_reads FOR UPDATE
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id))
    WITH CHECK (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
-- Both parties see a block (a send checks both directions); only the blocker makes
-- or lifts it.
ALTER TABLE user_blocks ENABLE ROW LEVEL SECURITY;
CREATE POLICY user_blocks_read ON user_blocks FOR SELECT
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', blocker_id, blocked_id));
CREATE POLICY user_blocks_insert ON user_blocks FOR INSERT
    WITH CHECK (COALESCE(current_setting('app.user_id', true), '') IN ('', blocker_id));
CREATE POLICY user_blocks_delete ON user_blocks FOR DELETE
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', blocker_id));
ALTER TABLE message_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY message_reports_user ON message_reports
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', reporter_id));
