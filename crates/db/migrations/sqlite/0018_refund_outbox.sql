-- Refunds are decided, then paid (docs/design/checkout.md, "Refunds"): the ledger
-- effect, the refund row (`pending`) and the order's refunded total commit first;
-- the provider is called after the commit under the refund's fixed key and the row
-- becomes `succeeded` (or `failed`, permanently refused). A `pending` row whose call
-- died with its request or process is called again by the worker with the same key
-- and amount, so the provider answers the same refund and nothing is lost or doubled.
-- Rows from before this migration were paid inside their transaction: `succeeded`.
ALTER TABLE order_refunds ADD COLUMN status TEXT NOT NULL DEFAULT 'succeeded'
    CHECK (status IN ('pending', 'succeeded', 'failed'));
ALTER TABLE order_refunds ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE order_refunds ADD COLUMN last_error TEXT;
ALTER TABLE order_refunds ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX order_refunds_pending ON order_refunds (status, updated_at);
