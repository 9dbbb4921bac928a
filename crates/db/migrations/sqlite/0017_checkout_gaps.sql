-- Checkout gaps (issue 10). Cart notices (E1; crates/checkout owns this table's SQL): what a merge at
-- login did to the customer's cart that the customer must be told (a visitor's line
-- dropped for its other currency, a quantity capped at the line limit). One row per
-- cart; shown with the cart while the cart is still at `cart_version` (the next
-- change of the cart retires them, with no write on the change's path).
-- Keep in step with ../postgres/0017_checkout_gaps.sql (the parity test).
CREATE TABLE cart_notices (
    cart_id TEXT PRIMARY KEY NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
    cart_version BIGINT NOT NULL,
    notices TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The webhook inbox keeps the verified body of each delivery, so one whose
-- processing was cut off (a crash between the inbox row and its outcome) is
-- processed again by the worker through the same path. `attempts` counts the
-- worker's tries (bounded); a try claims the row by moving `received_at` on.
ALTER TABLE webhook_inbox ADD COLUMN payload TEXT;
ALTER TABLE webhook_inbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX webhook_inbox_unfinished ON webhook_inbox (received_at) WHERE processed_at IS NULL;
