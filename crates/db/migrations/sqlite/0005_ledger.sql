-- The ledger context (crates/ledger owns these tables' SQL): escrow transactions and a
-- double-entry ledger. No balance is stored anywhere: a balance is the SUM of an
-- account's postings, so there is no total that could drift from its entries.

-- An account is identified by its kind, owner (buyer, store, transaction or
-- 'platform') and currency.
CREATE TABLE ledger_accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL
        CHECK (kind IN ('buyer_funding', 'escrow', 'seller_payable', 'platform_fee', 'buyer_refund')),
    owner_ref TEXT NOT NULL,
    currency TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (kind, owner_ref, currency)
);

-- An escrow transaction (D3). `version` grows by one on every state change
-- (optimistic check beside the row lock). Buyer, store and item are references into
-- other contexts' tables.
CREATE TABLE escrow_transactions (
    id TEXT PRIMARY KEY,
    buyer_id TEXT NOT NULL,
    store_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    quantity BIGINT NOT NULL CHECK (quantity > 0),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    fee_bps BIGINT NOT NULL CHECK (fee_bps >= 0 AND fee_bps <= 10000),
    state TEXT NOT NULL
        CHECK (state IN ('pending_payment', 'funded', 'shipped', 'completed', 'cancelled',
                         'disputed', 'refunded', 'partially_refunded')),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX escrow_transactions_buyer ON escrow_transactions (buyer_id);
CREATE INDEX escrow_transactions_store ON escrow_transactions (store_id);

-- One entry per applied effect (transition); the UNIQUE effect key makes a replay
-- of the same effect fail instead of posting twice.
CREATE TABLE ledger_entries (
    id TEXT PRIMARY KEY,
    effect_key TEXT NOT NULL UNIQUE,
    transaction_id TEXT NOT NULL REFERENCES escrow_transactions (id),
    event TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_entries_transaction ON ledger_entries (transaction_id);

-- The legs of an entry, signed minor units; each entry's legs sum to zero per
-- currency.
CREATE TABLE ledger_postings (
    id TEXT PRIMARY KEY,
    entry_id TEXT NOT NULL REFERENCES ledger_entries (id),
    account_id TEXT NOT NULL REFERENCES ledger_accounts (id),
    transaction_id TEXT NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ledger_postings_account ON ledger_postings (account_id);
CREATE INDEX ledger_postings_entry ON ledger_postings (entry_id);
CREATE INDEX ledger_postings_transaction ON ledger_postings (transaction_id);
