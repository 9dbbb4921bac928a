-- Cart writes touch no index (issue 10; ../postgres/0019_cart_read_path.sql). Every
-- change of a cart moves `version` and `updated_at` on; while `updated_at` was a key
-- of `carts_owner`, each change rewrote that index's entry too. The customer's open
-- cart is found by (owner_user_id, status); the newest of the few found is picked by
-- sorting them.
DROP INDEX carts_owner;
CREATE INDEX carts_owner ON carts(owner_user_id, status);

-- The catalog's generation (crates/marketplace, `checkout_facts`): moved on, by the
-- triggers below, in the transaction of every change to what a cart shows of an item
-- (its title, type, weight, subscription flag, store; its store's minimum order;
-- an item deleted or inserted), whoever makes it. A write that fires no trigger is
-- seen within a minute: the memory is dropped when it is that old, whatever the
-- generation. The checkout keeps those facts in memory and reads this one row
-- with the cart: a change committed by any process is seen by the next read. Stock,
-- price and status move no generation: they are never taken from memory.
CREATE TABLE catalog_generation (
    id BIGINT PRIMARY KEY NOT NULL CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO catalog_generation (id, generation) VALUES (1, 0);
CREATE TRIGGER items_catalog_generation
    AFTER UPDATE OF title, item_type, weight_grams, subscription_only, store_id ON items
    FOR EACH ROW
    WHEN OLD.title IS NOT NEW.title OR OLD.item_type IS NOT NEW.item_type
         OR OLD.weight_grams IS NOT NEW.weight_grams
         OR OLD.subscription_only IS NOT NEW.subscription_only
         OR OLD.store_id IS NOT NEW.store_id
BEGIN
    UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER items_deleted_catalog_generation AFTER DELETE ON items
BEGIN
    UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1;
END;
-- An insert too: `INSERT OR REPLACE` deletes the old row without firing the delete
-- trigger (recursive_triggers is off), and an item ID may come back from a restore.
CREATE TRIGGER items_inserted_catalog_generation AFTER INSERT ON items
BEGIN
    UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1;
END;
CREATE TRIGGER stores_catalog_generation AFTER UPDATE OF min_order_minor ON stores
    FOR EACH ROW WHEN OLD.min_order_minor IS NOT NEW.min_order_minor
BEGIN
    UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1;
END;
