-- Marketplace (issue 9): stores as workspaces, their members, catalog items.
-- Keep in step with the other engine's 0005 (the parity test).
-- Prices are integer minor units with an ISO 4217 code; times Unix ms.

CREATE TABLE stores (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL,
    auto_release_days BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE store_members (
    store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (store_id, user_id)
);
-- "My stores" and the membership lookup of every store-scoped request.
CREATE INDEX store_members_user ON store_members(user_id);

CREATE TABLE items (
    id TEXT PRIMARY KEY NOT NULL,
    store_id TEXT NOT NULL REFERENCES stores(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    stock BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'draft',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- The public catalog: keyset pagination on (created_at, id) over active items, all
-- stores or one store.
CREATE INDEX items_catalog ON items(status, created_at DESC, id DESC);
CREATE INDEX items_store_catalog ON items(store_id, status, created_at DESC, id DESC);

-- F4: row-level security on the workspace-scoped tables. A transaction acting in one
-- store sets app.workspace_id first (Tx::set_context); from then on only that
-- store's rows are visible or writable, even to a query that forgets its filter.
-- Reads that span stores (the public catalog, "my stores") run without a workspace:
-- the setting is empty and the policy admits every row; they filter in SQL. The
-- policies bind a role that does not own the tables (owners bypass RLS unless
-- FORCE; superusers always do): deployments connect as such a role.
ALTER TABLE stores ENABLE ROW LEVEL SECURITY;
CREATE POLICY stores_workspace ON stores
    USING (COALESCE(current_setting('app.workspace_id', true), '') IN ('', id));
ALTER TABLE store_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY store_members_workspace ON store_members
    USING (COALESCE(current_setting('app.workspace_id', true), '') IN ('', store_id));
ALTER TABLE items ENABLE ROW LEVEL SECURITY;
CREATE POLICY items_workspace ON items
    USING (COALESCE(current_setting('app.workspace_id', true), '') IN ('', store_id));
