-- Trust and safety (issue 11, D6 and D9; crates/trust owns these tables' SQL):
-- support tickets with their message threads, and staff warnings on stores.
-- Keep in step with ../postgres/0013_trust.sql (the parity test).
-- Times are Unix ms; IDs UUID text (v7, so ordering by ID is ordering by time and a
-- total order for keyset pagination). 0010 and 0011 are reserved by other branches.

-- A ticket: its author, a subject, a status that only staff change (and an author's
-- reply moves back to open, see docs/design/trust-and-safety.md), and the staff
-- member it is assigned to, if any. updated_at moves with every reply and change.
CREATE TABLE tickets (
    id TEXT PRIMARY KEY NOT NULL,
    author_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'pending', 'resolved', 'closed')),
    assignee_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- "My tickets" (author, newest first) and the staff queue (status, oldest first).
CREATE INDEX tickets_author ON tickets(author_id, id);
CREATE INDEX tickets_queue ON tickets(status, id);
CREATE INDEX tickets_assignee ON tickets(assignee_id, id);

-- The thread: the author's and staff's messages, never edited or deleted (the rows
-- are the record of who said what). side says which side wrote it.
CREATE TABLE ticket_messages (
    id TEXT PRIMARY KEY NOT NULL,
    ticket_id TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    author_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    side TEXT NOT NULL CHECK (side IN ('author', 'staff')),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages(ticket_id, id);

-- A warning staff issue to a store; resolved once, by staff.
CREATE TABLE store_warnings (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
    issued_by TEXT NOT NULL REFERENCES users(id),
    reason TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    resolved_by TEXT REFERENCES users(id),
    created_at BIGINT NOT NULL,
    resolved_at BIGINT,
    CHECK ((status = 'open') = (resolved_by IS NULL AND resolved_at IS NULL))
);
CREATE INDEX store_warnings_store ON store_warnings(store_id, id);

-- F4: row-level security lives in ../postgres/0013_trust.sql; SQLite has none, the
-- service's SQL filters by author, ticket and store (docs/design/row-level-security.md).
