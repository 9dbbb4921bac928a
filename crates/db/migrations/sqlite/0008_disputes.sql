-- Disputes (D5, D9, issue 9): buyer or seller opens a dispute on a funded or shipped
-- escrow transaction (the ledger moves it to `disputed`, which stops auto-release),
-- both sides and staff add claims, staff resolve it. The marketplace context owns
-- these tables' SQL. Keep in step with the other engine's 0008 (the parity test).
-- Money is integer minor units with an ISO 4217 code; times Unix ms. User IDs are
-- references to identity's table, not foreign keys (as in the ledger).
CREATE TABLE disputes (
    id TEXT PRIMARY KEY NOT NULL,
    transaction_id TEXT NOT NULL REFERENCES escrow_transactions (id),
    store_id TEXT NOT NULL REFERENCES stores (id),
    buyer_id TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_by_side TEXT NOT NULL CHECK (opened_by_side IN ('buyer', 'seller')),
    reason TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    outcome TEXT CHECK (outcome IN ('release', 'refund', 'partial')),
    refund_minor BIGINT,
    currency TEXT NOT NULL,
    resolved_by TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    -- A resolved dispute has an outcome; a partial refund names its amount.
    CHECK ((status = 'open') = (outcome IS NULL)),
    CHECK (outcome IS NULL OR (outcome = 'partial') = (refund_minor IS NOT NULL))
);
-- At most one open dispute per transaction.
CREATE UNIQUE INDEX disputes_one_open ON disputes (transaction_id) WHERE status = 'open';
CREATE INDEX disputes_transaction ON disputes (transaction_id);
-- The staff queue: oldest first within a status, keyset on (created_at, id).
CREATE INDEX disputes_queue ON disputes (status, created_at, id);

CREATE TABLE dispute_claims (
    id TEXT PRIMARY KEY NOT NULL,
    dispute_id TEXT NOT NULL REFERENCES disputes (id) ON DELETE CASCADE,
    author_id TEXT NOT NULL,
    side TEXT NOT NULL CHECK (side IN ('buyer', 'seller', 'staff')),
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX dispute_claims_dispute ON dispute_claims (dispute_id, created_at);
