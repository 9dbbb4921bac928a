-- Intents (D4, issue 9): release and cancel are requested, audited as
-- release_request / cancel_request, and carried out by `rampart worker`. The ledger
-- context owns this table's SQL. At most one pending intent of a kind per
-- transaction (the partial unique index); the worker leases an intent
-- (lease_owner, lease_until) before running it and marks it done in the same
-- database transaction as the ledger effect, whose unique effect key makes a rerun
-- after a crash a no-op.
CREATE TABLE escrow_intents (
    id TEXT PRIMARY KEY,
    transaction_id TEXT NOT NULL REFERENCES escrow_transactions (id),
    kind TEXT NOT NULL CHECK (kind IN ('release', 'cancel')),
    status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    -- The user who asked; NULL when the system asked (auto-release).
    requested_by TEXT,
    request_id TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    done_at BIGINT
);
CREATE UNIQUE INDEX escrow_intents_one_pending
    ON escrow_intents (transaction_id, kind) WHERE status = 'pending';
CREATE INDEX escrow_intents_due ON escrow_intents (status, created_at);
CREATE INDEX escrow_intents_transaction ON escrow_intents (transaction_id);
