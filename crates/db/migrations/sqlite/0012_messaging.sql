-- Private messaging (issue 11, D7; crates/messaging owns these tables' SQL).
-- Keep in step with ../postgres/0012_messaging.sql (the parity test).
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
    payload BLOB NOT NULL,
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
    identity_key BLOB NOT NULL,
    signed_prekey_id BIGINT NOT NULL,
    signed_prekey BLOB NOT NULL,
    signed_prekey_signature BLOB NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One-time prekeys: each row is handed out at most once, by deleting it in the same
-- statement that returns it.
CREATE TABLE one_time_prekeys (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key_id BIGINT NOT NULL,
    public_key BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, key_id)
);
