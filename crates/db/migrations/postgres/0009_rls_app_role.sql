-- F4, row-level security that binds (issue 9): the server connects as a role that
-- neither owns the tables nor bypasses RLS; migrations run as the owner
-- (docs/design/row-level-security.md, docs/configuration.md).
--
-- 1. The group role `rampart_app`: NOLOGIN, owns nothing, holds exactly the DML
--    privileges the server needs. Deployers create a LOGIN user that is a member of
--    it and put that user in RAMPART_DATABASE_URL. Roles are cluster-wide, so it may
--    already exist (another database of this cluster, or a concurrent migration):
--    creation tolerates that. An owner that may not create roles gets a clear error
--    telling the administrator to create the role once.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'rampart_app') THEN
        BEGIN
            CREATE ROLE rampart_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- created meanwhile by a concurrent migration
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role rampart_app does not exist and % may not create roles', current_user
                    USING HINT = 'As an administrator run: CREATE ROLE rampart_app NOLOGIN; then migrate again.';
        END;
    END IF;
END $$;

-- 2. Privileges in the schema the migrations run in (current_schema()): read and
--    write rows, nothing else (no TRUNCATE, no DDL, no REFERENCES/TRIGGER). The
--    migration bookkeeping table is only readable (the server checks that nothing is
--    pending). Tables created later by the same owner get the same grants.
DO $$
DECLARE
    s TEXT := current_schema();
    t RECORD;
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO rampart_app', s);
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = s AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations'
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.%I TO rampart_app', s, t.relname);
    END LOOP;
    IF to_regclass(format('%I._sqlx_migrations', s)) IS NOT NULL THEN
        EXECUTE format('GRANT SELECT ON %I._sqlx_migrations TO rampart_app', s);
    END IF;
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO rampart_app', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO rampart_app', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO rampart_app', s);
END $$;

-- 3. Workspace-scoped ledger rows. Same semantics as 0006: an empty
--    app.workspace_id (platform work, the reconcile job, flows not acting in a store)
--    admits every row; a set one admits only that store's rows, for reads and
--    writes (USING doubles as WITH CHECK, so an INSERT for another store fails).
ALTER TABLE escrow_transactions ENABLE ROW LEVEL SECURITY;
CREATE POLICY escrow_transactions_workspace ON escrow_transactions
    USING (COALESCE(current_setting('app.workspace_id', true), '') IN ('', store_id));
-- Entries, postings and intents (0007) belong to a transaction, so to its store.
ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_entries_workspace ON ledger_entries
    USING (COALESCE(current_setting('app.workspace_id', true), '') = ''
           OR EXISTS (SELECT 1 FROM escrow_transactions t
                      WHERE t.id = ledger_entries.transaction_id
                        AND t.store_id = current_setting('app.workspace_id', true)));
ALTER TABLE escrow_intents ENABLE ROW LEVEL SECURITY;
CREATE POLICY escrow_intents_workspace ON escrow_intents
    USING (COALESCE(current_setting('app.workspace_id', true), '') = ''
           OR EXISTS (SELECT 1 FROM escrow_transactions t
                      WHERE t.id = escrow_intents.transaction_id
                        AND t.store_id = current_setting('app.workspace_id', true)));
ALTER TABLE ledger_postings ENABLE ROW LEVEL SECURITY;
CREATE POLICY ledger_postings_workspace ON ledger_postings
    USING (COALESCE(current_setting('app.workspace_id', true), '') = ''
           OR EXISTS (SELECT 1 FROM escrow_transactions t
                      WHERE t.id = ledger_postings.transaction_id
                        AND t.store_id = current_setting('app.workspace_id', true)));

-- 4. User-scoped tables, on app.user_id: a transaction acting for one user
--    (Tx::set_context with user_id) sees and writes only that user's rows. Empty
--    (the default) admits every row, so flows that run before the user is known —
--    login by name or e-mail, a refresh or reset token looked up by its hash — work
--    unchanged. `users` itself has no policy: member lists, moderation and logins
--    read other users' public rows by design.
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY sessions_user ON sessions
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY refresh_tokens_user ON refresh_tokens
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
           OR EXISTS (SELECT 1 FROM sessions s
                      WHERE s.id = refresh_tokens.session_id
                        AND s.user_id = current_setting('app.user_id', true)));
ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
CREATE POLICY login_failures_user ON login_failures
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
CREATE POLICY password_resets_user ON password_resets
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
ALTER TABLE personal_access_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY personal_access_tokens_user ON personal_access_tokens
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
ALTER TABLE recovery_codes ENABLE ROW LEVEL SECURITY;
CREATE POLICY recovery_codes_user ON recovery_codes
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
ALTER TABLE known_devices ENABLE ROW LEVEL SECURITY;
CREATE POLICY known_devices_user ON known_devices
    USING (COALESCE(current_setting('app.user_id', true), '') IN ('', user_id));
-- A pending registration has no user yet (user_id NULL): visible only with no user set.
ALTER TABLE email_verifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY email_verifications_user ON email_verifications
    USING (COALESCE(current_setting('app.user_id', true), '') = ''
           OR user_id = current_setting('app.user_id', true));
