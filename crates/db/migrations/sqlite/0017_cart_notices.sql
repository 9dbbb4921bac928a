-- Cart notices (issue 10, E1; crates/checkout owns this table's SQL): what a merge at
-- login did to the customer's cart that the customer must be told (a visitor's line
-- dropped for its other currency, a quantity capped at the line limit). One row per
-- cart; shown with the cart while the cart is still at `cart_version` (the next
-- change of the cart retires them, with no write on the change's path).
-- Keep in step with ../postgres/0017_cart_notices.sql (the parity test).
CREATE TABLE cart_notices (
    cart_id TEXT PRIMARY KEY NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
    cart_version BIGINT NOT NULL,
    notices TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
