-- The release period is fixed on each escrow transaction at purchase (the store's
-- auto_release_days then), so a seller who shortens the store setting after shipping
-- cannot cut a buyer's window to dispute. Rows from before this migration get the
-- default period of 14 days.
ALTER TABLE escrow_transactions ADD COLUMN release_after_ms BIGINT NOT NULL DEFAULT 1209600000;
CREATE INDEX escrow_transactions_state_updated ON escrow_transactions (state, updated_at);
