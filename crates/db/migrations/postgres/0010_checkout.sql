-- Checkout (issue 10, E1–E5; crates/checkout owns these tables' SQL): carts with
-- their lines, addresses and shipping method, payment intents (provider references
-- only: no card number ever, E5), orders with one escrow transaction per store and
-- item, refunds, the webhook inbox and the Idempotency-Key store.
-- Keep in step with the other engine's 0010_checkout.sql (the parity test).
-- Times are Unix ms; IDs UUID text; money integer minor units + ISO 4217 currency.

-- A cart: a customer's (owner_user_id) or an anonymous visitor's (anon_token_hash,
-- SHA-256 hex of the cart cookie; the cookie itself is never stored). `version`
-- grows by one with every change: a client sending an older version is refused
-- (cart_version_conflict) and concurrent writers serialise on the row.
CREATE TABLE carts (
    id TEXT PRIMARY KEY NOT NULL,
    owner_user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    anon_token_hash TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'merged')),
    version BIGINT NOT NULL DEFAULT 0,
    customer_type TEXT NOT NULL DEFAULT 'consumer' CHECK (customer_type IN ('consumer', 'business')),
    company_name TEXT,
    vat_id TEXT,
    billing_address TEXT,
    shipping_address TEXT,
    shipping_method TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((owner_user_id IS NULL) <> (anon_token_hash IS NULL))
);
CREATE INDEX carts_owner ON carts(owner_user_id, status, updated_at);

-- One line per item; the unit price is the catalog's, read on the server when the
-- line was added or changed.
CREATE TABLE cart_lines (
    cart_id TEXT NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL REFERENCES items(id),
    store_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL CHECK (unit_price_minor >= 0),
    currency TEXT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (cart_id, item_id)
);

-- A payment intent at the provider, as far as Rampart knows it: the provider's ID
-- (unique per provider), the cart and customer it was made for, the amount, the
-- last status seen (a display cache that never moves backwards; completion always
-- re-reads the provider) and the masked card.
CREATE TABLE payment_intents (
    id TEXT PRIMARY KEY NOT NULL,
    provider TEXT NOT NULL,
    provider_intent_id TEXT NOT NULL,
    cart_id TEXT NOT NULL REFERENCES carts(id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    card_brand TEXT,
    card_last4 TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (provider, provider_intent_id)
);
CREATE INDEX payment_intents_cart ON payment_intents(cart_id, created_at);

-- An order: exactly one per cart and one per paid intent (the UNIQUE keys are the
-- completion's effect key).
CREATE TABLE orders (
    id TEXT PRIMARY KEY NOT NULL,
    cart_id TEXT NOT NULL UNIQUE REFERENCES carts(id),
    buyer_id TEXT NOT NULL REFERENCES users(id),
    payment_intent_id TEXT NOT NULL UNIQUE REFERENCES payment_intents(id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    refunded_minor BIGINT NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
    status TEXT NOT NULL CHECK (status IN ('paid', 'partially_refunded', 'refunded')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (refunded_minor <= amount_minor)
);
CREATE INDEX orders_buyer ON orders(buyer_id, created_at);

-- The order's lines, each linked to the escrow transaction that holds its money.
CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    item_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    unit_price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    transaction_id TEXT NOT NULL UNIQUE REFERENCES escrow_transactions(id),
    PRIMARY KEY (order_id, item_id)
);

-- Refunds of an order, numbered per order (the number is part of the provider's
-- idempotency key, so a retried refund is one refund).
CREATE TABLE order_refunds (
    id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    sequence BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    provider_refund_id TEXT NOT NULL,
    actor_id TEXT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    UNIQUE (order_id, sequence)
);

-- Webhook deliveries seen, unique per provider event: a duplicate is acknowledged
-- and ignored.
CREATE TABLE webhook_inbox (
    provider TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    outcome TEXT,
    PRIMARY KEY (provider, event_id)
);

-- Idempotency-Key (E3): one row per (scope, key) — scope is the user, or the
-- visitor's cart-cookie hash. Same route and body hash → the stored response is
-- replayed; another body → 422; in flight → 409. Pruned after 24 h by the worker.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    user_id TEXT,
    route TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('in_flight', 'done')),
    response_status BIGINT,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);

-- What the checkout rules read of items and stores (E4, store settings): item type,
-- weight, subscription-only; a store's own minimum order.
ALTER TABLE items ADD COLUMN item_type TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN weight_grams BIGINT NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN subscription_only BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stores ADD COLUMN min_order_minor BIGINT;

-- F4: row-level security on the user-owned rows (grants come from 0009's default
-- privileges). An empty app.user_id (checkout's system work: webhooks, completion,
-- refunds by staff) admits every row, as elsewhere; a set one admits only that
-- user's carts, lines, intents, orders, order lines and idempotency keys. A
-- visitor's cart has no user: only visible with no user set.
ALTER TABLE carts ENABLE ROW LEVEL SECURITY;
CREATE POLICY carts_user ON carts
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
           OR owner_user_id = current_setting('app.user_id', true));
ALTER TABLE cart_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY cart_lines_user ON cart_lines
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
           OR EXISTS (SELECT 1 FROM carts c WHERE c.id = cart_lines.cart_id
                      AND c.owner_user_id = current_setting('app.user_id', true)));
ALTER TABLE payment_intents ENABLE ROW LEVEL SECURITY;
CREATE POLICY payment_intents_user ON payment_intents
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', customer_id));
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY orders_user ON orders
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', buyer_id));
ALTER TABLE order_lines ENABLE ROW LEVEL SECURITY;
CREATE POLICY order_lines_user ON order_lines
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
           OR EXISTS (SELECT 1 FROM orders o WHERE o.id = order_lines.order_id
                      AND o.buyer_id = current_setting('app.user_id', true)));
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_user ON idempotency_keys
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
           OR user_id = current_setting('app.user_id', true));
