-- Cart writes as heap-only (HOT) updates (issue 10, benchmarks "HOT cart updates").
-- Every change of a cart moves `version` and `updated_at` on. While `updated_at` was a
-- key of `carts_owner`, no such update could be HOT: each one wrote a new entry into
-- all three of the cart's indexes. The customer's open cart is found by
-- (owner_user_id, status); the newest of the few found is picked by sorting them.
-- Room is left on each page (fillfactor) so that the new row version fits beside the
-- old one. Keep in step with ../sqlite/0019_cart_read_path.sql (the parity test).
DROP INDEX carts_owner;
CREATE INDEX carts_owner ON carts(owner_user_id, status);
ALTER TABLE carts SET (fillfactor = 75);
ALTER TABLE cart_lines SET (fillfactor = 85);

-- The catalog's generation (crates/marketplace, `checkout_facts`): moved on, by the
-- triggers below, in the transaction of every change to what a cart shows of an item
-- (its title, type, weight, subscription flag, store; its store's minimum order;
-- an item deleted or inserted), whoever makes it. A write that fires no trigger
-- (`session_replication_role = replica`, a restore with triggers disabled) is seen
-- within a minute: the memory is dropped when it is that old, whatever the generation. The checkout keeps those facts in memory and reads this one row
-- with the cart: a change committed by any process is seen by the next read. Stock,
-- price and status move no generation: they are never taken from memory.
CREATE TABLE catalog_generation (
    id BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);
CREATE FUNCTION catalog_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER items_catalog_generation
    AFTER UPDATE OF title, item_type, weight_grams, subscription_only, store_id ON items
    FOR EACH ROW
    WHEN (OLD.title IS DISTINCT FROM NEW.title OR OLD.item_type IS DISTINCT FROM NEW.item_type
          OR OLD.weight_grams IS DISTINCT FROM NEW.weight_grams
          OR OLD.subscription_only IS DISTINCT FROM NEW.subscription_only
          OR OLD.store_id IS DISTINCT FROM NEW.store_id)
    EXECUTE FUNCTION catalog_generation_bump();
-- An insert too: an item ID may come back (a restore, an upsert that deletes first).
CREATE TRIGGER items_deleted_catalog_generation AFTER DELETE ON items
    FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER items_inserted_catalog_generation AFTER INSERT ON items
    FOR EACH ROW EXECUTE FUNCTION catalog_generation_bump();
CREATE TRIGGER stores_catalog_generation AFTER UPDATE OF min_order_minor ON stores
    FOR EACH ROW WHEN (OLD.min_order_minor IS DISTINCT FROM NEW.min_order_minor)
    EXECUTE FUNCTION catalog_generation_bump();
