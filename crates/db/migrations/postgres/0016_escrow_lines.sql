-- Multi-line escrow and partial refunds before an outcome (issue 10).
--
-- A checkout's share of one store is ONE escrow transaction holding several items:
-- its lines live here; the transaction's amount is their sum, and item_id/quantity
-- on the transaction stay as its first line (a single-item purchase has one line).
CREATE TABLE escrow_lines (
    transaction_id TEXT NOT NULL REFERENCES escrow_transactions (id),
    line_no BIGINT NOT NULL CHECK (line_no >= 0),
    item_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL CHECK (unit_price_minor > 0),
    PRIMARY KEY (transaction_id, line_no),
    UNIQUE (transaction_id, item_id)
);
CREATE INDEX escrow_lines_item ON escrow_lines (item_id);
INSERT INTO escrow_lines (transaction_id, line_no, item_id, quantity, unit_price_minor)
    SELECT id, 0, item_id, quantity, amount_minor / quantity FROM escrow_transactions;
ALTER TABLE escrow_transactions ADD COLUMN line_count BIGINT NOT NULL DEFAULT 1
    CHECK (line_count >= 1);
-- What went back to the buyer so far, by any ledger entry (C1): while money is held
-- the escrow holds amount_minor - refunded_minor. Grows with each entry that posts to
-- the buyer's refund account, in the same database transaction; reconciliation checks
-- it against those postings. Older rows get the sum of their refund postings.
ALTER TABLE escrow_transactions ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0
    CHECK (refunded_minor >= 0);
UPDATE escrow_transactions SET refunded_minor = (
    SELECT COALESCE(SUM(p.amount_minor), 0) FROM ledger_postings p
    JOIN ledger_accounts a ON a.id = p.account_id
    WHERE a.kind = 'buyer_refund' AND p.transaction_id = escrow_transactions.id);
-- Lines belong to a transaction, so to its store (as entries and postings, 0009).
ALTER TABLE escrow_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY escrow_lines_workspace ON escrow_lines
    USING (COALESCE(current_setting('app.workspace_id', true), '') = ''
           OR EXISTS (SELECT 1 FROM escrow_transactions t
                      WHERE t.id = escrow_lines.transaction_id
                        AND t.store_id = current_setting('app.workspace_id', true)));

-- Several order lines now share their store's escrow transaction: the UNIQUE on
-- order_lines.transaction_id goes.
ALTER TABLE order_lines DROP CONSTRAINT IF EXISTS order_lines_transaction_id_key;
CREATE INDEX order_lines_transaction ON order_lines (transaction_id);

-- Refund settlement (docs/design/checkout.md): every ledger effect that returned
-- money to the buyer of a checkout order is refunded at the payment provider once,
-- recorded here under the effect's key. Refunds the settlement makes on its own
-- (a dispute decided for the buyer, a cancel) have no staff actor.
ALTER TABLE order_refunds ALTER COLUMN actor_id DROP NOT NULL;
ALTER TABLE order_refunds ADD COLUMN effect_key TEXT;
CREATE UNIQUE INDEX order_refunds_effect ON order_refunds (effect_key);
CREATE INDEX ledger_entries_created ON ledger_entries (created_at);
